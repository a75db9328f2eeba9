package policy

import (
	"errors"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestDecodeResponseRulesAndDepths(t *testing.T) {
	wrap := func(response string) ast.Value {
		return ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": [], "obligations": {"response": ` + response + `}}`).Value
	}
	d, err := decodeDecision(wrap(`{
		"types": {"Encounter": ["s|e"]},
		"rules": [{"type": "Encounter", "buckets": ["s|e"], "constraints": [{"name": "date", "value": "ge2024-01-01"},
		          {"name": "_security", "value": "s|e"}], "narrowed": true},
		          {"type": "*", "buckets": ["s|x"]}],
		"depths": {"s|e": "2024-01-01"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Response{
		Types: map[string][]string{"Encounter": {"s|e"}},
		Rules: []ResponseRule{
			{Type: "Encounter", Buckets: []string{"s|e"}, Constraints: []SearchParam{{"date", "ge2024-01-01"}, {"_security", "s|e"}}, Narrowed: true},
			{Type: "*", Buckets: []string{"s|x"}},
		},
		Depths: map[string]string{"s|e": "2024-01-01"},
	}
	if !reflect.DeepEqual(d.Obligations.Response, want) {
		t.Fatalf("got %+v", d.Obligations.Response)
	}
	// A cached decision is a deep copy.
	c := copyDecision(d)
	c.Obligations.Response.Rules[0].Constraints[0].Value = "changed"
	c.Obligations.Response.Depths["s|e"] = "1900-01-01"
	if !reflect.DeepEqual(d.Obligations.Response, want) {
		t.Fatal("copyDecision shares rules or depths")
	}

	bad := []string{
		`{"rules": {}}`,
		`{"rules": [{"buckets": ["s|e"]}]}`,
		`{"rules": [{"type": "", "buckets": ["s|e"]}]}`,
		`{"rules": [{"type": "Encounter"}]}`,
		`{"rules": [{"type": "Encounter", "buckets": ["s|e"], "constraints": [{"name": "date", "value": ""}]}]}`,
		`{"rules": [{"type": "Encounter", "buckets": ["s|e"], "narrowed": "yes"}]}`,
		`{"rules": [{"type": "Encounter", "buckets": ["s|e"], "extra": 1}]}`,
		`{"depths": []}`,
		`{"depths": {"s|e": "2024"}}`,
		`{"depths": {"s|e": "2024-13-01"}}`,
		`{"depths": {"s|e": "2024-01-01T00:00:00Z"}}`,
		`{"depths": {"s|e": 20240101}}`,
		`{"depth": {}}`,
	}
	for _, b := range bad {
		if _, err := decodeDecision(wrap(b), nil); !errors.Is(err, ErrMistyped) {
			t.Errorf("%s: err = %v", b, err)
		}
	}
}
