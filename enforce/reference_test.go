package enforce

import (
	"bytes"
	"strings"
	"testing"
)

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

// mentionsPatientBefore is mentionsPatient as it was before its cuts
// used the library searches (frozen, as scanner_oracle_test.go keeps the
// scanner): TestMentionsPatientOracle holds the two to the same answers.
func mentionsPatientBefore(ref []byte) bool {
	p, queried := ref, false
	for i, c := range p {
		if c == '?' || c == '#' {
			p, queried = p[:i], true
			break
		}
	}
	for i := 0; i+9 <= len(p); i++ {
		if string(p[i:i+9]) == "/_history" && (len(p) == i+9 || p[i+9] == '/') {
			p = p[:i]
			break
		}
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if i := bytes.LastIndexByte(p, '/'); i >= 0 {
		last, before := p[i+1:], p[:i]
		if j := bytes.LastIndexByte(before, '/'); j >= 0 {
			before = before[j+1:]
		}
		if keyIs(before, "Patient") {
			return true
		}
		return queried && keyIs(last, "Patient")
	}
	return keyIs(p, "Patient")
}

// TestMentionsPatientOracle compares mentionsPatient with its frozen
// previous version on references built from the pieces its cuts look
// for, in every order up to five pieces; and with the plain string
// version of oracle_test.go, which does not cut a leading "_history"
// segment (the live check does not either: it reads such a reference as
// naming a Patient, the stricter answer).
func TestMentionsPatientOracle(t *testing.T) {
	pieces := []string{"Patient", "patient", "/", "x", "_history", "/_history", "/_historyx", "?", "#", "a=b", "http://h/fhir/", "Observation"}
	var build func(prefix string, n int)
	count := 0
	build = func(prefix string, n int) {
		got := mentionsPatient([]byte(prefix))
		if want := mentionsPatientBefore([]byte(prefix)); got != want {
			t.Fatalf("mentionsPatient(%q) = %v, before %v", prefix, got, want)
		}
		if want := mentionsPatientOracle(prefix); got != want && !(got && strings.HasPrefix(prefix, "_history")) {
			t.Fatalf("mentionsPatient(%q) = %v, oracle %v", prefix, got, want)
		}
		count++
		if n == 0 {
			return
		}
		for _, p := range pieces {
			build(prefix+p, n-1)
		}
	}
	build("", 5)
	t.Logf("%d references", count)
}
