package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func TestDecodeResultSet(t *testing.T) {
	allow := ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": []}`).Value
	one := func(values ...any) rego.Result {
		r := rego.Result{}
		for _, v := range values {
			r.Expressions = append(r.Expressions, &rego.ExpressionValue{Value: v})
		}
		return r
	}
	tests := []struct {
		name string
		rs   rego.ResultSet
		want error
	}{
		{name: "one result", rs: rego.ResultSet{one(allow)}},
		{name: "no result", rs: nil, want: ErrUndefined},
		{name: "two results", rs: rego.ResultSet{one(allow), one(allow)}, want: ErrMultiple},
		{name: "two expressions", rs: rego.ResultSet{one(allow, allow)}, want: ErrMistyped},
		{name: "no expression", rs: rego.ResultSet{one()}, want: ErrMistyped},
		{name: "JSON instead of AST", rs: rego.ResultSet{one(map[string]any{"allow": true})}, want: ErrMistyped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decodeResultSet(tt.rs, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				if !d.Allow || d.Status != 200 {
					t.Fatalf("decision = %+v", d)
				}
				return
			}
			if !reflect.DeepEqual(d, policyErrorDecision()) {
				t.Fatalf("decision with error = %+v", d)
			}
		})
	}
}

func TestMistypedNamesFieldNotValue(t *testing.T) {
	v := ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "subject", "value": ""}]}}`).Value
	_, err := decodeDecision(v, nil)
	if !errors.Is(err, ErrMistyped) || !strings.Contains(err.Error(), "decision.obligations.search_params[].value") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzDecodeDecision: whatever a policy returns, the decoder never panics,
// returns the error decision with every error, and only returns decisions
// that keep the contract's invariants.
func FuzzDecodeDecision(f *testing.F) {
	for _, seed := range []string{
		`{"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "subject", "value": "Patient/a"}], "read_as_search": true, "empty_result": false, "response": {"types": {"Observation": ["s|c"]}}, "entries": [{}]}}`,
		`{"allow": false, "status": 403, "reasons": ["scope_missing"], "obligations": {}}`,
		`{"allow": false, "status": 404, "reasons": {"a", "b"}}`,
		`{"allow": true, "status": 200.0, "reasons": []}`,
		`{"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "", "value": "x"}]}}`,
		`[1, 2]`,
		`"decision"`,
		`{"allow": null}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		term, err := ast.ParseTerm(src)
		if err != nil || !term.IsGround() {
			return
		}
		d, err := decodeDecision(term.Value, nil)
		if err != nil {
			if !reflect.DeepEqual(d, policyErrorDecision()) {
				t.Fatalf("error %v with decision %+v", err, d)
			}
			return
		}
		if d.Allow && (d.Status < 200 || d.Status > 299) {
			t.Fatalf("allow with status %d", d.Status)
		}
		if !d.Allow && (d.Status < 400 || d.Status > 599) {
			t.Fatalf("deny with status %d", d.Status)
		}
		for _, o := range append([]Obligations{d.Obligations}, d.Obligations.Entries...) {
			for _, p := range o.SearchParams {
				if p.Name == "" || p.Value == "" {
					t.Fatalf("empty search param %+v", p)
				}
			}
			for _, e := range o.Entries {
				if len(e.Entries) > 0 {
					t.Fatal("nested entries decoded")
				}
			}
		}
		for _, r := range d.Reasons {
			if r == "" {
				t.Fatal("empty reason decoded")
			}
		}
	})
}
