package policy

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/smart"
)

func grantTestInput(t *testing.T, target, scopes string, baskets []Basket) *Input {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	r, err := fhir.ParseRequest("GET", path, query, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Input{
		Request: r,
		Scopes:  smart.Parse(scopes),
		Patient: Patient{System: "s", Value: "v", IDs: []string{"pat-1"}},
		Baskets: baskets,
	}
}

const grantLab = "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests"

// TestGrantKept checks that one grant serves every request of one kind with
// one scope set and baskets claim, and that each of those parts makes a new
// grant.
func TestGrantKept(t *testing.T) {
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	if e.grants == nil {
		t.Fatal("default policies: no grant path")
	}
	steps := []struct {
		name, target, scopes string
		baskets              []Basket
		want                 int
	}{
		{"first read", "/Observation/obs-1", grantLab, nil, 1},
		{"another id", "/Observation/obs-2", grantLab, nil, 1},
		{"another vread id", "/Observation/obs-3/_history/1", grantLab, nil, 2},
		{"search with parameters", "/Observation?code=1", grantLab, nil, 3},
		{"search, other parameters", "/Observation?category=x", grantLab, nil, 3},
		{"other type", "/Condition/c-1", grantLab, nil, 4},
		{"other scopes", "/Observation/obs-1", grantLab + " patient/Patient.rs", nil, 5},
		{"empty baskets", "/Observation/obs-1", grantLab, []Basket{}, 6},
		{"a basket", "/Observation/obs-1", grantLab, []Basket{{System: "x", Code: "y"}}, 7},
		{"its depth", "/Observation/obs-1", grantLab, []Basket{{System: "x", Code: "y", HistoricalDepth: "2020-01-01"}}, 8},
		{"$everything", "/Patient/pat-1/$everything", grantLab, nil, 9},
		{"$everything again", "/Patient/pat-2/$everything", grantLab, nil, 9},
	}
	patients := []struct {
		name    string
		patient Patient
		want    int
	}{
		{"same patient", Patient{System: "s", Value: "v", IDs: []string{"pat-1"}}, 9},
		{"other ids", Patient{System: "s", Value: "v", IDs: []string{"pat-1", "pat-2"}}, 10},
		{"no data", Patient{System: "s", Value: "v", IDs: []string{}}, 11},
		{"unresolved", Patient{System: "s", Value: "v"}, 12},
		{"other value", Patient{System: "s", Value: "w"}, 13},
		{"other system", Patient{System: "t", Value: "w"}, 14},
	}
	for _, s := range steps {
		in := grantTestInput(t, s.target, s.scopes, s.baskets)
		want, err := e.Eval(context.Background(), in.Value())
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.EvalInput(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: with grant %+v, without %+v", s.name, got, want)
		}
		if n := e.grants.cache.len(); n != s.want {
			t.Errorf("%s: %d grants kept, want %d", s.name, n, s.want)
		}
	}
	for _, p := range patients {
		in := grantTestInput(t, "/Patient/pat-1/$everything", grantLab, nil)
		in.Patient = p.patient
		want, err := e.Eval(context.Background(), in.Value())
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.EvalInput(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: with grant %+v, without %+v", p.name, got, want)
		}
		if n := e.grants.cache.len(); n != p.want {
			t.Errorf("%s: %d grants kept, want %d", p.name, n, p.want)
		}
	}
}

// TestGrantInputFields pins what the grant query may read: a rule of
// scope_grant that reads anything else sees it undefined.
func TestGrantInputFields(t *testing.T) {
	in := grantTestInput(t, "/Patient/pat-1/$everything?x=1", grantLab, []Basket{{System: "a", Code: "b"}})
	var b builder
	obj := grantInput(&b, in, in.tokenTerms(&b)).(ast.Object)
	var keys []string
	for _, k := range obj.Keys() {
		keys = append(keys, string(k.Value.(ast.String)))
	}
	slices.Sort(keys)
	if want := []string{"baskets", "patient", "request", "scope_index", "scopes"}; !slices.Equal(keys, want) {
		t.Errorf("grant input keys %v, want %v", keys, want)
	}
	req := obj.Get(keyRequest).Value.(ast.Object)
	keys = keys[:0]
	for _, k := range req.Keys() {
		keys = append(keys, string(k.Value.(ast.String)))
	}
	slices.Sort(keys)
	if want := []string{"interaction", "operation", "resource_type"}; !slices.Equal(keys, want) {
		t.Errorf("grant input request keys %v, want %v", keys, want)
	}
	in.Baskets = nil
	if grantInput(&b, in, in.tokenTerms(&b)).(ast.Object).Get(keyBaskets) != nil {
		t.Error("no baskets claim: input.baskets must stay absent")
	}
}

// TestGrantPathOff: without a scope_grant rule, or with a built-in whose
// result depends on more than its arguments, nothing is kept and EvalInput
// evaluates the decision alone.
func TestGrantPathOff(t *testing.T) {
	const decision = `decision := {"allow": true, "status": 200, "reasons": [], "obligations": {}}`
	for name, body := range map[string]string{
		"no scope_grant": decision,
		"clock":          decision + "\nscope_grant := {\"t\": time.now_ns()}",
		"random":         decision + "\nscope_grant := {\"t\": rand.intn(\"x\", 10)}",
		"nested call":    decision + "\nscope_grant := {\"t\": [x | x := time.now_ns()]}",
	} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{"p.rego": {Data: []byte("package fhir.pep\n\n" + body + "\n")}}
			e, err := Load(context.Background(), fsys)
			if err != nil {
				t.Fatal(err)
			}
			if e.grants != nil {
				t.Fatal("grant path on")
			}
			d, err := e.EvalInput(context.Background(), grantTestInput(t, "/Observation/obs-1", grantLab, nil))
			if err != nil || !d.Allow {
				t.Fatalf("EvalInput: %+v %v", d, err)
			}
		})
	}
	t.Run("deterministic scope_grant", func(t *testing.T) {
		fsys := fstest.MapFS{"p.rego": {Data: []byte("package fhir.pep\n\n" + decision + "\nscope_grant := {\"n\": count(input.scopes)}\n")}}
		e, err := Load(context.Background(), fsys)
		if err != nil {
			t.Fatal(err)
		}
		if e.grants == nil {
			t.Fatal("grant path off")
		}
	})
}

