package policy_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policy"
	"github.com/hdp-il/fhir-pep/smart"
)

// FuzzEvalInputMatchesEval is the differential check of the kept grant on
// arbitrary requests, scopes, baskets and patients: EvalInput (grant kept
// per token and kind of request) must decide exactly as Eval on the same
// input without a grant. Each input is evaluated twice through EvalInput,
// so that the second evaluation uses the grant the first one kept, and a
// second input differing only in the request's id and parameters reuses it
// too.
func FuzzEvalInputMatchesEval(f *testing.F) {
	for _, r := range goldenRequests {
		if r.method == "GET" && r.entries == nil {
			f.Add(r.target, "/Observation/obs-9?code=x", labScope+" "+patientScope, "laboratoryTests", "2024-01-01", "pat-1,pat-1b")
		}
	}
	for _, s := range goldenScopes {
		f.Add("/Observation?category=laboratory", "/Observation/obs-1", s.scope, "", "", "pat-1")
		f.Add("/Patient/pat-1/Observation?code=1", "/Patient/pat-1/Observation?category=laboratory", s.scope, "Measurements", "", "")
	}
	f.Add("/Patient/pat-1/$everything", "/Patient/pat-2/$everything", labScope, "-", "", "-")
	e := loadDefaults(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, target, other, scopes, basket, depth, ids string) {
		a, b := fuzzRequest(target), fuzzRequest(other)
		if a == nil || b == nil {
			return
		}
		var baskets []policy.Basket
		if basket != "-" {
			baskets = []policy.Basket{}
			if basket != "" {
				baskets = append(baskets, policy.Basket{System: ilBuckets, Code: basket, HistoricalDepth: depth})
			}
		}
		patient := policy.Patient{System: "http://fhir.health.gov.il/identifier/il-national-id", Value: "000000018"}
		if ids != "-" {
			patient.IDs = []string{}
			if ids != "" {
				patient.IDs = strings.Split(ids, ",")
			}
		}
		for _, r := range []*fhir.Request{a, b, a} {
			in := &policy.Input{Request: r, Scopes: smart.Parse(scopes), Patient: patient, Baskets: baskets,
				Client: policy.Client{MemberID: "m", Thumbprint: "t"}}
			want, werr := e.Eval(ctx, in.Value())
			got, gerr := e.EvalInput(ctx, in)
			if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %s with %q: EvalInput %+v (%v), Eval %+v (%v)", r.Method, target, scopes, got, gerr, want, werr)
			}
		}
	})
}

// fuzzRequest parses a GET target; nil when the parser refuses it.
func fuzzRequest(target string) *fhir.Request {
	path, query, _ := strings.Cut(target, "?")
	r, err := fhir.ParseRequest(http.MethodGet, path, query, nil, nil)
	if err != nil {
		return nil
	}
	return r
}
