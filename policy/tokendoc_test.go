package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
)

// TestInputTokenIsWhatPCMSent is the differential test of input.token
// through the policy input: for every example answer of the national PCM
// (introspection/testdata/national) and the benchmark's answer, the token
// the policy gets from introspection.Claims equals ast.InterfaceToValue of
// the answer decoded with UseNumber, as it was when the decoded map was
// the input.
func TestInputTokenIsWhatPCMSent(t *testing.T) {
	files, err := filepath.Glob("../introspection/testdata/national/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	const thumbprint = `"aU1xZ3dXcFdCdDJzQzlOU0t0N0pVOXhHdWJUcHZJbW8"`
	// The benchmark's placeholder thumbprint is not one introspection
	// accepts.
	answers := map[string][]byte{"bench": bytes.Replace([]byte(benchToken), []byte(`"thumb"`), []byte(thumbprint), 1)}
	placeholder := regexp.MustCompile(`"<[^"]*>"`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// cnf placeholders become a well-formed thumbprint.
		answers[filepath.Base(f)] = placeholder.ReplaceAll(b, []byte(thumbprint))
	}
	for name, data := range answers {
		t.Run(name, func(t *testing.T) {
			claims, err := introspection.DecodeClaims(data)
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var raw map[string]any
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(raw)
			if err != nil {
				t.Fatal(err)
			}
			in := &policy.Input{Claims: claims}
			v, ok := in.Value().(ast.Object)
			if !ok {
				t.Fatal("no input")
			}
			got := v.Get(ast.StringTerm("token"))
			// Compare the documents as JSON text too: Compare treats 1 and
			// 1.0 alike, the policy's json.marshal does not.
			if got == nil || got.Value.Compare(want) != 0 || jsonText(t, got.Value) != jsonText(t, want) {
				t.Fatalf("input.token\n got %v\nwant %v", got, want)
			}
		})
	}
}

// jsonText is the document as JSON with sorted members, numbers as their
// text.
func jsonText(t *testing.T, v ast.Value) string {
	t.Helper()
	x, err := ast.JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claimsInput is typicalRead with the token as the handler passes it:
// introspection.Claims, keyed by its digest.
func claimsInput(tb testing.TB) *policy.Input {
	tb.Helper()
	claims, err := introspection.DecodeClaims(bytes.Replace([]byte(benchToken), []byte(`"thumb"`),
		[]byte(`"aU1xZ3dXcFdCdDJzQzlOU0t0N0pVOXhHdWJUcHZJbW8"`), 1))
	if err != nil {
		tb.Fatal(err)
	}
	in := typicalRead(tb)
	in.Token, in.Claims = nil, claims
	return in
}

// BenchmarkEvalCachedRead is a repeated read through a cached engine with
// the token as a decoded map (keyed by encoding it on every request) and
// as introspection.Claims (keyed by its digest): the cost of a cached
// decision on the request path.
func BenchmarkEvalCachedRead(b *testing.B) {
	for name, in := range map[string]*policy.Input{"map": typicalRead(b), "claims": claimsInput(b)} {
		b.Run(name, func(b *testing.B) {
			e, err := policy.Load(context.Background(), policies.FS(), policy.WithDecisionCache(1024))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if d, err := e.EvalInput(ctx, in); err != nil || !d.Allow {
				b.Fatalf("precondition: %+v %v", d, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.EvalInput(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInputValueClaims builds the whole input document of a read
// with the token rendered from introspection.Claims (a decision-cache
// miss), next to the map token.
func BenchmarkInputValueClaims(b *testing.B) {
	for name, in := range map[string]*policy.Input{"map": typicalRead(b), "claims": claimsInput(b)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if in.Value() == nil {
					b.Fatal("no input")
				}
			}
		})
	}
}

// TestEvalClaimsConcurrently evaluates, in parallel and without the
// decision cache, inputs whose tokens share one interned profile and
// fhirContext shape: the shared terms are read by every evaluation and
// must never be written (run with -race).
func TestEvalClaimsConcurrently(t *testing.T) {
	e, err := policy.Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			data := bytes.Replace([]byte(benchToken), []byte(`"thumb"`), []byte(`"aU1xZ3dXcFdCdDJzQzlOU0t0N0pVOXhHdWJUcHZJbW8"`), 1)
			data = bytes.Replace(data, []byte(`"fhirContext": []`), []byte(`"fhirContext": [{"reference": "Consent/c`+string(rune('0'+w))+`", "type": "Consent"}]`), 1)
			claims, err := introspection.DecodeClaims(data)
			if err != nil {
				errs <- err
				return
			}
			in := typicalRead(t)
			in.Token, in.Claims = nil, claims
			for range 20 {
				if d, err := e.EvalInput(context.Background(), in); err != nil || !d.Allow {
					errs <- fmt.Errorf("decision %+v, %v", d, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
