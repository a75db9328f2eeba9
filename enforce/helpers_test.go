package enforce

import (
	"testing"
)

const (
	testUpstream = "http://hapi.internal:8080/fhir"
	testPublic   = "https://fhir.hmo-b.example/R4"
	ownID        = "a"
	ownID2       = "patient-with-israeli-id"
	legacySystem = HDPBucketSystemLegacy
)

// testCompartment is a representative subset of the R4 Patient compartment.
func testCompartment() map[string][][]string {
	return map[string][][]string{
		"Observation":        {{"subject"}, {"performer"}},
		"Encounter":          {{"subject"}, {"participant", "individual"}},
		"Condition":          {{"subject"}, {"asserter"}},
		"CareTeam":           {{"subject"}, {"participant", "member"}},
		"Specimen":           {{"subject"}},
		"DiagnosticReport":   {{"subject"}},
		"AllergyIntolerance": {{"patient"}, {"recorder"}, {"asserter"}},
		"RelatedPerson":      {{"patient"}},
		"Patient":            {{"link", "other"}},
		"Practitioner":       {},
	}
}

func testEnforcer(t testing.TB) *Enforcer {
	t.Helper()
	e, err := New(Config{Compartment: testCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testGrants() map[string][]Bucket {
	return map[string][]Bucket{
		"Observation":  {{HDPBucketSystem, "LaboratoryTests"}, {HDPBucketSystem, "Measurements"}},
		"Encounter":    {{HDPBucketSystem, "EncounterInformation"}},
		"Patient":      {{HDPBucketSystem, "PatientDemographics"}},
		"Practitioner": {{HDPBucketSystem, "Practitioner"}},
		"CareTeam":     {{HDPBucketSystem, "Practitioner"}},
		"Condition":    {{HDPBucketSystem, "Diagnoses"}},
		"Organization": {{HDPBucketSystem, "Organization"}},
		"Person":       {{HDPBucketSystem, "PatientDemographics"}},
	}
}

func testAccess(t testing.TB) *Access {
	t.Helper()
	a, err := testEnforcer(t).Access(Scope{PatientIDs: []string{ownID, ownID2}, Grants: testGrants()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func label(code string) string {
	return `{"system":"` + HDPBucketSystem + `","code":"` + code + `"}`
}

func metaLabels(codes ...string) string {
	s := `"meta":{"security":[`
	for i, c := range codes {
		if i > 0 {
			s += ","
		}
		s += label(c)
	}
	return s + "]}"
}
