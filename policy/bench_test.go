package policy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
	"github.com/hdp-il/fhir-pep/smart"
)

// benchToken is an introspection response as introspection.DecodeClaims
// leaves it in Claims.Raw: numbers are json.Number.
const benchToken = `{
	"active": true,
	"scope": "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|Measurements patient/Patient.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|PatientDemographics",
	"patient": "http://fhir.health.gov.il/identifier/il-national-id|000000018",
	"aud": "https://fhir.hmo-b.example/R4", "iss": "https://pcm.fhir.health.gov.il/",
	"client_id": "client-a", "organization_id": "org-sp-hospital-a", "exp": 1900000000, "iat": 1800000000,
	"intent": "treatment", "fhirContext": [], "cnf": {"x5t#S256": "thumb"}
}`

func decodeToken(tb testing.TB, src string) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func parseRequest(tb testing.TB, method, target string, header http.Header, body string) *fhir.Request {
	tb.Helper()
	path, query, _ := strings.Cut(target, "?")
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r, err := fhir.ParseRequest(method, path, query, header, b)
	if err != nil {
		tb.Fatalf("ParseRequest(%s %s): %v", method, target, err)
	}
	return r
}

// benchInput is what the handler builds: a parsed request, the token's
// parsed scopes, the resolved patient and the NTN client.
func benchInput(tb testing.TB, r *fhir.Request, entries []*fhir.Request) *policy.Input {
	tb.Helper()
	token := decodeToken(tb, benchToken)
	scope, _ := token["scope"].(string)
	return &policy.Input{
		Request: r,
		Entries: entries,
		Token:   token,
		Scopes:  smart.Parse(scope),
		Patient: policy.Patient{
			System: "http://fhir.health.gov.il/identifier/il-national-id",
			Value:  "000000018",
			IDs:    []string{"patient-with-israeli-id"},
		},
		Client: policy.Client{MemberID: "org-sp-hospital-a", Thumbprint: "thumb"},
	}
}

// typicalSearch is GET /Observation?category=laboratory&date=ge2024-01-01 by
// a client with two Observation bucket scopes and one Patient scope.
func typicalSearch(tb testing.TB) *policy.Input {
	return benchInput(tb, parseRequest(tb, "GET", "/Observation?category=laboratory&date=ge2024-01-01", nil, ""), nil)
}

func typicalRead(tb testing.TB) *policy.Input {
	return benchInput(tb, parseRequest(tb, "GET", "/Observation/obs-1", nil, ""), nil)
}

// typicalBatch is a batch of a search, a read of the patient and a read of
// an Observation.
func typicalBatch(tb testing.TB) *policy.Input {
	body := `{"resourceType": "Bundle", "type": "batch", "entry": [
		{"request": {"method": "GET", "url": "Observation?category=laboratory"}},
		{"request": {"method": "GET", "url": "Patient/patient-with-israeli-id"}},
		{"request": {"method": "GET", "url": "Observation/obs-1"}}
	]}`
	header := http.Header{"Content-Type": {"application/fhir+json"}}
	r := parseRequest(tb, "POST", "", header, body)
	raw, err := fhir.ParseBundleEntries([]byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	entries := make([]*fhir.Request, len(raw))
	for i, e := range raw {
		path, query := e.Path, e.RawQuery
		entries[i] = parseRequest(tb, e.Method, path+"?"+query, nil, "")
		if query == "" {
			entries[i] = parseRequest(tb, e.Method, path, nil, "")
		}
	}
	return benchInput(tb, r, entries)
}

func benchEval(b *testing.B, in *policy.Input, check func(policy.Decision) bool) {
	e := loadDefaults(b)
	ctx := context.Background()
	d, err := e.Eval(ctx, in.Value())
	if err != nil || !check(d) {
		b.Fatalf("precondition: %+v %v", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Eval(ctx, in.Value()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEval is one decision for a typical search: building the input
// (Input.Value) and evaluating it.
func BenchmarkEval(b *testing.B) {
	benchEval(b, typicalSearch(b), func(d policy.Decision) bool {
		return d.Allow && len(d.Obligations.SearchParams) == 2
	})
}

func BenchmarkEvalRead(b *testing.B) {
	benchEval(b, typicalRead(b), func(d policy.Decision) bool {
		return d.Allow && d.Obligations.ReadAsSearch
	})
}

func BenchmarkEvalBatch(b *testing.B) {
	benchEval(b, typicalBatch(b), func(d policy.Decision) bool {
		return d.Allow && len(d.Obligations.Entries) == 3
	})
}

func BenchmarkInputValue(b *testing.B) {
	in := typicalSearch(b)
	b.ReportAllocs()
	for b.Loop() {
		if in.Value() == nil {
			b.Fatal("nil input")
		}
	}
}

// BenchmarkEvalCached is a repeated typical search through a cached engine:
// the canonical key of the Input, a lookup and a copy of the decision.
func BenchmarkEvalCached(b *testing.B) {
	e, err := policy.Load(context.Background(), policies.FS(), policy.WithDecisionCache(1024))
	if err != nil {
		b.Fatal(err)
	}
	in := typicalSearch(b)
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
}

// benchEvalInput is one decision through EvalInput without the decision
// cache, as the handler makes it on a decision-cache miss: the input built,
// the grant of the token and kind of request kept from the first call
// (grant.go), the decision evaluated with it.
func benchEvalInput(b *testing.B, in *policy.Input, check func(policy.Decision) bool) {
	e := loadDefaults(b)
	ctx := context.Background()
	d, err := e.EvalInput(ctx, in)
	if err != nil || !check(d) {
		b.Fatalf("precondition: %+v %v", d, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.EvalInput(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvalInput(b *testing.B) {
	benchEvalInput(b, typicalSearch(b), func(d policy.Decision) bool {
		return d.Allow && len(d.Obligations.SearchParams) == 2
	})
}

func BenchmarkEvalInputRead(b *testing.B) {
	benchEvalInput(b, typicalRead(b), func(d policy.Decision) bool {
		return d.Allow && d.Obligations.ReadAsSearch
	})
}

// BenchmarkEvalInputReadColdGrant is the first read of a token: no grant
// kept for it yet, so the grant is evaluated, kept, and the decision
// evaluated with it. The patients cycle through more tokens than an Engine
// keeps grants for, so that every iteration misses.
func BenchmarkEvalInputReadColdGrant(b *testing.B) {
	e := loadDefaults(b)
	ctx := context.Background()
	in := typicalRead(b)
	patients := make([][]string, 4096)
	for i := range patients {
		patients[i] = []string{"patient-" + strconv.Itoa(i)}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in.Patient.IDs = patients[i%len(patients)]
		i++
		if d, err := e.EvalInput(ctx, in); err != nil || !d.Allow {
			b.Fatal(d, err)
		}
	}
}
