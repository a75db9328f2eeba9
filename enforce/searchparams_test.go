package enforce

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/hdp-il/fhir-pep/fhir/searchparam"
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

// TestSearchParamsFromRegistry: the parameters the check verifies are R4
// parameters of the registry (but the listed exceptions, which must stay
// absent from it), with the registry's search type as their kind.
func TestSearchParamsFromRegistry(t *testing.T) {
	for typ, params := range paramPaths {
		for code := range params {
			got := searchParams[typ][code]
			if want, ok := beyondR4[typ+"."+code]; ok {
				if p, found := searchparam.Lookup(typ, code); found {
					t.Errorf("%s.%s is in the registry now (%s): drop it from beyondR4", typ, code, p.Type)
				}
				if got.kind != want {
					t.Errorf("%s.%s: kind %d, want %d", typ, code, got.kind, want)
				}
				continue
			}
			p, found := searchparam.Lookup(typ, code)
			if !found {
				t.Errorf("%s.%s: not in the registry", typ, code)
				continue
			}
			if want := map[searchparam.Type]valueKind{searchparam.Token: kindToken, searchparam.Date: kindDate}[p.Type]; got.kind != want || (p.Type != searchparam.Token && p.Type != searchparam.Date) {
				t.Errorf("%s.%s: kind %d, registry type %s", typ, code, got.kind, p.Type)
			}
		}
	}
	for _, tt := range []struct {
		typ, code string
		kind      valueKind
		ok        bool
	}{
		{"Observation", "code", kindToken, true},
		{"Observation", "date", kindDate, true},
		{"Condition", "onset-date", kindDate, true},
		{"MedicationRequest", "authoredon", kindDate, true},
		{"Observation", "subject", 0, false},      // reference
		{"Observation", "value-string", 0, false}, // string
		{"Observation", "no-such", 0, false},
		{"Flag", "category", 0, false}, // not R4: only through beyondR4
	} {
		kind, err := registryKind(tt.typ, tt.code)
		if (err == nil) != tt.ok || (tt.ok && kind != tt.kind) {
			t.Errorf("registryKind(%s, %s) = %d, %v", tt.typ, tt.code, kind, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a table with a reference parameter was accepted")
		}
	}()
	deriveParams(map[string]map[string][]elemPath{"Observation": {"subject": paths(elem("subject"))}})
}
