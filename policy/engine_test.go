package policy_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/policy"
)

// module returns a one-file policy set in package fhir.pep.
func module(body string) fstest.MapFS {
	return fstest.MapFS{"fhir/pep/decision.rego": {Data: []byte("package fhir.pep\n\n" + body + "\n")}}
}

const allowAll = `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {}}`

func mustLoad(t *testing.T, fsys fs.FS) *policy.Engine {
	t.Helper()
	e, err := policy.Load(context.Background(), fsys)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return e
}

var sampleInput = map[string]any{
	"request": map[string]any{"interaction": "read", "resource_type": "Observation", "id": "o1"},
	"patient": map[string]any{"value": "000000018", "ids": []any{"p1"}},
	"n":       "not-a-number-000000018",
}

func TestLoadErrors(t *testing.T) {
	big := strings.Repeat("x", 8<<20+1)
	tests := []struct {
		name string
		fsys fs.FS
		want error
		text string
	}{
		{name: "no policies", fsys: fstest.MapFS{"README.md": {Data: []byte("hi")}}, want: policy.ErrNoPolicies},
		{name: "only tests", fsys: fstest.MapFS{"x_test.rego": {Data: []byte("package x_test\n\ntest_a if true\n")}}, want: policy.ErrNoPolicies},
		{name: "nil fs", fsys: nil, text: "no policy file system"},
		{name: "parse error", fsys: module("decision := {"), text: "parse fhir/pep/decision.rego"},
		{name: "strict unused variable", fsys: module("decision := 1 if {\n\tx := 2\n}"), text: "compile"},
		{name: "rego v0 syntax", fsys: module("decision = 1 { true }"), text: "parse"},
		{name: "http.send not allowed", fsys: module(`decision := http.send({"method": "GET", "url": "http://x"})`), text: "http.send"},
		{name: "opa.runtime not allowed", fsys: module(`decision := opa.runtime()`), text: "opa.runtime"},
		{name: "data not an object", fsys: fstest.MapFS{
			"p.rego": {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")}, "data.json": {Data: []byte(`[1]`)},
		}, text: "must hold a JSON object"},
		{name: "data bad json", fsys: fstest.MapFS{
			"p.rego": {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")}, "data.json": {Data: []byte(`{`)},
		}, text: "parse data.json"},
		{name: "conflicting data files", fsys: fstest.MapFS{
			"p.rego":               {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")},
			"data.json":            {Data: []byte(`{"fhir": {"pep": {"x": 1}}}`)},
			"fhir/pep/data.json":   {Data: []byte(`{"x": 2}`)},
			"fhir/pep/.git/x.rego": {Data: []byte("not rego")},
		}, text: "also defined by another data file"},
		{name: "rule clashes with data", fsys: fstest.MapFS{
			"fhir/pep/p.rego":    {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")},
			"fhir/pep/data.json": {Data: []byte(`{"decision": {"allow": true}}`)},
		}, text: "conflict"},
		{name: "bucket systems mistyped", fsys: module(allowAll + "\n\nbucket_systems := \"x\""), want: policy.ErrMistyped},
		{name: "bucket systems empty", fsys: module(allowAll + "\n\nbucket_systems := []"), want: policy.ErrMistyped},
		{name: "file too large", fsys: fstest.MapFS{
			"p.rego":    {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")},
			"data.json": {Data: []byte(big)},
		}, text: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := policy.Load(context.Background(), tt.fsys)
			if err == nil {
				t.Fatalf("Load succeeded (version %s), want error", e.Version())
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.text)
			}
		})
	}
}

func TestLoadData(t *testing.T) {
	fsys := fstest.MapFS{
		"fhir/pep/p.rego": {Data: []byte(`package fhir.pep

decision := {"allow": false, "status": data.fhir.pep.cfg.status, "reasons": [data.fhir.pep.cfg.reason, data.extra.reason], "obligations": {}}
`)},
		"fhir/pep/cfg/data.json": {Data: []byte(`{"status": 418, "reason": "from_json"}`)},
		"extra/data.yaml":        {Data: []byte("reason: from_yaml\n")},
		"fhir/pep/README.md":     {Data: []byte("ignored")},
		"fhir/pep/input.json":    {Data: []byte(`{"ignored": true}`)},
		".hidden/data.json":      {Data: []byte(`not even json`)},
	}
	e := mustLoad(t, fsys)
	d, err := e.EvalInterface(context.Background(), map[string]any{})
	if err != nil {
		t.Fatalf("Eval: %v", err)
	}
	want := policy.Decision{Allow: false, Status: 418, Reasons: []string{"from_json", "from_yaml"}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("decision = %+v, want %+v", d, want)
	}
	if got := e.BucketSystems(); got != nil {
		t.Errorf("BucketSystems() = %v, want nil", got)
	}
}

func TestBucketSystems(t *testing.T) {
	e := mustLoad(t, module(allowAll+"\n\nbucket_systems := [\"b\", \"a\"]"))
	got := e.BucketSystems()
	if !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Fatalf("BucketSystems() = %v", got)
	}
	got[0] = "changed"
	if e.BucketSystems()[0] != "b" {
		t.Fatal("BucketSystems() exposes the engine's slice")
	}
	defaults := loadDefaults(t)
	if got := defaults.BucketSystems(); !reflect.DeepEqual(got, []string{ilBuckets, seedBuckets}) {
		t.Fatalf("default BucketSystems() = %v", got)
	}
}

func TestVersion(t *testing.T) {
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"fhir/pep/p.rego":      {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")},
			"fhir/pep/data.json":   {Data: []byte(`{"x": 1}`)},
			"fhir/pep/p_test.rego": {Data: []byte("package fhir.pep_test\n\ntest_a if true\n")},
		}
	}
	v0 := mustLoad(t, base()).Version()
	if len(v0) != 64 || strings.Trim(v0, "0123456789abcdef") != "" {
		t.Fatalf("Version() = %q, want 64 hex digits", v0)
	}
	if again := mustLoad(t, base()).Version(); again != v0 {
		t.Fatalf("Version() not deterministic: %s vs %s", again, v0)
	}

	tests := []struct {
		name   string
		change func(fstest.MapFS)
		same   bool
	}{
		{name: "policy content", change: func(m fstest.MapFS) {
			m["fhir/pep/p.rego"] = &fstest.MapFile{Data: []byte("package fhir.pep\n\n" + allowAll + "\n\ny := 1\n")}
		}},
		{name: "data content", change: func(m fstest.MapFS) { m["fhir/pep/data.json"] = &fstest.MapFile{Data: []byte(`{"x": 2}`)} }},
		{name: "file renamed", change: func(m fstest.MapFS) {
			m["fhir/pep/q.rego"] = m["fhir/pep/p.rego"]
			delete(m, "fhir/pep/p.rego")
		}},
		{name: "test file changed", same: true, change: func(m fstest.MapFS) {
			m["fhir/pep/p_test.rego"] = &fstest.MapFile{Data: []byte("package fhir.pep_test\n\ntest_b if true\n")}
		}},
		{name: "readme added", same: true, change: func(m fstest.MapFS) { m["README.md"] = &fstest.MapFile{Data: []byte("x")} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.change(m)
			v := mustLoad(t, m).Version()
			if (v == v0) != tt.same {
				t.Fatalf("version %s vs %s, same = %v, want same = %v", v, v0, v == v0, tt.same)
			}
		})
	}
}

func TestEvalDecoding(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		input  map[string]any
		want   error // nil: the decision below
		wantD  policy.Decision
	}{
		{
			name:   "allow",
			policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "subject", "value": "Patient/p1"}], "read_as_search": true, "empty_result": false, "response": {"types": {"Observation": ["s|c"], "*": ["s|d"]}}}}`,
			wantD: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				SearchParams: []policy.SearchParam{{Name: "subject", Value: "Patient/p1"}},
				ReadAsSearch: true,
				Response:     policy.Response{Types: map[string][]string{"Observation": {"s|c"}, "*": {"s|d"}}},
			}},
		},
		{
			name:   "deny with set of reasons",
			policy: "reasons contains \"b\"\n\nreasons contains \"a\"\n\ndecision := {\"allow\": false, \"status\": 403, \"reasons\": reasons}",
			wantD:  policy.Decision{Allow: false, Status: 403, Reasons: []string{"a", "b"}},
		},
		{
			name:   "batch entries",
			policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"entries": [{"search_params": [{"name": "a", "value": "b"}]}, {}]}}`,
			wantD: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				Entries: []policy.Obligations{{SearchParams: []policy.SearchParam{{Name: "a", Value: "b"}}}, {}},
			}},
		},
		{name: "undefined", policy: `decision := {"allow": true, "status": 200, "reasons": []} if input.never`, want: policy.ErrUndefined},
		{name: "no decision rule", policy: `allow := true`, want: policy.ErrUndefined},
		{name: "not an object", policy: `decision := true`, want: policy.ErrMistyped},
		{name: "allow not bool", policy: `decision := {"allow": "true", "status": 200, "reasons": []}`, want: policy.ErrMistyped},
		{name: "allow missing", policy: `decision := {"status": 200, "reasons": []}`, want: policy.ErrMistyped},
		{name: "status missing", policy: `decision := {"allow": false, "reasons": []}`, want: policy.ErrMistyped},
		{name: "status string", policy: `decision := {"allow": false, "status": "403", "reasons": []}`, want: policy.ErrMistyped},
		{name: "status fraction", policy: `decision := {"allow": false, "status": 403.5, "reasons": []}`, want: policy.ErrMistyped},
		{name: "status out of range", policy: `decision := {"allow": false, "status": 700, "reasons": []}`, want: policy.ErrMistyped},
		{name: "allow with error status", policy: `decision := {"allow": true, "status": 403, "reasons": []}`, want: policy.ErrMistyped},
		{name: "deny with ok status", policy: `decision := {"allow": false, "status": 200, "reasons": []}`, want: policy.ErrMistyped},
		{name: "reasons missing", policy: `decision := {"allow": false, "status": 403}`, want: policy.ErrMistyped},
		{name: "reasons not strings", policy: `decision := {"allow": false, "status": 403, "reasons": [1]}`, want: policy.ErrMistyped},
		{name: "reasons empty string", policy: `decision := {"allow": false, "status": 403, "reasons": [""]}`, want: policy.ErrMistyped},
		{name: "unknown decision key", policy: `decision := {"allow": true, "status": 200, "reasons": [], "debug": 1}`, want: policy.ErrMistyped},
		{name: "obligations not object", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": []}`, want: policy.ErrMistyped},
		{name: "unknown obligation", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"filter": "x"}}`, want: policy.ErrMistyped},
		{name: "search params not array", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": {"name": "a", "value": "b"}}}`, want: policy.ErrMistyped},
		{name: "search param empty value", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "subject", "value": ""}]}}`, want: policy.ErrMistyped},
		{name: "search param no name", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"value": "x"}]}}`, want: policy.ErrMistyped},
		{name: "search param extra key", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "a", "value": "b", "op": "or"}]}}`, want: policy.ErrMistyped},
		{name: "read_as_search not bool", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"read_as_search": 1}}`, want: policy.ErrMistyped},
		{name: "empty_result not bool", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"empty_result": "yes"}}`, want: policy.ErrMistyped},
		{name: "response not object", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"response": []}}`, want: policy.ErrMistyped},
		{name: "response unknown key", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"response": {"buckets": []}}}`, want: policy.ErrMistyped},
		{name: "response types not object", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"response": {"types": []}}}`, want: policy.ErrMistyped},
		{name: "response bucket not string", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"response": {"types": {"Observation": [1]}}}}`, want: policy.ErrMistyped},
		{name: "response type empty", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"response": {"types": {"": ["a|b"]}}}}`, want: policy.ErrMistyped},
		{name: "entries not array", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"entries": {}}}`, want: policy.ErrMistyped},
		{name: "nested entries", policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"entries": [{"entries": []}]}}`, want: policy.ErrMistyped},
		{
			name:   "conflicting values",
			policy: "decision := {\"allow\": true, \"status\": 200, \"reasons\": []} if input.request\n\ndecision := {\"allow\": false, \"status\": 403, \"reasons\": []} if input.patient",
			input:  sampleInput,
			want:   policy.ErrEval,
		},
		{
			name:   "builtin error",
			policy: `decision := {"allow": true, "status": to_number(input.n), "reasons": []}`,
			input:  sampleInput,
			want:   policy.ErrEval,
		},
		{
			name:   "builtin type error",
			policy: `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "x", "value": concat(",", input.list)}]}}`,
			input:  map[string]any{"list": []any{1, "000000018"}},
			want:   policy.ErrEval,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustLoad(t, module(tt.policy))
			input := tt.input
			if input == nil {
				input = map[string]any{}
			}
			d, err := e.EvalInterface(context.Background(), input)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if d.Allow || d.Status != 500 || !reflect.DeepEqual(d.Reasons, []string{policy.ReasonPolicyError}) {
					t.Fatalf("decision with error = %+v, want deny 500 policy_error", d)
				}
				if strings.Contains(err.Error(), "000000018") {
					t.Fatalf("error %q reveals an input value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(d, tt.wantD) {
				t.Fatalf("decision = %+v, want %+v", d, tt.wantD)
			}
		})
	}
}

