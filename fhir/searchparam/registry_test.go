package searchparam

import (
	"testing"

	"github.com/hdp-il/fhir-pep/fhir"
)

func TestDataLoads(t *testing.T) {
	tab, err := parse(r4JSON)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for base, m := range tab {
		if base != "Resource" && base != "DomainResource" && !fhir.IsResourceType(base) {
			t.Errorf("base %q is no R4 resource type", base)
		}
		n += len(m)
	}
	// 1377 R4 SearchParameters define 1708 (base, code) pairs; a much
	// smaller number means a broken generator or input.
	if len(tab) < 130 || n < 1700 {
		t.Fatalf("registry has %d bases and %d parameters", len(tab), n)
	}
}

func TestParseRefusesBadData(t *testing.T) {
	cases := map[string]string{
		"not json":           `{`,
		"wrong version":      `{"version":"5.0.0","types":{"Account":{"name":"string"}}}`,
		"no types":           `{"version":"4.0.1","types":{}}`,
		"unknown type":       `{"version":"4.0.1","types":{"Account":{"name":"text"}}}`,
		"targets on a token": `{"version":"4.0.1","types":{"Account":{"name":"token:Patient"}}}`,
		"unknown target":     `{"version":"4.0.1","types":{"Account":{"owner":"reference:Nope"}}}`,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parse([]byte(data)); err == nil {
				t.Fatal("parse accepted bad data")
			}
		})
	}
}

func TestLookup(t *testing.T) {
	cases := []struct {
		rt, name string
		ok       bool
		typ      Type
		base     string
	}{
		{"Observation", "code", true, Token, "Observation"},
		{"Observation", "patient", true, Reference, "Observation"},
		{"Observation", "value-quantity", true, Quantity, "Observation"},
		{"Observation", "code-value-quantity", true, Composite, "Observation"},
		{"Observation", "date", true, Date, "Observation"},
		{"Patient", "name", true, String, "Patient"},
		{"Patient", "birthdate", true, Date, "Patient"},
		{"RiskAssessment", "probability", true, Number, "RiskAssessment"},
		{"Location", "near", true, Special, "Location"},
		{"Observation", "_lastUpdated", true, Date, "Resource"},
		{"Observation", "_security", true, Token, "Resource"},
		{"Observation", "_profile", true, URI, "Resource"},
		{"Observation", "_text", true, String, "DomainResource"},
		{"Bundle", "_text", false, "", ""},
		{"", "_id", true, Token, "Resource"},
		{"", "code", false, "", ""},
		{"Observation", "name", false, "", ""},
		{"Observation", "Code", false, "", ""},
		// The 5.0.0 draft that the source package carries is not R4.
		{"DeviceDefinition", "classification", false, "", ""},
		{"Nope", "_id", true, Token, "Resource"},
	}
	for _, tc := range cases {
		t.Run(tc.rt+"."+tc.name, func(t *testing.T) {
			p, ok := Lookup(tc.rt, tc.name)
			if ok != tc.ok || p.Type != tc.typ || p.Base != tc.base {
				t.Fatalf("Lookup = %+v, %v; want %v %q %q", p, ok, tc.ok, tc.typ, tc.base)
			}
		})
	}
	p, _ := Lookup("Observation", "subject")
	if p.AnyTarget || len(p.Targets) != 4 || !p.targets("Patient") || p.targets("Practitioner") {
		t.Fatalf("Observation.subject targets %v", p.Targets)
	}
	p, _ = Lookup("Observation", "focus")
	if !p.AnyTarget || !p.targets("Condition") || p.targets("Nope") {
		t.Fatalf("Observation.focus: %+v", p)
	}
}

func TestModifierAllowed(t *testing.T) {
	cases := []struct {
		rt, name, mod string
		ok            bool
	}{
		{"Patient", "name", "exact", true},
		{"Patient", "name", "contains", true},
		{"Patient", "name", "text", false},
		{"Patient", "name", "missing", true},
		{"Observation", "code", "text", true},
		{"Observation", "code", "not", true},
		{"Observation", "code", "in", true},
		{"Observation", "code", "not-in", true},
		{"Observation", "code", "above", true},
		{"Observation", "code", "below", true},
		{"Patient", "identifier", "of-type", true},
		{"Observation", "code", "exact", false},
		{"Observation", "code", "Not", false},
		{"Observation", "subject", "Patient", true},
		{"Observation", "subject", "Practitioner", false},
		{"Observation", "subject", "identifier", true},
		{"Observation", "subject", "patient", false},
		{"Observation", "subject", "below", false},
		{"Observation", "focus", "Condition", true},
		{"Observation", "date", "missing", true},
		{"Observation", "date", "exact", false},
		{"Observation", "value-quantity", "missing", true},
		{"Observation", "value-quantity", "not", false},
		{"Observation", "_profile", "below", true},
		{"Observation", "_profile", "exact", false},
		{"Location", "near", "missing", false},
		{"Observation", "code-value-quantity", "missing", true},
		{"Observation", "code-value-quantity", "text", false},
	}
	for _, tc := range cases {
		t.Run(tc.rt+"."+tc.name+":"+tc.mod, func(t *testing.T) {
			p, ok := Lookup(tc.rt, tc.name)
			if !ok {
				t.Fatal("not found")
			}
			if got := ModifierAllowed(p, tc.mod); got != tc.ok {
				t.Fatalf("ModifierAllowed = %v, want %v", got, tc.ok)
			}
		})
	}
}
