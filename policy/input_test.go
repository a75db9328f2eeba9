package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/policies"
	"github.com/hdp-il/fhir-pep/policy"
	"github.com/hdp-il/fhir-pep/smart"
)

// document is the input document as the README writes it, converted the way
// any JSON input would be.
func document(tb testing.TB, src string) ast.Value {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(src))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		tb.Fatalf("expected document: %v", err)
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

const (
	valueToken  = `{"active": true, "exp": 1900000000, "scope": "x", "aud": ["a"], "fhirContext": [], "cnf": {"x5t#S256": "t"}}`
	valueScopes = "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests,http://x|y&category=laboratory patient/Patient.read user/*.cruds openid"

	// The rendering of valueScopes, and of the patient and client below.
	valueRest = `
	"token": ` + valueToken + `,
	"scopes": [
		{"context": "patient", "resource_type": "Observation", "permissions": "rs",
		 "constraints": {"_security": ["http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests,http://x|y"], "category": ["laboratory"]},
		 "version": 2, "raw": "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests,http://x|y&category=laboratory",
		 "security_items": [
			{"value": "http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests",
			 "system": "http://fhir.health.gov.il/cs/il-hdp-information-buckets", "code": "LaboratoryTests",
			 "code_lower": "laboratorytests", "code_spellings": ["LaboratoryTests", "laboratoryTests", "laboratorytests"]},
			{"value": "http://x|y", "system": "http://x", "code": "y", "code_lower": "y", "code_spellings": ["Y", "y"]}
		 ]},
		{"context": "patient", "resource_type": "Patient", "permissions": "rs", "constraints": {},
		 "version": 1, "raw": "patient/Patient.read", "security_items": []},
		{"context": "user", "resource_type": "*", "permissions": "cruds", "constraints": {},
		 "version": 2, "raw": "user/*.cruds", "security_items": []}
	],
	"scope_index": {
		"Observation": {"r": [0], "s": [0]},
		"Patient": {"r": [1], "s": [1]},
		"*": {"c": [2], "r": [2], "u": [2], "d": [2], "s": [2]}
	},
	"patient": {"system": "http://fhir.health.gov.il/identifier/il-national-id", "value": "000000018", "ids": ["p1", "p2"]},
	"client": {"member_id": "org-a", "thumbprint": "t"}`

	noParams = `"params": {}, "param_list": [], "param_facts": {"has": false, "chained": false, "names": []}`
)

func valueInput(tb testing.TB, r *fhir.Request, entries ...*fhir.Request) *policy.Input {
	return &policy.Input{
		Request: r,
		Entries: entries,
		Token:   decodeToken(tb, valueToken),
		Scopes:  smart.Parse(valueScopes),
		Patient: policy.Patient{
			System: "http://fhir.health.gov.il/identifier/il-national-id",
			Value:  "000000018",
			IDs:    []string{"p1", "p2"},
		},
		Client: policy.Client{MemberID: "org-a", Thumbprint: "t"},
	}
}

