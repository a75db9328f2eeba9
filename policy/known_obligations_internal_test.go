package policy

import (
	"context"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hdp-il/fhir-pep/policies"
)

// The allowing decision a kept grant settles (allow_decision, with its
// obligations) is decoded once and copied out: each decision equals the one
// decoded from scratch (Eval), and a caller that changes what it got
// changes neither the kept form nor the next decision.
func TestKeptGrantObligationsCopied(t *testing.T) {
	e, err := Load(context.Background(), policies.FS())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := grantTestInput(t, "/Observation/obs-1", grantLab+" patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|Measurements", nil)
	want, err := e.Eval(ctx, in.Value())
	if err != nil || !want.Allow || len(want.Obligations.SearchParams) == 0 || len(want.Obligations.Response.Rules) == 0 {
		t.Fatalf("precondition: %+v %v", want, err)
	}
	for i := range 3 {
		got, err := e.EvalInput(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("call %d: %+v, want %+v", i, got, want)
		}
		// Scribble over everything the caller received.
		got.Obligations.SearchParams[0].Value = "scribbled"
		got.Obligations.SearchParams = append(got.Obligations.SearchParams, SearchParam{Name: "x", Value: "y"})
		got.Obligations.Response.Rules[0].Buckets[0] = "scribbled"
		got.Obligations.Response.Rules[0].Type = "scribbled"
		for k := range got.Obligations.Response.Types {
			got.Obligations.Response.Types[k][0] = "scribbled"
		}
		got.Obligations.Response.Types["Extra"] = []string{"x"}
		got.Obligations.Response.Depths = map[string]string{"x": "2020-01-01"}
		got.Reasons = append(got.Reasons, "scribbled")
		got.Status = 500
	}
	kg := e.grants.grantFor(ctx, in)
	if kg == nil || kg.allow.term == nil || !kg.allow.ok {
		t.Fatalf("the grant's allowing decision was not kept decoded: %+v", kg)
	}
}

// knownDecision serves only its own term's object (not an equal one), and
// never a term that fails to decode.
func TestKnownDecisionOnlyItsTerm(t *testing.T) {
	good := ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": [{"name": "a", "value": "b"}]}}`)
	equal := ast.MustParseTerm(good.String())
	k := &knownDecision{term: good}
	if _, ok := k.decoded(equal.Value); ok {
		t.Fatal("served for another term")
	}
	d, ok := k.decoded(good.Value)
	if !ok || !d.Allow || len(d.Obligations.SearchParams) != 1 {
		t.Fatalf("not served for its own term: %+v %v", d, ok)
	}
	var none *knownDecision
	if _, ok := none.decoded(good.Value); ok {
		t.Fatal("nil served")
	}
	if _, ok := (&knownDecision{}).decoded(good.Value); ok {
		t.Fatal("served without a term")
	}
	bad := ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": [], "obligations": {"search_params": "x"}}`)
	kb := &knownDecision{term: bad}
	if _, ok := kb.decoded(bad.Value); ok {
		t.Fatal("served a term that does not decode")
	}
}

// decoded serves only its own term, and never a term that fails to
// decode: the caller then decodes and reports the error.
func TestKnownObligationsOnlyItsTerm(t *testing.T) {
	good := ast.MustParseTerm(`{"search_params": [], "read_as_search": false, "empty_result": false, "response": {"types": {}, "rules": [], "depths": {}}}`)
	equal := ast.MustParseTerm(good.String())
	k := &knownObligations{term: good}
	if _, ok := k.decoded(equal.Value); ok {
		t.Fatal("served for another term")
	}
	if _, ok := k.decoded(good.Value); !ok {
		t.Fatal("not served for its own term")
	}
	var none *knownObligations
	if _, ok := none.decoded(good.Value); ok {
		t.Fatal("nil served")
	}
	bad := ast.MustParseTerm(`{"search_params": "x"}`)
	kb := &knownObligations{term: bad}
	if _, ok := kb.decoded(bad.Value); ok {
		t.Fatal("served a term that does not decode")
	}
	if _, err := decodeDecision(ast.MustParseTerm(`{"allow": true, "status": 200, "reasons": [], "obligations": `+bad.String()+`}`).Value, kb); err == nil {
		t.Fatal("no error for bad obligations")
	}
}
