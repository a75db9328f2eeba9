package policy_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
)

const (
	ilBuckets   = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	seedBuckets = "http://fhir.health.gov.il/cs/hdp-information-buckets"
)

// labQuery is the _security value injected for the LaboratoryTests bucket.
var labQuery = strings.Join([]string{
	seedBuckets + "|LaboratoryTests", seedBuckets + "|laboratoryTests", seedBuckets + "|laboratorytests",
	ilBuckets + "|LaboratoryTests", ilBuckets + "|laboratoryTests", ilBuckets + "|laboratorytests",
}, ",")

func loadDefaults(tb testing.TB) *policy.Engine {
	tb.Helper()
	e, err := policy.Load(context.Background(), policies.FS())
	if err != nil {
		tb.Fatalf("Load(defaults): %v", err)
	}
	return e
}

func scopeJSON(typ, perms string, constraints map[string][]string) map[string]any {
	c := map[string]any{}
	for k, v := range constraints {
		c[k] = v
	}
	return map[string]any{
		"context": "patient", "resource_type": typ, "permissions": perms,
		"constraints": c, "version": 2, "raw": "patient/" + typ + "." + perms,
	}
}

func labScope() map[string]any {
	return scopeJSON("Observation", "rs", map[string][]string{"_security": {ilBuckets + "|LaboratoryTests"}})
}

func baseRequest() map[string]any {
	return map[string]any{
		"method": "GET", "interaction": "search-type", "resource_type": "Observation",
		"id": nil, "version_id": nil, "compartment": nil, "operation": nil,
		"params": map[string]any{}, "param_list": []any{}, "wants_xml": false,
	}
}

func withRequest(overrides map[string]any) map[string]any {
	r := baseRequest()
	maps.Copy(r, overrides)
	return r
}

func makeInput(request map[string]any, scopes ...map[string]any) map[string]any {
	s := make([]any, len(scopes))
	for i, sc := range scopes {
		s[i] = sc
	}
	return map[string]any{
		"request": request,
		"token": map[string]any{
			"active": true, "scope": "patient/Observation.rs", "client_id": "client-a",
			"patient": "http://fhir.health.gov.il/identifier/il-national-id|000000018",
		},
		"scopes": s,
		"patient": map[string]any{
			"system": "http://fhir.health.gov.il/identifier/il-national-id",
			"value":  "000000018",
			"ids":    []any{"pat-1", "pat-1b"},
		},
		"client": map[string]any{"member_id": "org-sp-hospital-a", "thumbprint": "thumb"},
	}
}