// TestGrantNotObject: a scope_grant that is not an object is never kept
// and never sent; the decision is evaluated without it.
func TestGrantNotObject(t *testing.T) {
	fsys := fstest.MapFS{"p.rego": {Data: []byte(`package fhir.pep

scope_grant := [1]

decision := {"allow": true, "status": 200, "reasons": [], "obligations": {}} if not input.grant
`)}}
	e, err := Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.EvalInput(context.Background(), grantTestInput(t, "/Observation/obs-1", grantLab, nil))
	if err != nil || !d.Allow {
		t.Fatalf("EvalInput: %+v %v", d, err)
	}
	if n := e.grants.cache.len(); n != 0 {
		t.Errorf("%d grants kept", n)
	}
}

// TestGrantBatchNotKept: a batch's entries each have their own kind, so a
// batch is evaluated without a grant.
func TestGrantBatchNotKept(t *testing.T) {
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Observation/obs-1"}}]}`)
	r, err := fhir.ParseRequest("POST", "", "", map[string][]string{"Content-Type": {"application/fhir+json"}}, body)
	if err != nil {
		t.Fatal(err)
	}
	entry := grantTestInput(t, "/Observation/obs-1", grantLab, nil).Request
	in := &Input{Request: r, Entries: []*fhir.Request{entry}, Scopes: smart.Parse(grantLab),
		Patient: Patient{System: "s", Value: "v", IDs: []string{"pat-1"}}}
	d, err := e.EvalInput(context.Background(), in)
	if err != nil || !d.Allow || len(d.Obligations.Entries) != 1 {
		t.Fatalf("EvalInput: %+v %v", d, err)
	}
	if n := e.grants.cache.len(); n != 0 {
		t.Errorf("%d grants kept for a batch", n)
	}
}