func TestEvalErrorDetails(t *testing.T) {
	e := mustLoad(t, module("decision := {\"allow\": true, \"status\": 200, \"reasons\": []} if input.request\n\ndecision := {\"allow\": false, \"status\": 403, \"reasons\": []} if input.patient"))
	_, err := e.EvalInterface(context.Background(), sampleInput)
	var ee *policy.EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %T %v, want *policy.EvalError", err, err)
	}
	if ee.Code != "eval_conflict_error" {
		t.Errorf("Code = %q, want eval_conflict_error", ee.Code)
	}
	if !strings.HasPrefix(ee.Location, "fhir/pep/decision.rego:") {
		t.Errorf("Location = %q, want fhir/pep/decision.rego:<row>", ee.Location)
	}
}

func TestEvalCancelled(t *testing.T) {
	e := loadDefaults(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := e.Eval(ctx, typicalSearch(t).Value())
	if !errors.Is(err, policy.ErrEval) || d.Allow {
		t.Fatalf("Eval(cancelled) = %+v, %v; want deny with ErrEval", d, err)
	}
}

func TestEvalNilInput(t *testing.T) {
	e := loadDefaults(t)
	d, err := e.Eval(context.Background(), nil)
	if !errors.Is(err, policy.ErrInput) {
		t.Fatalf("Eval(nil) err = %v, want ErrInput", err)
	}
	if d.Allow || d.Status != 500 || !reflect.DeepEqual(d.Reasons, []string{policy.ReasonPolicyError}) {
		t.Fatalf("Eval(nil) = %+v, want deny 500 policy_error", d)
	}
}

func TestEvalInterfaceBadInput(t *testing.T) {
	e := mustLoad(t, module(allowAll))
	d, err := e.EvalInterface(context.Background(), map[string]any{"f": func() {}})
	if !errors.Is(err, policy.ErrEval) || d.Allow {
		t.Fatalf("EvalInterface(func) = %+v, %v; want deny with ErrEval", d, err)
	}
}

func TestEvalParsedInput(t *testing.T) {
	e := mustLoad(t, module(`decision := {"allow": false, "status": 403, "reasons": [input.request.id]}`))
	input := ast.MustParseTerm(`{"request": {"id": "abc"}}`).Value
	d, err := e.Eval(context.Background(), input)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Reasons, []string{"abc"}) {
		t.Fatalf("reasons = %v", d.Reasons)
	}
}