func TestDefaultPolicies(t *testing.T) {
	e := loadDefaults(t)
	labTypes := map[string][]string{"Observation": {ilBuckets + "|laboratorytests"}}
	tests := []struct {
		name  string
		input map[string]any
		want  policy.Decision
	}{
		{
			name: "search narrowed to patient and bucket",
			input: makeInput(withRequest(map[string]any{
				"params":     map[string]any{"code": []any{"1234-5"}},
				"param_list": []any{map[string]any{"name": "code", "modifier": "", "chain": "", "has": false, "values": []any{"1234-5"}}},
			}), labScope()),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				SearchParams: []policy.SearchParam{
					{Name: "subject", Value: "Patient/pat-1,Patient/pat-1b"},
					{Name: "_security", Value: labQuery},
				},
				Response: policy.Response{Types: labTypes},
			}},
		},
		{
			name:  "read becomes a constrained search",
			input: makeInput(withRequest(map[string]any{"interaction": "read", "id": "obs-1"}), labScope()),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				SearchParams: []policy.SearchParam{
					{Name: "subject", Value: "Patient/pat-1,Patient/pat-1b"},
					{Name: "_security", Value: labQuery},
				},
				ReadAsSearch: true,
				Response:     policy.Response{Types: labTypes},
			}},
		},
		{
			name:  "other patient's Patient resource",
			input: makeInput(withRequest(map[string]any{"interaction": "read", "resource_type": "Patient", "id": "pat-2"}), scopeJSON("Patient", "rs", map[string][]string{"_security": {ilBuckets + "|PatientDemographics"}})),
			want:  policy.Decision{Allow: false, Status: 403, Reasons: []string{"out_of_compartment"}},
		},
		{
			name:  "no scope",
			input: makeInput(baseRequest()),
			want:  policy.Decision{Allow: false, Status: 403, Reasons: []string{"scope_missing"}},
		},
		{
			name:  "capabilities",
			input: makeInput(withRequest(map[string]any{"interaction": "capabilities", "resource_type": nil})),
			want:  policy.Decision{Allow: true, Status: 200, Reasons: []string{}},
		},
		{
			name:  "xml",
			input: makeInput(withRequest(map[string]any{"wants_xml": true}), labScope()),
			want:  policy.Decision{Allow: false, Status: 400, Reasons: []string{"format_not_supported"}},
		},
		{
			name: "batch carries per-entry obligations",
			input: makeInput(withRequest(map[string]any{"interaction": "batch", "resource_type": nil, "entries": []any{
				withRequest(map[string]any{"interaction": "read", "id": "obs-1"}),
			}}), labScope()),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				Response: policy.Response{Types: labTypes},
				Entries: []policy.Obligations{{
					SearchParams: []policy.SearchParam{
						{Name: "subject", Value: "Patient/pat-1,Patient/pat-1b"},
						{Name: "_security", Value: labQuery},
					},
					ReadAsSearch: true,
					Response:     policy.Response{Types: labTypes},
				}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.EvalInterface(context.Background(), tt.input)
			if err != nil {
				t.Fatalf("EvalInterface: %v", err)
			}
			normalise(&got)
			normalise(&tt.want)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("decision:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// normalise maps empty collections to nil so DeepEqual compares meaning.
func normalise(d *policy.Decision) {
	if len(d.Reasons) == 0 {
		d.Reasons = []string{}
	}
	normaliseObligations(&d.Obligations)
}

func normaliseObligations(o *policy.Obligations) {
	if len(o.SearchParams) == 0 {
		o.SearchParams = nil
	}
	if len(o.Response.Types) == 0 {
		o.Response.Types = nil
	}
	if len(o.Entries) == 0 {
		o.Entries = nil
	}
	for i := range o.Entries {
		normaliseObligations(&o.Entries[i])
	}
}

// TestDefaultPoliciesFailClosed removes one field at a time from allowed
// inputs. Each result must be a deny, or an allow that still narrows a
// compartment type to the patient (or answers empty without upstream).
func TestDefaultPoliciesFailClosed(t *testing.T) {
	e := loadDefaults(t)
	allowed := map[string]map[string]any{
		"search":             makeInput(baseRequest(), labScope()),
		"read":               makeInput(withRequest(map[string]any{"interaction": "read", "id": "obs-1"}), labScope()),
		"compartment search": makeInput(withRequest(map[string]any{"interaction": "search-compartment", "compartment": map[string]any{"type": "Patient", "id": "pat-1"}}), labScope()),
		"patient read":       makeInput(withRequest(map[string]any{"interaction": "read", "resource_type": "Patient", "id": "pat-1"}), scopeJSON("Patient", "r", map[string][]string{"_security": {ilBuckets + "|PatientDemographics"}})),
	}
	for name, input := range allowed {
		d, err := e.EvalInterface(context.Background(), input)
		if err != nil || !d.Allow {
			t.Fatalf("%s: precondition: want allow, got %+v, %v", name, d, err)
		}
		for _, path := range [][]string{
			{"request"}, {"request", "interaction"}, {"request", "resource_type"}, {"request", "id"},
			{"request", "wants_xml"}, {"request", "compartment"}, {"request", "params"}, {"request", "param_list"},
			{"scopes"}, {"patient"}, {"patient", "ids"}, {"patient", "value"}, {"token"}, {"client"},
		} {
			t.Run(name+" without "+strings.Join(path, "."), func(t *testing.T) {
				mutated := removePath(input, path)
				d, err := e.EvalInterface(context.Background(), mutated)
				if err != nil {
					if d.Allow {
						t.Fatalf("allowed with error %v", err)
					}
					return
				}
				if !d.Allow {
					return
				}
				if d.Obligations.EmptyResult {
					return
				}
				req, _ := mutated["request"].(map[string]any)
				if req["resource_type"] == "Observation" && !hasParam(d, "subject") {
					t.Fatalf("allowed without patient narrowing: %+v", d)
				}
				if req["resource_type"] == "Patient" && !hasParam(d, "_id") {
					t.Fatalf("allowed without patient narrowing: %+v", d)
				}
			})
		}
	}
}

func hasParam(d policy.Decision, name string) bool {
	for _, p := range d.Obligations.SearchParams {
		if p.Name == name && p.Value != "" {
			return true
		}
	}
	return false
}

func removePath(m map[string]any, path []string) map[string]any {
	out := maps.Clone(m)
	if len(path) == 1 {
		delete(out, path[0])
		return out
	}
	child, ok := out[path[0]].(map[string]any)
	if !ok {
		return out
	}
	out[path[0]] = removePath(child, path[1:])
	return out
}

// TestEvalConcurrent shares one Engine between goroutines (run with -race).
func TestEvalConcurrent(t *testing.T) {
	e := loadDefaults(t)
	input := typicalSearch(t).Value()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				d, err := e.Eval(context.Background(), input)
				if err != nil {
					errs <- err
					return
				}
				if !d.Allow || len(d.Obligations.SearchParams) != 2 {
					errs <- errUnexpected
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

type unexpectedError struct{}

func (unexpectedError) Error() string { return "unexpected decision" }

var errUnexpected error = unexpectedError{}

func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.Load(ctx, policies.FS()); err != nil {
			b.Fatal(err)
		}
	}
}
