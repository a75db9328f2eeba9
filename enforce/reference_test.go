package enforce

import "testing"

func TestClassify(t *testing.T) {
	a := testAccess(t)
	tests := []struct {
		ref  string
		want refKind
	}{
		{"Patient/a", refOwn},
		{"Patient/patient-with-israeli-id", refOwn},
		{"Patient/a/_history/2", refOwn},
		{"Patient/a/_history/v.2-b", refOwn},
		{testUpstream + "/Patient/a", refOwn},
		{testPublic + "/Patient/a/_history/1", refOwn},
		{"Patient/ab", refForeign},
		{"Patient/b", refForeign},
		{"Patient/A", refForeign},
		{"patient/a", refForeign},
		{"PATIENT/a", refForeign},
		{"Patient/a/", refForeign},
		{"Patient/a/_history", refForeign},
		{"Patient/a/_history/", refForeign},
		{"Patient/a/_history/1/x", refForeign},
		{"Patient/a?x=1", refForeign},
		{"Patient/a#x", refForeign},
		{"Patient/", refForeign},
		{"Patient", refForeign},
		{"Patient?identifier=1", refForeign},
		{"/Patient/a", refForeign},
		{"//hapi.internal:8080/fhir/Patient/a", refForeign},
		{"http://other.example/Patient/a", refForeign},
		{testUpstream + "x/Patient/a", refForeign},
		{testUpstream + "/Observation/1/Patient/a", refForeign},
		{"https://fhir.hmo-b.example/R4/Patient/a", refOwn},
		{"HTTPS://fhir.hmo-b.example/R4/Patient/a", refForeign},
		{"Observation/1", refOther},
		{"Group/a", refOther},
		{"#p1", refOther},
		{"urn:uuid:1234", refOther},
		{"", refOther},
		{"Practitioner/patient", refOther},
		{"Patients/a", refOther},
		{"Practitioner/patient/_history/1", refOther},
		{"Patient/a/Observation/1", refOther},
		{"Observation?subject=Patient/1", refOther},
		{"Patient/a//", refForeign},
		{"Patient/a/_history/1/_history/2", refForeign},
		{"http://x.example/Patient/a/_history/3", refForeign},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			if got := a.classify([]byte(tc.ref)); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPatientTypeName(t *testing.T) {
	for in, want := range map[string]bool{
		"Patient": true, "patient": true, "http://hl7.org/fhir/StructureDefinition/Patient": true,
		"Practitioner": false, "": false, "/Patient": false, "Patients": false,
	} {
		if got := patientTypeName([]byte(in)); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}
