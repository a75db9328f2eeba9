package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

func TestDecodeResult(t *testing.T) {
	allow := ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": []}`).Value
	evalErr := &topdown.Error{Code: topdown.ConflictErr, Message: "x"}
	tests := []struct {
		name    string
		v       ast.Value
		results int
		err     error
		want    error
	}{
		{name: "one result", v: allow, results: 1},
		{name: "no result", results: 0, want: ErrUndefined},
		{name: "two results", v: allow, results: 2, want: ErrMultiple},
		{name: "evaluation error", v: allow, results: 1, err: evalErr, want: ErrEval},
		{name: "not an object", v: ast.String("allow"), results: 1, want: ErrMistyped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decodeResult(tt.v, tt.results, tt.err, nil)
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
