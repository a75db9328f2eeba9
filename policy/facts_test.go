package policy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policy"
)

// factsQuery works out input.request.facts of the request and of each
// batch entry as the Rego test fixtures define them (with_facts in
// policies/fhir/pep/fixtures_test.rego): the policy's helper rules
// json_format, valid_id and param_facts_known as they were before Go took
// the facts over. Each is evaluated on the request Go rendered, without
// its facts, so that the definitions see exactly the fields Go sent.
const factsQuery = `x := [data.fhir.pep_test.with_facts(object.remove(r, ["facts"])).facts |
	some r in array.concat([input.request], [e | some e in object.get(input.request, "entries", []); e != null])
]`

func factsEval(tb testing.TB) rego.PreparedEvalQuery {
	tb.Helper()
	opts := append(policyModules(tb), rego.Query(factsQuery), rego.StrictBuiltinErrors(true))
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return pq
}

// goFacts is request.facts of the request and of each non-null entry, as
// Go rendered them.
func goFacts(tb testing.TB, v ast.Value) *ast.Array {
	tb.Helper()
	keyFacts := ast.StringTerm("facts")
	req, ok := v.(ast.Object).Get(ast.StringTerm("request")).Value.(ast.Object)
	if !ok {
		tb.Fatalf("no request object in %v", v)
	}
	out := ast.NewArray(req.Get(keyFacts))
	if entries := req.Get(ast.StringTerm("entries")); entries != nil {
		entries.Value.(*ast.Array).Foreach(func(e *ast.Term) {
			if obj, ok := e.Value.(ast.Object); ok {
				out = out.Append(obj.Get(keyFacts))
			}
		})
	}
	return out
}

// checkFacts fails when Go's facts for r (and its entries) differ from the
// fixtures' definitions.
func checkFacts(tb testing.TB, pq rego.PreparedEvalQuery, r *fhir.Request, entries []*fhir.Request) {
	tb.Helper()
	in := &policy.Input{Request: r, Entries: entries}
	v := in.Value()
	rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(v))
	if err != nil || len(rs) != 1 {
		tb.Fatalf("eval: %v %v", rs, err)
	}
	want, err := ast.InterfaceToValue(rs[0].Bindings["x"])
	if err != nil {
		tb.Fatal(err)
	}
	if got := goFacts(tb, v); got.Compare(want) != 0 {
		tb.Fatalf("Go's request.facts\n%v\nthe policy's definitions say\n%v", got, want)
	}
}

// TestFactsMatchPolicy: on every request of the golden corpus (batch
// entries included) and on requests the parser never produces, Go's facts
// are what the policy's old helper rules computed.
func TestFactsMatchPolicy(t *testing.T) {
	pq := factsEval(t)
	t.Run("golden corpus", func(t *testing.T) {
		for _, gr := range goldenRequests {
			r, entries := gr.parse(t)
			if r == nil {
				continue
			}
			checkFacts(t, pq, r, entries)
		}
	})
	tests := []struct {
		name string
		r    *fhir.Request
	}{
		{"read", &fhir.Request{Method: "GET", Interaction: fhir.InteractionRead, ResourceType: "Observation", ID: "obs-1"}},
		{"read without id", &fhir.Request{Method: "GET", Interaction: fhir.InteractionRead, ResourceType: "Observation"}},
		{"xml", &fhir.Request{Method: "GET", Interaction: fhir.InteractionRead, ResourceType: "Observation", ID: "x", WantsXML: true}},
		{"xml search", &fhir.Request{Method: "GET", Interaction: fhir.InteractionSearchType, ResourceType: "Observation", WantsXML: true,
			Params: []fhir.Param{{Key: "_format", Name: "_format", Raw: "xml", Values: []string{"xml"}}}}},
		{"odd id", &fhir.Request{Method: "GET", Interaction: fhir.InteractionRead, ResourceType: "Observation", ID: " "}},
		{"no interaction", &fhir.Request{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkFacts(t, pq, tt.r, nil) })
	}
}

// FuzzRequestFacts: for any request the parser accepts, with any id
// forced in afterwards (the facts must hold for any Request, not only
// parsed ones), Go's facts are what the policy's old helper rules compute.
func FuzzRequestFacts(f *testing.F) {
	for _, seed := range []struct {
		method, target, accept, id string
		forceID                    bool
	}{
		{"GET", "/Observation/obs-1", "", "", false},
		{"GET", "/Observation/obs-1/_history/2", "application/fhir+xml", "", false},
		{"GET", "/Observation?_format=xml&code=1", "", "", false},
		{"GET", "/Observation?_format=application/fhir%2Bjson", "application/xml", "", false},
		{"GET", "/Observation?subject.name=x&_has:Observation:patient:code=1&_include:iterate=a", "", "", false},
		{"GET", "/Patient/p1/$everything", "", "", true},
		{"GET", "/Patient/p1/Observation?category=a,b&category=c", "*/*", "é", true},
		{"GET", "/metadata", "text/html", "", false},
	} {
		f.Add(seed.method, seed.target, seed.accept, seed.id, seed.forceID)
	}
	pq := factsEval(f)
	f.Fuzz(func(t *testing.T, method, target, accept, id string, forceID bool) {
		path, query, _ := strings.Cut(target, "?")
		header := http.Header{}
		if accept != "" {
			header.Set("Accept", accept)
		}
		r, err := fhir.ParseRequest(method, path, query, header, nil)
		if err != nil {
			return
		}
		if forceID {
			r.ID = id
		}
		checkFacts(t, pq, r, nil)
	})
}
