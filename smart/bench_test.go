package smart

import "testing"

// realisticScope is what PCM returns for a service provider with a patient
// consent covering three HDP buckets, plus the usual non-resource scopes.
const realisticScope = "openid fhirUser launch/patient " +
	"patient/Patient.rs " +
	"patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests " +
	"patient/DiagnosticReport.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests " +
	"patient/Encounter.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|EncounterInformation&date=ge2024-01-01 " +
	"patient/Condition.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|Diagnoses " +
	"patient/MedicationRequest.read " +
	"patient/AllergyIntolerance.rs"

func BenchmarkParse(b *testing.B) {
	if n := len(Parse(realisticScope)); n != 7 {
		b.Fatalf("parsed %d scopes, want 7", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = Parse(realisticScope)
	}
}