func TestRunTests(t *testing.T) {
	fsys := fstest.MapFS{
		"fhir/pep/p.rego": {Data: []byte("package fhir.pep\n\n" + allowAll + "\n\nhalf(x) := x / 2\n")},
		"fhir/pep/p_test.rego": {Data: []byte(`package fhir.pep_test

import data.fhir.pep

test_allows if pep.decision.allow

test_fails if pep.decision.status == 403

test_builtin_error if to_number("x") == 1

todo_test_later if false
`)},
	}
	var out bytes.Buffer
	passed, failed, err := policy.RunTests(context.Background(), fsys, &out, true)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if passed != 1 || failed != 2 {
		t.Fatalf("passed, failed = %d, %d; want 1, 2\n%s", passed, failed, out.String())
	}
	for _, want := range []string{"test_allows", "test_fails", "FAIL", "SKIPPED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTestsCompileError(t *testing.T) {
	fsys := fstest.MapFS{
		"p.rego":      {Data: []byte("package fhir.pep\n\n" + allowAll + "\n")},
		"p_test.rego": {Data: []byte("package fhir.pep_test\n\ntest_x if {\n\tunused := 1\n\ttrue\n}\n")},
	}
	_, _, err := policy.RunTests(context.Background(), fsys, &bytes.Buffer{}, false)
	if err == nil || !strings.Contains(err.Error(), "unused") {
		t.Fatalf("RunTests err = %v, want strict-mode unused variable error", err)
	}
}

// BenchmarkEvalMinimalPolicy is OPA's own floor on this machine: a constant
// decision with one input-derived search parameter, decoded the same way.
func BenchmarkEvalMinimalPolicy(b *testing.B) {
	fsys := module(`decision := {"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "subject", "value": concat("/", ["Patient", input.patient.ids[0]])}]}}`)
	e, err := policy.Load(context.Background(), fsys)
	if err != nil {
		b.Fatal(err)
	}
	input := typicalSearch(b).Value()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(ctx, input); err != nil {
			b.Fatal(err)
		}
	}
}

// errAfterCtx is a context that reports itself cancelled after its Err has
// been asked n times: a cancellation that arrives during an evaluation,
// without a clock or a goroutine.
type errAfterCtx struct {
	context.Context
	n int
}

func (c *errAfterCtx) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestEvalCancelledDuringEvaluation: the evaluator asks the context before
// every expression (engine.go, ctxCancel), so a request cancelled while its
// policy runs stops with a cancellation error, not after the whole query.
func TestEvalCancelledDuringEvaluation(t *testing.T) {
	e := mustLoad(t, module(`decision := {"allow": true, "status": 200, "reasons": [], "n": count([x | some x in numbers.range(1, 1000000); x > 0])}`))
	ctx := &errAfterCtx{Context: context.Background(), n: 50}
	d, err := e.Eval(ctx, ast.MustParseTerm(`{}`).Value)
	var ee *policy.EvalError
	if !errors.As(err, &ee) || ee.Code != "eval_cancel_error" || d.Allow {
		t.Fatalf("Eval(cancelled during evaluation) = %+v, %v; want deny with eval_cancel_error", d, err)
	}
	if ctx.n > 0 {
		t.Fatalf("the context was asked %d times fewer than it allows", ctx.n)
	}
}
