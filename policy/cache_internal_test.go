package policy

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/smart"
)

// TestCacheKeyCoversTypes fails when a type the key encodes gains, loses or
// renames a field: newCacheKey must then be updated, or two inputs that
// render differently could share a cached decision.
func TestCacheKeyCoversTypes(t *testing.T) {
	for _, tt := range []struct {
		value  any
		fields []string
	}{
		{fhir.Request{}, []string{"Method", "Interaction", "ResourceType", "ID", "VersionID", "Compartment", "Operation", "Params", "Conditional", "WantsXML", "WantsNonJSON"}},
		{fhir.Param{}, []string{"Key", "Name", "Modifier", "Chain", "IsHas", "Values", "Raw"}},
		{fhir.Compartment{}, []string{"Type", "ID"}},
		{fhir.Operation{}, []string{"Name", "Level"}},
		{smart.Scope{}, []string{"Context", "ResourceType", "Permissions", "Constraints", "Version", "Raw"}},
		{Input{}, []string{"Request", "Entries", "Token", "Claims", "Scopes", "Patient", "Client", "Baskets"}},
		{Patient{}, []string{"System", "Value", "IDs"}},
		{Client{}, []string{"MemberID", "Thumbprint"}},
		{Basket{}, []string{"System", "Code", "HistoricalDepth"}},
	} {
		typ := reflect.TypeOf(tt.value)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%s has fields %v; newCacheKey encodes %v", typ, got, tt.fields)
		}
	}
}

func keyInput() *Input {
	return &Input{
		Request: &fhir.Request{
			Method: "GET", Interaction: fhir.InteractionSearchType, ResourceType: "Observation",
			Params: []fhir.Param{{Key: "code", Name: "code", Values: []string{"a", "b"}, Raw: "a,b"}},
		},
		Token:   map[string]any{"active": true, "exp": json.Number("1900000000"), "cnf": map[string]any{"x5t#S256": "t"}},
		Scopes:  smart.Parse("patient/Observation.rs?_security=s|C"),
		Patient: Patient{System: "sys", Value: "000000018", IDs: []string{"p1"}},
		Client:  Client{MemberID: "m", Thumbprint: "t"},
		Baskets: []Basket{{System: "bs", Code: "laboratoryTests", HistoricalDepth: "2024-01-01"}},
	}
}

