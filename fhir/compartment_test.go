package fhir

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var updateCompartmentJSON = flag.Bool("update-compartment-json", false,
	"rewrite compartment_patient.json from the Go data")

// compartmentDoc is the schema of compartment_patient.json.
type compartmentDoc struct {
	FHIRVersion string                         `json:"fhirVersion"`
	Compartment string                         `json:"compartment"`
	Source      []string                       `json:"source"`
	Resources   map[string]compartmentDocEntry `json:"resources"`
}

type compartmentDocEntry struct {
	ByID   bool                  `json:"byId"`
	Params []compartmentDocParam `json:"params"`
}

type compartmentDocParam struct {
	Name  string   `json:"name"`
	Paths []string `json:"paths"`
}

func docFromGo() compartmentDoc {
	doc := compartmentDoc{
		FHIRVersion: "4.0.1",
		Compartment: "Patient",
		Source: []string{
			"https://hl7.org/fhir/R4/compartmentdefinition-patient.json",
			"https://hl7.org/fhir/R4/search-parameters.json",
		},
		Resources: map[string]compartmentDocEntry{},
	}
	for typ, e := range PatientCompartment {
		de := compartmentDocEntry{ByID: e.ByID}
		for _, name := range e.Params {
			dp := compartmentDocParam{Name: name}
			for _, path := range e.ParamPaths[name] {
				dp.Paths = append(dp.Paths, strings.Join(path, "."))
			}
			de.Params = append(de.Params, dp)
		}
		doc.Resources[typ] = de
	}
	return doc
}

// TestPatientCompartmentJSON keeps compartment_patient.json equal to the Go
// data. Regenerate with: go test ./fhir/ -run TestPatientCompartmentJSON -update-compartment-json
func TestPatientCompartmentJSON(t *testing.T) {
	want, err := json.MarshalIndent(docFromGo(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateCompartmentJSON {
		if err := os.WriteFile("compartment_patient.json", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(PatientCompartmentJSON(), want) {
		t.Fatal("compartment_patient.json differs from PatientCompartment; rerun with -update-compartment-json")
	}
	var doc compartmentDoc
	if err := json.Unmarshal(PatientCompartmentJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc, docFromGo()) {
		t.Fatal("decoded JSON differs from Go data")
	}
}

func TestPatientCompartmentJSONIsACopy(t *testing.T) {
	a := PatientCompartmentJSON()
	a[0] = 'X'
	if PatientCompartmentJSON()[0] == 'X' {
		t.Fatal("PatientCompartmentJSON exposes the embedded bytes")
	}
}

func TestPatientCompartmentShape(t *testing.T) {
	// 66 resource types have inclusion criteria in the R4 definition.
	if got := len(PatientCompartment); got != 66 {
		t.Fatalf("len(PatientCompartment) = %d, want 66", got)
	}
	for typ, e := range PatientCompartment {
		if !IsResourceType(typ) {
			t.Errorf("%s: not an R4 resource type", typ)
		}
		if len(e.Params) == 0 || len(e.Paths) == 0 {
			t.Errorf("%s: empty entry", typ)
		}
		if e.ByID != (typ == "Patient") {
			t.Errorf("%s: ByID = %v", typ, e.ByID)
		}
		for _, p := range e.Params {
			if !ValidParamName(p) {
				t.Errorf("%s: invalid param name %q", typ, p)
			}
			if len(e.ParamPaths[p]) == 0 {
				t.Errorf("%s.%s: no paths", typ, p)
			}
			for _, path := range e.ParamPaths[p] {
				if !slices.ContainsFunc(e.Paths, func(q []string) bool { return slices.Equal(q, path) }) {
					t.Errorf("%s.%s: path %v missing from Paths", typ, p, path)
				}
			}
		}
	}
}

func TestPatientCompartmentEntries(t *testing.T) {
	tests := []struct {
		typ        string
		params     []string
		paths      []string
		paramPaths map[string][]string
	}{
		{"Observation", []string{"subject", "performer"}, []string{"subject", "performer"}, nil},
		{"AllergyIntolerance", []string{"patient", "recorder", "asserter"}, []string{"patient", "recorder", "asserter"}, nil},
		{"Encounter", []string{"patient"}, []string{"subject"}, nil},
		{"Condition", []string{"patient", "asserter"}, []string{"subject", "asserter"}, nil},
		{"Appointment", []string{"actor"}, []string{"participant.actor"}, nil},
		{"AuditEvent", []string{"patient"}, []string{"agent.who", "entity.what"},
			map[string][]string{"patient": {"agent.who", "entity.what"}}},
		{"MedicationDispense", []string{"subject", "patient", "receiver"}, []string{"subject", "receiver"},
			map[string][]string{"subject": {"subject"}, "patient": {"subject"}, "receiver": {"receiver"}}},
		{"Patient", []string{"link"}, []string{"link.other"}, nil},
		{"Person", []string{"patient"}, []string{"link.target"}, nil},
		{"SupplyRequest", []string{"subject"}, []string{"deliverTo"}, nil},
		{"EnrollmentRequest", []string{"subject"}, []string{"candidate"}, nil},
		{"Coverage", []string{"policy-holder", "subscriber", "beneficiary", "payor"},
			[]string{"policyHolder", "subscriber", "beneficiary", "payor"}, nil},
		{"CarePlan", []string{"patient", "performer"}, []string{"subject", "activity.detail.performer"}, nil},
		{"Provenance", []string{"patient"}, []string{"target"}, nil},
		{"ResearchSubject", []string{"individual"}, []string{"individual"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			e, ok := PatientCompartment[tc.typ]
			if !ok {
				t.Fatal("missing")
			}
			if !slices.Equal(e.Params, tc.params) {
				t.Errorf("Params = %v, want %v", e.Params, tc.params)
			}
			var paths []string
			for _, p := range e.Paths {
				paths = append(paths, strings.Join(p, "."))
			}
			if !slices.Equal(paths, tc.paths) {
				t.Errorf("Paths = %v, want %v", paths, tc.paths)
			}
			for name, want := range tc.paramPaths {
				var got []string
				for _, p := range e.ParamPaths[name] {
					got = append(got, strings.Join(p, "."))
				}
				if !slices.Equal(got, want) {
					t.Errorf("ParamPaths[%s] = %v, want %v", name, got, want)
				}
			}
		})
	}
}