func TestInputValue(t *testing.T) {
	bundle := `{"resourceType": "Bundle", "type": "transaction", "entry": [
		{"request": {"method": "GET", "url": "Observation?category=laboratory"}},
		{"request": {"method": "GET", "url": "Patient/p1"}}]}`
	transaction := parseRequest(t, "POST", "", http.Header{"Content-Type": {"application/fhir+json"}}, bundle)
	tests := []struct {
		name  string
		input *policy.Input
		want  string
	}{
		{
			name:  "read",
			input: valueInput(t, get(t, "/Observation/obs-1")),
			want: `{"request": {"method": "GET", "interaction": "read", "resource_type": "Observation", "id": "obs-1",
				"version_id": null, "compartment": null, "operation": null, ` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": true, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "vread",
			input: valueInput(t, get(t, "/Observation/obs-1/_history/2")),
			want: `{"request": {"method": "GET", "interaction": "vread", "resource_type": "Observation", "id": "obs-1",
				"version_id": "2", "compartment": null, "operation": null, ` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": true, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name: "search with modifiers, chains and _has",
			input: valueInput(t, get(t, "/Observation?code:text=abc&subject:Patient.name=Cohen,Levi"+
				"&_has:Observation:patient:code=1234&date=ge2024&date=le2025&_format=json")),
			want: `{"request": {"method": "GET", "interaction": "search-type", "resource_type": "Observation", "id": null,
				"version_id": null, "compartment": null, "operation": null,
				"params": {"code:text": ["abc"], "subject:Patient.name": ["Cohen,Levi"],
				           "_has:Observation:patient:code": ["1234"], "date": ["ge2024", "le2025"], "_format": ["json"]},
				"param_list": [
					{"name": "code", "modifier": "text", "chain": "", "has": false, "values": ["abc"]},
					{"name": "subject", "modifier": "Patient", "chain": "name", "has": false, "values": ["Cohen", "Levi"]},
					{"name": "_has", "modifier": "", "chain": "Observation:patient:code", "has": true, "values": ["1234"]},
					{"name": "date", "modifier": "", "chain": "", "has": false, "values": ["ge2024"]},
					{"name": "date", "modifier": "", "chain": "", "has": false, "values": ["le2025"]},
					{"name": "_format", "modifier": "", "chain": "", "has": false, "values": ["json"]}
				],
				"param_facts": {"has": true, "chained": true, "names": ["_format", "_has", "code", "date", "subject"]},
				"wants_xml": false, "facts": {"json_format": true, "id_valid": false, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "POST _search form body",
			input: valueInput(t, parseRequest(t, "POST", "/Observation/_search?code=1", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "code=2&category=vital-signs")),
			want: `{"request": {"method": "POST", "interaction": "search-type", "resource_type": "Observation", "id": null,
				"version_id": null, "compartment": null, "operation": null,
				"params": {"code": ["1", "2"], "category": ["vital-signs"]},
				"param_list": [
					{"name": "code", "modifier": "", "chain": "", "has": false, "values": ["1"]},
					{"name": "code", "modifier": "", "chain": "", "has": false, "values": ["2"]},
					{"name": "category", "modifier": "", "chain": "", "has": false, "values": ["vital-signs"]}
				],
				"param_facts": {"has": false, "chained": false, "names": ["category", "code"]},
				"wants_xml": false, "facts": {"json_format": true, "id_valid": false, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "compartment search",
			input: valueInput(t, get(t, "/Patient/p1/Observation?category=laboratory")),
			want: `{"request": {"method": "GET", "interaction": "search-compartment", "resource_type": "Observation", "id": null,
				"version_id": null, "compartment": {"type": "Patient", "id": "p1"}, "operation": null,
				"params": {"category": ["laboratory"]},
				"param_list": [{"name": "category", "modifier": "", "chain": "", "has": false, "values": ["laboratory"]}],
				"param_facts": {"has": false, "chained": false, "names": ["category"]},
				"wants_xml": false, "facts": {"json_format": true, "id_valid": false, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "everything",
			input: valueInput(t, get(t, "/Patient/p1/$everything")),
			want: `{"request": {"method": "GET", "interaction": "operation", "resource_type": "Patient", "id": "p1",
				"version_id": null, "compartment": null, "operation": {"name": "$everything", "level": "instance"},
				` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": true, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "capabilities as XML",
			input: valueInput(t, get(t, "/metadata?_format=xml")),
			want: `{"request": {"method": "GET", "interaction": "capabilities", "resource_type": null, "id": null,
				"version_id": null, "compartment": null, "operation": null,
				"params": {"_format": ["xml"]},
				"param_list": [{"name": "_format", "modifier": "", "chain": "", "has": false, "values": ["xml"]}],
				"param_facts": {"has": false, "chained": false, "names": ["_format"]},
				"wants_xml": true, "facts": {"json_format": false, "id_valid": false, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "transaction with entries",
			input: valueInput(t, transaction, get(t, "/Observation?category=laboratory"), get(t, "/Patient/p1"), nil),
			want: `{"request": {"method": "POST", "interaction": "transaction", "resource_type": null, "id": null,
				"version_id": null, "compartment": null, "operation": null, ` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": false, "param_facts_known": true},
				"entries": [
					{"method": "GET", "interaction": "search-type", "resource_type": "Observation", "id": null,
					 "version_id": null, "compartment": null, "operation": null,
					 "params": {"category": ["laboratory"]},
					 "param_list": [{"name": "category", "modifier": "", "chain": "", "has": false, "values": ["laboratory"]}],
					 "param_facts": {"has": false, "chained": false, "names": ["category"]},
					 "wants_xml": false, "facts": {"json_format": true, "id_valid": false, "param_facts_known": true}},
					{"method": "GET", "interaction": "read", "resource_type": "Patient", "id": "p1",
					 "version_id": null, "compartment": null, "operation": null, ` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": true, "param_facts_known": true}},
					null
				]},` + valueRest + `}`,
		},
		{
			name:  "batch without entries",
			input: valueInput(t, parseRequest(t, "POST", "", http.Header{"Content-Type": {"application/fhir+json"}}, `{"resourceType": "Bundle", "type": "batch"}`)),
			want: `{"request": {"method": "POST", "interaction": "batch", "resource_type": null, "id": null,
				"version_id": null, "compartment": null, "operation": null, ` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": false, "param_facts_known": true},
				"entries": []},` + valueRest + `}`,
		},
		{
			name:  "entries ignored outside a batch",
			input: valueInput(t, get(t, "/Observation/obs-1"), get(t, "/Patient/p1")),
			want: `{"request": {"method": "GET", "interaction": "read", "resource_type": "Observation", "id": "obs-1",
				"version_id": null, "compartment": null, "operation": null, ` + noParams + `, "wants_xml": false, "facts": {"json_format": true, "id_valid": true, "param_facts_known": true}},` + valueRest + `}`,
		},
		{
			name:  "nothing known",
			input: &policy.Input{},
			want: `{"request": null, "token": null, "scopes": [], "scope_index": {},
				"patient": {"system": null, "value": null, "ids": null}, "client": {"member_id": null, "thumbprint": null}}`,
		},
		{
			name:  "patient without data here",
			input: &policy.Input{Token: map[string]any{}, Patient: policy.Patient{Value: "000000018", IDs: []string{}}},
			want: `{"request": null, "token": {}, "scopes": [], "scope_index": {},
				"patient": {"system": null, "value": "000000018", "ids": []}, "client": {"member_id": null, "thumbprint": null}}`,
		},
		{
			name:  "consent to no bucket",
			input: &policy.Input{Baskets: []policy.Basket{}},
			want: `{"request": null, "token": null, "scopes": [], "scope_index": {},
				"patient": {"system": null, "value": null, "ids": null}, "client": {"member_id": null, "thumbprint": null},
				"baskets": []}`,
		},
		{
			name: "baskets",
			input: &policy.Input{Baskets: []policy.Basket{
				{System: "http://fhir.health.gov.il/cs/hdp-information-buckets", Code: "laboratoryTests", HistoricalDepth: "2024-01-01"},
				{System: "http://fhir.health.gov.il/cs/il-hdp-information-buckets", Code: "EncounterInformation"},
			}},
			want: `{"request": null, "token": null, "scopes": [], "scope_index": {},
				"patient": {"system": null, "value": null, "ids": null}, "client": {"member_id": null, "thumbprint": null},
				"baskets": [
					{"system": "http://fhir.health.gov.il/cs/hdp-information-buckets", "code": "laboratoryTests", "historical_depth": "2024-01-01"},
					{"system": "http://fhir.health.gov.il/cs/il-hdp-information-buckets", "code": "EncounterInformation", "historical_depth": ""}
				]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.input.Value()
			want := document(t, tt.want)
			if got == nil || got.Compare(want) != 0 {
				t.Fatalf("Value() =\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestInputValueToken(t *testing.T) {
	tests := []struct {
		name  string
		token map[string]any
		want  string // "" when Value must refuse the token
	}{
		{name: "json numbers", token: decodeToken(t, `{"exp": 1900000000, "x": 1.5, "y": -2e3}`), want: `{"exp": 1900000000, "x": 1.5, "y": -2e3}`},
		{name: "go values", token: map[string]any{"n": 3, "m": int64(4), "f": 0.25, "s": []string{"a"}, "o": map[string]string{"k": "v"}, "z": nil},
			want: `{"n": 3, "m": 4, "f": 0.25, "s": ["a"], "o": {"k": "v"}, "z": null}`},
		{name: "nested", token: map[string]any{"cnf": map[string]any{"x5t#S256": "t"}, "l": []any{true, "x", json.Number("7")}},
			want: `{"cnf": {"x5t#S256": "t"}, "l": [true, "x", 7]}`},
		{name: "NaN", token: map[string]any{"x": math.NaN()}},
		{name: "infinity", token: map[string]any{"x": []any{math.Inf(1)}}},
		{name: "function", token: map[string]any{"x": map[string]any{"f": func() {}}}},
		{name: "struct", token: map[string]any{"x": struct{ A int }{1}}},
		{name: "bad number", token: map[string]any{"x": json.Number("abc")}},
		{name: "empty number", token: map[string]any{"x": json.Number("")}},
	}
	e := mustLoad(t, module(allowAll))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &policy.Input{Token: tt.token}
			v := in.Value()
			if tt.want == "" {
				if v != nil {
					t.Fatalf("Value() = %v, want nil", v)
				}
				d, err := e.EvalInput(context.Background(), in)
				if !errors.Is(err, policy.ErrInput) || d.Allow {
					t.Fatalf("EvalInput = %+v, %v; want deny with ErrInput", d, err)
				}
				return
			}
			obj, ok := v.(ast.Object)
			if !ok {
				t.Fatalf("Value() = %v", v)
			}
			got := obj.Get(ast.StringTerm("token"))
			if want := document(t, tt.want); got == nil || got.Value.Compare(want) != 0 {
				t.Fatalf("token = %v, want %v", got, want)
			}
		})
	}
}

// policyModules are the default policies with their tests (fixtures
// included), for checking Go's precomputed fields against their Rego
// definitions.
func policyModules(tb testing.TB) []func(*rego.Rego) {
	tb.Helper()
	var opts []func(*rego.Rego)
	err := fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		src, err := fs.ReadFile(policies.FS(), p)
		opts = append(opts, rego.Module(p, string(src)))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return opts
}

// precomputedQuery renders, from the documented fields of the input Go
// built, what the policy (security_item) and the Rego test fixtures
// (scope_index, with_param_facts) say the precomputed fields are.
const precomputedQuery = `x := {
	"security_items": [[data.fhir.pep.security_item(item) |
		some v in object.get(s.constraints, "_security", [])
		some item in split(v, ",")
	] | some s in input.scopes],
	"scope_index": data.fhir.pep_test.scope_index(input.scopes),
	"param_facts": data.fhir.pep_test.with_param_facts(input.request).param_facts,
}`

func precomputedEval(tb testing.TB) rego.PreparedEvalQuery {
	tb.Helper()
	opts := append(policyModules(tb), rego.Query(precomputedQuery), rego.StrictBuiltinErrors(true))
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return pq
}

// checkPrecomputed fails when Go's precomputed fields differ from the
// policy's and fixtures' definitions for this request and scope string.
func checkPrecomputed(tb testing.TB, pq rego.PreparedEvalQuery, r *fhir.Request, scopes string) {
	tb.Helper()
	in := &policy.Input{Request: r, Scopes: smart.Parse(scopes)}
	v := in.Value()
	rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(v))
	if err != nil || len(rs) != 1 {
		tb.Fatalf("eval: %v %v", rs, err)
	}
	want, err := ast.InterfaceToValue(rs[0].Bindings["x"])
	if err != nil {
		tb.Fatal(err)
	}
	obj := v.(ast.Object)
	items := make([]*ast.Term, 0, len(in.Scopes))
	if arr, ok := obj.Get(ast.StringTerm("scopes")).Value.(*ast.Array); ok {
		arr.Foreach(func(s *ast.Term) {
			items = append(items, s.Value.(ast.Object).Get(ast.StringTerm("security_items")))
		})
	}
	got := ast.NewObject(
		ast.Item(ast.StringTerm("security_items"), ast.ArrayTerm(items...)),
		ast.Item(ast.StringTerm("scope_index"), obj.Get(ast.StringTerm("scope_index"))),
		ast.Item(ast.StringTerm("param_facts"), obj.Get(ast.StringTerm("request")).Value.(ast.Object).Get(ast.StringTerm("param_facts"))),
	)
	if got.Compare(want) != 0 {
		tb.Fatalf("Go precomputed\n%v\npolicy and fixtures say\n%v", got, want)
	}
}

func TestPrecomputedMatchesPolicy(t *testing.T) {
	pq := precomputedEval(t)
	tests := []struct {
		name, target, scopes string
	}{
		{name: "plain", target: "/Observation?category=laboratory", scopes: labScope + " " + patientScope},
		{name: "buckets and labels", target: "/Observation",
			scopes: "patient/Observation.rs?_security=" + seedBuckets + "|LABORATORYTESTS,http://t|N,LaboratoryTests,|x,a|b|c,s|,,%C3%A9|%C3%89cole"},
		{name: "repeated security values", target: "/Observation",
			scopes: "patient/Observation.rs?_security=a|B&_security=a|b patient/*.r?category=x user/Observation.cruds"},
		{name: "chains, _has, modifiers", target: "/Observation?subject:Patient.name=x&_has:Observation:patient:code=1&_include:iterate=x&code:text=a&code=b",
			scopes: "system/Patient.s"},
		{name: "no parameters, no scopes", target: "/metadata", scopes: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPrecomputed(t, pq, get(t, tt.target), tt.scopes)
		})
	}
}

// FuzzSecurityItems: for any scope constraint, Go's security_items are
// what the policy's security_item computes.
func FuzzSecurityItems(f *testing.F) {
	for _, seed := range []string{
		ilBuckets + "|LaboratoryTests", "a|b,c|d", "|x", "x|", "a|b|c", ",", "%C3%A9|%C3%89cole", "s|%C4%B0x", "s|%E1%BA%9E",
	} {
		f.Add(seed)
	}
	pq := precomputedEval(f)
	r := &fhir.Request{Method: "GET", Interaction: fhir.InteractionCapabilities}
	f.Fuzz(func(t *testing.T, constraint string) {
		scope := "patient/Observation.rs?_security=" + constraint
		if parsed := smart.Parse(scope); len(parsed) != 1 || !utf8.ValidString(parsed[0].Constraints["_security"][0]) {
			return
		}
		checkPrecomputed(t, pq, r, scope)
	})
}
