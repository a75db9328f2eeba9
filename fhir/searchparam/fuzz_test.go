package searchparam

import (
	"errors"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
)

// FuzzValidate: any query the parser accepts is either valid or refused
// with an *Error naming a parameter of the query; Validate never panics.
func FuzzValidate(f *testing.F) {
	reg, err := New(Config{Extra: []Extra{{ResourceType: "*", Name: "x-ref", Type: Reference}}})
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []string{
		"code=1", "subject:Patient.name:exact=a", "_include:iterate=Observation:patient:Patient",
		"_revinclude=Provenance:target", "_has:Observation:patient:code=1", "x-ref:Patient.name=x",
		"patient.organization.partof.name=x", "_sort=-date", "_type=Patient", "code:missing=true",
	} {
		f.Add("Observation", q)
		f.Add("", q)
	}
	f.Fuzz(func(t *testing.T, rt, q string) {
		params, err := fhir.ParseQuery(q)
		if err != nil {
			return
		}
		err = reg.Validate(rt, params)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Param == "" {
			t.Fatalf("untyped error %v", err)
		}
		for _, p := range params {
			if p.Key == e.Param {
				return
			}
		}
		t.Fatalf("error names %q, not a parameter of %q", e.Param, q)
	})
}