func TestTermCacheEvicts(t *testing.T) {
	c := newKeptCache[*ast.Term](2)
	c.put("a", ast.IntNumberTerm(1))
	c.put("b", ast.IntNumberTerm(2))
	if c.get([]byte("a")) == nil { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", ast.IntNumberTerm(3))
	if c.get([]byte("b")) != nil {
		t.Error("b kept beyond the bound")
	}
	if c.get([]byte("a")) == nil || c.get([]byte("c")) == nil {
		t.Error("recent entries evicted")
	}
	c.put("a", ast.IntNumberTerm(9))
	if v := c.get([]byte("a")).Value.Compare(ast.Number("1")); v != 0 {
		t.Error("a second put replaced a kept term")
	}
}

// TestEvalInputConcurrent shares kept grants and scope terms between
// goroutines (run with -race): every decision must equal the one evaluated
// without a kept grant.
func TestEvalInputConcurrent(t *testing.T) {
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"/Observation/obs-1", "/Observation?code=1", "/Patient/pat-1", "/Patient/pat-1/Observation", "/Condition/c-1"}
	want := make([]Decision, len(targets))
	for i, target := range targets {
		if want[i], err = e.Eval(context.Background(), grantTestInput(t, target, grantLab, nil).Value()); err != nil {
			t.Fatal(err)
		}
	}
	inputs := make([]*Input, len(targets))
	for i, target := range targets {
		inputs[i] = grantTestInput(t, target, grantLab, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 30 {
				i := (g + n) % len(targets)
				got, err := e.EvalInput(context.Background(), inputs[i])
				if err != nil || !reflect.DeepEqual(got, want[i]) {
					errs <- targets[i]
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for target := range errs {
		t.Errorf("%s: decision differs from the one without a kept grant", target)
	}
}

// TestKeptTokenTermsMatchInput: the input parts a kept grant holds
// (scopes, scope_index, patient, baskets) are exactly what Value renders
// for every later request the grant serves, across patients and baskets
// claims that differ only in nil versus empty, so that a grant kept for one
// token never lends its parts to another.
func TestKeptTokenTermsMatchInput(t *testing.T) {
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	patients := []Patient{
		{System: "s", Value: "v", IDs: []string{"pat-1"}},
		{System: "s", Value: "v", IDs: []string{"pat-1", "pat-2"}},
		{System: "s", Value: "v", IDs: []string{}},
		{System: "s", Value: "v"},
		{Value: "v", IDs: []string{"pat-1"}},
		{},
	}
	baskets := [][]Basket{nil, {}, {{System: "a", Code: "b"}}, {{System: "a", Code: "b", HistoricalDepth: "2024-01-01"}}}
	scopes := []string{grantLab, grantLab + " patient/Patient.rs", ""}
	for _, target := range []string{"/Observation/obs-1", "/Observation/obs-2", "/Observation?code=1", "/Patient/pat-1"} {
		for _, s := range scopes {
			for _, p := range patients {
				for _, bs := range baskets {
					in := grantTestInput(t, target, s, bs)
					in.Patient = p
					kg := e.grants.grantFor(ctx, in)
					if kg == nil {
						t.Fatalf("%s %q %+v %v: no grant", target, s, p, bs)
					}
					var b builder
					got := in.valueWith(&b, allInputReads, kg.tokens, kg.term)
					want := in.Value().(ast.Object)
					want.Insert(keyGrant, kg.term)
					if got.Compare(want) != 0 {
						t.Fatalf("%s %q %+v %v: with the kept parts\n%v\nrendered\n%v", target, s, p, bs, got, want)
					}
				}
			}
		}
	}
}