func TestCacheKey(t *testing.T) {
	base, ok := newCacheKey("v1", keyInput())
	if !ok {
		t.Fatal("base input refused")
	}
	if again, _ := newCacheKey("v1", keyInput()); again != base {
		t.Fatal("key is not deterministic")
	}
	tests := []struct {
		name    string
		version string
		change  func(*Input)
	}{
		{name: "policy version", version: "v2", change: func(*Input) {}},
		{name: "method", change: func(in *Input) { in.Request.Method = "POST" }},
		{name: "interaction", change: func(in *Input) { in.Request.Interaction = fhir.InteractionRead }},
		{name: "id", change: func(in *Input) { in.Request.ID = "x" }},
		{name: "version id", change: func(in *Input) { in.Request.VersionID = "1" }},
		{name: "compartment", change: func(in *Input) { in.Request.Compartment = &fhir.Compartment{} }},
		{name: "operation", change: func(in *Input) { in.Request.Operation = &fhir.Operation{} }},
		{name: "param values split", change: func(in *Input) { in.Request.Params[0].Values = []string{"a,b"} }},
		{name: "param raw", change: func(in *Input) { in.Request.Params[0].Raw = "a" }},
		{name: "param has", change: func(in *Input) { in.Request.Params[0].IsHas = true }},
		{name: "no params", change: func(in *Input) { in.Request.Params = nil }},
		{name: "wants xml", change: func(in *Input) { in.Request.WantsXML = true }},
		{name: "no request", change: func(in *Input) { in.Request = nil }},
		{name: "empty entries", change: func(in *Input) { in.Entries = []*fhir.Request{} }},
		{name: "nil entry", change: func(in *Input) { in.Entries = []*fhir.Request{nil} }},
		{name: "token number text", change: func(in *Input) { in.Token["exp"] = json.Number("1900000000.0") }},
		{name: "token number as string", change: func(in *Input) { in.Token["exp"] = "1900000000" }},
		{name: "token nested", change: func(in *Input) { in.Token["cnf"] = map[string]any{"x5t#S256": "u"} }},
		{name: "token key moved", change: func(in *Input) {
			delete(in.Token, "cnf")
			in.Token["x5t#S256"] = "t"
		}},
		{name: "token empty", change: func(in *Input) { in.Token = map[string]any{} }},
		{name: "token nil", change: func(in *Input) { in.Token = nil }},
		{name: "scope constraint", change: func(in *Input) { in.Scopes[0].Constraints["_security"] = []string{"s|c"} }},
		{name: "scope version", change: func(in *Input) { in.Scopes[0].Version = 1 }},
		{name: "no scopes", change: func(in *Input) { in.Scopes = nil }},
		{name: "patient ids empty", change: func(in *Input) { in.Patient.IDs = []string{} }},
		{name: "patient ids nil", change: func(in *Input) { in.Patient.IDs = nil }},
		{name: "patient ids joined", change: func(in *Input) { in.Patient.IDs = []string{"p", "1"} }},
		{name: "client", change: func(in *Input) { in.Client.Thumbprint = "u" }},
		{name: "strings shifted", change: func(in *Input) { in.Client.MemberID, in.Client.Thumbprint = "mt", "" }},
		{name: "baskets absent", change: func(in *Input) { in.Baskets = nil }},
		{name: "baskets empty", change: func(in *Input) { in.Baskets = []Basket{} }},
		{name: "basket added", change: func(in *Input) { in.Baskets = append(in.Baskets, Basket{System: "bs", Code: "x"}) }},
		{name: "basket code", change: func(in *Input) { in.Baskets[0].Code = "LaboratoryTests" }},
		{name: "basket system", change: func(in *Input) { in.Baskets[0].System = "bs2" }},
		{name: "basket depth", change: func(in *Input) { in.Baskets[0].HistoricalDepth = "2024-01-02" }},
		{name: "basket depth none", change: func(in *Input) { in.Baskets[0].HistoricalDepth = "" }},
		{name: "basket strings shifted", change: func(in *Input) { in.Baskets[0].Code, in.Baskets[0].HistoricalDepth = "laboratoryTests2024-01-01", "" }},
	}
	seen := map[cacheKey]string{base: "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := keyInput()
			tt.change(in)
			version := tt.version
			if version == "" {
				version = "v1"
			}
			k, ok := newCacheKey(version, in)
			if !ok {
				t.Fatal("input refused")
			}
			if other, dup := seen[k]; dup {
				t.Fatalf("same key as %q", other)
			}
			seen[k] = tt.name
		})
	}
}

func TestCacheKeyRefusesWhatValueRefuses(t *testing.T) {
	in := keyInput()
	in.Token["f"] = func() {}
	if _, ok := newCacheKey("v1", in); ok {
		t.Fatal("key for a token Value refuses")
	}
	if in.Value() != nil {
		t.Fatal("Value accepted the token")
	}
}

func TestDecisionCacheLRU(t *testing.T) {
	c := newDecisionCache(2)
	k := func(b byte) cacheKey { return cacheKey{b} }
	d := func(status int) Decision { return Decision{Status: status, Reasons: []string{"r"}} }
	c.put(k(1), d(401))
	c.put(k(2), d(402))
	if _, ok := c.get(k(1)); !ok { // 1 becomes most recently used
		t.Fatal("1 missing")
	}
	c.put(k(3), d(403)) // evicts 2
	if _, ok := c.get(k(2)); ok {
		t.Fatal("2 not evicted")
	}
	for _, want := range []int{401, 403} {
		got, ok := c.get(k(byte(want - 400)))
		if !ok || got.Status != want {
			t.Fatalf("get(%d) = %+v, %v", want-400, got, ok)
		}
	}
	if cacheLen(c) != 2 {
		t.Fatalf("len = %d", cacheLen(c))
	}
	c.put(k(3), d(499)) // an existing key keeps its decision
	if got, _ := c.get(k(3)); got.Status != 403 {
		t.Fatalf("existing entry replaced: %+v", got)
	}
}

