package policy_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
	"github.com/hdp-il/fhir-pep/smart"
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

// labScope and the others are scope strings as PCM sends them.
const (
	labScope         = "patient/Observation.rs?_security=" + ilBuckets + "|LaboratoryTests"
	measurementScope = "patient/Observation.rs?_security=" + ilBuckets + "|Measurements"
	patientScope     = "patient/Patient.rs?_security=" + ilBuckets + "|PatientDemographics"
)

// input builds what the handler builds for one request and scope string;
// the patient has the ids pat-1 and pat-1b.
func input(tb testing.TB, r *fhir.Request, scopes string, entries ...*fhir.Request) *policy.Input {
	tb.Helper()
	return &policy.Input{
		Request: r,
		Entries: entries,
		Token:   decodeToken(tb, `{"active": true, "client_id": "client-a", "exp": 1900000000}`),
		Scopes:  smart.Parse(scopes),
		Patient: policy.Patient{
			System: "http://fhir.health.gov.il/identifier/il-national-id",
			Value:  "000000018",
			IDs:    []string{"pat-1", "pat-1b"},
		},
		Client: policy.Client{MemberID: "org-sp-hospital-a", Thumbprint: "thumb"},
	}
}

func get(tb testing.TB, target string) *fhir.Request {
	tb.Helper()
	return parseRequest(tb, "GET", target, nil, "")
}

func TestDefaultPolicies(t *testing.T) {
	e := loadDefaults(t)
	labTypes := map[string][]string{"Observation": {ilBuckets + "|laboratorytests"}}
	labRule := policy.ResponseRule{
		Type: "Observation", Buckets: []string{ilBuckets + "|laboratorytests"},
		Constraints: []policy.SearchParam{{Name: "_security", Value: ilBuckets + "|LaboratoryTests"}},
	}
	narrowedLabRule := labRule
	narrowedLabRule.Narrowed = true
	labRules := []policy.ResponseRule{narrowedLabRule}
	narrowed := []policy.SearchParam{
		{Name: "subject", Value: "Patient/pat-1,Patient/pat-1b"},
		{Name: "_security", Value: labQuery},
	}
	batchBody := `{"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Observation/obs-1"}}]}`
	batch := parseRequest(t, "POST", "", http.Header{"Content-Type": {"application/fhir+json"}}, batchBody)
	tests := []struct {
		name  string
		input *policy.Input
		want  policy.Decision
	}{
		{
			name:  "search narrowed to patient and bucket",
			input: input(t, get(t, "/Observation?code=1234-5"), labScope),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				SearchParams: narrowed,
				Response:     policy.Response{Types: labTypes, Rules: labRules},
			}},
		},
		{
			name:  "read becomes a constrained search",
			input: input(t, get(t, "/Observation/obs-1"), labScope),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				SearchParams: narrowed,
				ReadAsSearch: true,
				Response:     policy.Response{Types: labTypes, Rules: labRules},
			}},
		},
		{
			name:  "own compartment search",
			input: input(t, get(t, "/Patient/pat-1b/Observation"), labScope),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				SearchParams: narrowed,
				Response:     policy.Response{Types: labTypes, Rules: labRules},
			}},
		},
		{
			name:  "own everything",
			input: input(t, get(t, "/Patient/pat-1/$everything"), labScope+" "+patientScope),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				Response: policy.Response{Types: map[string][]string{
					"Observation": {ilBuckets + "|laboratorytests"},
					"Patient":     {ilBuckets + "|patientdemographics"},
				}, Rules: []policy.ResponseRule{labRule, {
					Type: "Patient", Buckets: []string{ilBuckets + "|patientdemographics"},
					Constraints: []policy.SearchParam{{Name: "_security", Value: ilBuckets + "|PatientDemographics"}},
				}}},
			}},
		},
		{
			name:  "other patient's Patient resource",
			input: input(t, get(t, "/Patient/pat-2"), patientScope),
			want:  policy.Decision{Allow: false, Status: 403, Reasons: []string{"other_patient"}},
		},
		{
			name:  "no scope",
			input: input(t, get(t, "/Observation"), "openid fhirUser"),
			want:  policy.Decision{Allow: false, Status: 403, Reasons: []string{"scope_missing"}},
		},
		{
			name:  "user scope only",
			input: input(t, get(t, "/Observation"), "user/Observation.rs?_security="+ilBuckets+"|LaboratoryTests"),
			want:  policy.Decision{Allow: false, Status: 403, Reasons: []string{"scope_context_not_allowed"}},
		},
		{
			name:  "chained and _has parameters",
			input: input(t, get(t, "/Observation?subject:Patient.name=Cohen&_has:Observation:patient:code=1234"), labScope),
			want:  policy.Decision{Allow: false, Status: 400, Reasons: []string{"chained_param_not_allowed", "has_param_not_allowed"}},
		},
		{
			name:  "capabilities",
			input: input(t, get(t, "/metadata"), ""),
			want:  policy.Decision{Allow: true, Status: 200, Reasons: []string{}},
		},
		{
			name:  "xml",
			input: input(t, get(t, "/Observation?_format=xml"), labScope),
			want:  policy.Decision{Allow: false, Status: 400, Reasons: []string{"format_not_supported"}},
		},
		{
			name:  "batch carries per-entry obligations",
			input: input(t, batch, labScope, get(t, "/Observation/obs-1")),
			want: policy.Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: policy.Obligations{
				Response: policy.Response{Types: labTypes},
				Entries: []policy.Obligations{{
					SearchParams: narrowed,
					ReadAsSearch: true,
					Response:     policy.Response{Types: labTypes, Rules: labRules},
				}},
			}},
		},
		{
			name:  "batch with a missing entry",
			input: input(t, batch, labScope, get(t, "/Observation/obs-1"), nil),
			want:  policy.Decision{Allow: false, Status: 400, Reasons: []string{"batch_entry_denied", "format_not_supported", "interaction_unknown", "param_not_allowed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Eval(context.Background(), tt.input.Value())
			if err != nil {
				t.Fatalf("Eval: %v", err)
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
	allowed := map[string]*policy.Input{
		"search":             input(t, get(t, "/Observation"), labScope),
		"read":               input(t, get(t, "/Observation/obs-1"), labScope),
		"compartment search": input(t, get(t, "/Patient/pat-1/Observation"), labScope),
		"patient read":       input(t, get(t, "/Patient/pat-1"), patientScope),
	}
	for name, in := range allowed {
		d, err := e.Eval(context.Background(), in.Value())
		if err != nil || !d.Allow {
			t.Fatalf("%s: precondition: want allow, got %+v, %v", name, d, err)
		}
		doc, err := ast.JSON(in.Value())
		if err != nil {
			t.Fatal(err)
		}
		base, _ := doc.(map[string]any)
		for _, path := range [][]string{
			{"request"}, {"request", "interaction"}, {"request", "resource_type"}, {"request", "id"},
			{"request", "wants_xml"}, {"request", "compartment"}, {"request", "params"}, {"request", "param_list"},
			{"request", "facts"}, {"request", "facts", "json_format"}, {"request", "facts", "id_valid"},
			{"request", "facts", "param_facts_known"}, {"request", "param_facts"},
			{"scopes"}, {"scope_index"}, {"patient"}, {"patient", "ids"}, {"patient", "value"}, {"token"}, {"client"},
		} {
			t.Run(name+" without "+strings.Join(path, "."), func(t *testing.T) {
				mutated := removePath(base, path)
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
