package policy_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/hdp-il/fhir-pep/policy"
)

// TestDefaultPoliciesRulesAndDepths: Go's input (parsed scope strings,
// baskets) through the default policies, to the response rules, depths and
// narrowing the handler applies.
func TestDefaultPoliciesRulesAndDepths(t *testing.T) {
	e := loadDefaults(t)
	const (
		lab       = ilBuckets + "|LaboratoryTests"
		pathology = ilBuckets + "|Pathology"
		encounter = ilBuckets + "|EncounterInformation"
	)
	param := func(d policy.Decision, name string) []string {
		var out []string
		for _, p := range d.Obligations.SearchParams {
			if p.Name == name {
				out = append(out, p.Value)
			}
		}
		return out
	}
	t.Run("repeated _security in one scope is AND", func(t *testing.T) {
		in := input(t, get(t, "/Observation"), "patient/Observation.rs?_security="+lab+"&_security="+pathology)
		d, err := e.EvalInput(context.Background(), in)
		if err != nil || !d.Allow {
			t.Fatalf("%+v %v", d, err)
		}
		if got := param(d, "_security"); len(got) != 2 {
			t.Fatalf("want two _security parameters (AND), got %q", got)
		}
		want := []policy.ResponseRule{{
			Type:        "Observation",
			Buckets:     []string{ilBuckets + "|laboratorytests", ilBuckets + "|pathology"},
			Constraints: []policy.SearchParam{{Name: "_security", Value: lab}, {Name: "_security", Value: pathology}},
			Narrowed:    true,
		}}
		if !reflect.DeepEqual(d.Obligations.Response.Rules, want) {
			t.Fatalf("rules %+v", d.Obligations.Response.Rules)
		}
	})
	t.Run("vread keeps the date constraint for the response", func(t *testing.T) {
		in := input(t, get(t, "/Encounter/e1/_history/1"), "patient/Encounter.rs?_security="+encounter+"&date=ge2024-01-01")
		d, err := e.EvalInput(context.Background(), in)
		if err != nil || !d.Allow || !d.Obligations.ReadAsSearch {
			t.Fatalf("%+v %v", d, err)
		}
		if r := d.Obligations.Response.Rules; len(r) != 1 || !reflect.DeepEqual(r[0].Constraints[1], policy.SearchParam{Name: "date", Value: "ge2024-01-01"}) {
			t.Fatalf("rules %+v", r)
		}
	})
	t.Run("historical_depth", func(t *testing.T) {
		in := input(t, get(t, "/Observation"), labScope)
		in.Baskets = []policy.Basket{{System: ilBuckets, Code: "laboratoryTests", HistoricalDepth: "2024-01-01"}}
		d, err := e.EvalInput(context.Background(), in)
		if err != nil || !d.Allow {
			t.Fatalf("%+v %v", d, err)
		}
		if got := param(d, "date"); !reflect.DeepEqual(got, []string{"ge2024-01-01"}) {
			t.Fatalf("date narrowing %q", got)
		}
		if got := d.Obligations.Response.Depths; !reflect.DeepEqual(got, map[string]string{ilBuckets + "|laboratorytests": "2024-01-01"}) {
			t.Fatalf("depths %v", got)
		}
	})
	t.Run("no baskets claim: no depth", func(t *testing.T) {
		d, err := e.EvalInput(context.Background(), input(t, get(t, "/Observation"), labScope))
		if err != nil || !d.Allow || d.Obligations.Response.Depths != nil || param(d, "date") != nil {
			t.Fatalf("%+v %v", d, err)
		}
	})
}