func TestDecisionCacheCopies(t *testing.T) {
	c := newDecisionCache(1)
	orig := Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: Obligations{
		SearchParams: []SearchParam{{Name: "subject", Value: "Patient/p1"}},
		Response:     Response{Types: map[string][]string{"Observation": {"s|c"}}},
		Entries:      []Obligations{{SearchParams: []SearchParam{{Name: "a", Value: "b"}}}},
	}}
	c.put(cacheKey{1}, orig)
	orig.Obligations.SearchParams[0].Value = "changed"
	got, _ := c.get(cacheKey{1})
	got.Obligations.Response.Types["Observation"][0] = "changed"
	got.Obligations.Entries[0].SearchParams[0].Value = "changed"
	again, _ := c.get(cacheKey{1})
	want := Decision{Allow: true, Status: 200, Reasons: []string{}, Obligations: Obligations{
		SearchParams: []SearchParam{{Name: "subject", Value: "Patient/p1"}},
		Response:     Response{Types: map[string][]string{"Observation": {"s|c"}}},
		Entries:      []Obligations{{SearchParams: []SearchParam{{Name: "a", Value: "b"}}}},
	}}
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("cached decision changed through a copy: %+v", again)
	}
}

// TestEvalInputHitSkipsEvaluation swaps the engine's query for one that
// always denies: an input seen before still gets its cached decision, a new
// one the new query's.
func TestEvalInputHitSkipsEvaluation(t *testing.T) {
	ctx := context.Background()
	allow := `decision := {"allow": true, "status": 200, "reasons": []}`
	e, err := Load(ctx, fstest.MapFS{"p.rego": {Data: []byte("package fhir.pep\n\n" + allow + "\n")}}, WithDecisionCache(8))
	if err != nil {
		t.Fatal(err)
	}
	deny, err := Load(ctx, fstest.MapFS{"p.rego": {Data: []byte("package fhir.pep\n\ndecision := {\"allow\": false, \"status\": 403, \"reasons\": [\"x\"]}\n")}})
	if err != nil {
		t.Fatal(err)
	}
	seen := keyInput()
	if d, err := e.EvalInput(ctx, seen); err != nil || !d.Allow {
		t.Fatalf("first EvalInput = %+v, %v", d, err)
	}
	e.query = deny.query
	if d, err := e.EvalInput(ctx, keyInput()); err != nil || !d.Allow {
		t.Fatalf("cached EvalInput = %+v, %v; want the cached allow", d, err)
	}
	other := keyInput()
	other.Request.ID = "other"
	if d, err := e.EvalInput(ctx, other); err != nil || d.Allow {
		t.Fatalf("new input = %+v, %v; want the new query's deny", d, err)
	}
	if n := cacheLen(e.cache); n != 2 {
		t.Fatalf("cache holds %d decisions, want 2", n)
	}
}

// TestEvalInputErrorsNotCached: a failed evaluation (here: cancelled) is
// retried, not remembered.
func TestEvalInputErrorsNotCached(t *testing.T) {
	e, err := Load(context.Background(), fstest.MapFS{"p.rego": {Data: []byte("package fhir.pep\n\ndecision := {\"allow\": true, \"status\": 200, \"reasons\": []}\n")}}, WithDecisionCache(8))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := e.EvalInput(cancelled, keyInput()); !errors.Is(err, ErrEval) || d.Allow {
		t.Fatalf("cancelled EvalInput = %+v, %v", d, err)
	}
	if n := cacheLen(e.cache); n != 0 {
		t.Fatalf("error cached: %d entries", n)
	}
	if d, err := e.EvalInput(context.Background(), keyInput()); err != nil || !d.Allow {
		t.Fatalf("EvalInput after error = %+v, %v", d, err)
	}
}

// cacheLen is the number of cached decisions.
func cacheLen(c *decisionCache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
