package enforce

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"
)

// TestSearchParamTables checks the tables against each other: element names
// are valid, every clinical date has a narrowing parameter whose elements
// are all clinical-date elements (so a ge narrowing never removes what the
// response check would let out, but for a resource without that element).
func TestSearchParamTables(t *testing.T) {
	for typ, params := range searchParams {
		if !validTypeName(typ) {
			t.Errorf("type %q", typ)
		}
		for name, def := range params {
			for _, path := range def.paths {
				for _, n := range path.names {
					if !validElementName(n) {
						t.Errorf("%s.%s: element %q", typ, name, n)
					}
				}
			}
		}
	}
	if len(clinicalDates) != len(clinicalDateParams) {
		t.Fatalf("%d clinical dates, %d narrowing parameters", len(clinicalDates), len(clinicalDateParams))
	}
	for typ, clinical := range clinicalDates {
		name, ok := clinicalDateParams[typ]
		if !ok {
			t.Errorf("%s: no narrowing parameter", typ)
			continue
		}
		def := searchParams[typ][name]
		if def == nil || def.kind != kindDate {
			t.Errorf("%s: %s is not a date parameter of the type", typ, name)
			continue
		}
		for _, path := range def.paths {
			if !slices.ContainsFunc(clinical.paths, func(c elemPath) bool { return reflect.DeepEqual(c, path) }) {
				t.Errorf("%s: %s reads %v, which is not a clinical date element", typ, name, path)
			}
		}
	}
}

// TestClinicalDateDataMatchesPolicy: the policy narrows with the same
// parameters (policies/fhir/pep/clinical_date/data.json).
func TestClinicalDateDataMatchesPolicy(t *testing.T) {
	raw, err := os.ReadFile("../policies/fhir/pep/clinical_date/data.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Params map[string]string `json:"params"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(data.Params, ClinicalDateParams()) {
		t.Fatalf("policy data %v\nGo table %v", data.Params, ClinicalDateParams())
	}
}
