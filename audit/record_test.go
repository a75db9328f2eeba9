package audit

import (
	"regexp"
	"testing"
	"time"
)

// The national id used in tests; it must never appear in any output.
const testNationalID = "000000018"

// nationalIDPattern matches anything that looks like an Israeli national
// id: nine digits not part of a longer number.
var nationalIDPattern = regexp.MustCompile(`(^|[^0-9])[0-9]{9}([^0-9]|$)`)

var testTime = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.FixedZone("IST", 2*3600))

// allowRecord is a typical allowed search, with the patient hashed as the
// handler does it.
func allowRecord(t testing.TB) Record {
	t.Helper()
	h, err := NewPatientHasher(testKey())
	if err != nil {
		t.Fatal(err)
	}
	return Record{
		DecisionID:    "d3c1s10n-a11ow-0f-9e4",
		CorrelationID: "sp-req-42",
		Time:          testTime,
		MemberID:      "org-sp-hospital-a",
		Thumbprint:    "xPtmbQAjbRtmuY-zj_Ysu-nLvUsRP1Ix-U3lWkQdhPE",
		ClientID:      "http://pcm.fhir.health.gov.il/organization/633",
		ConsentRefs:   []string{"Consent/123", "https://pcm.fhir.health.gov.il/fhir/Consent/c-9"},
		Intent:        "HealthcareService",
		Interaction:   "search-type",
		ResourceType:  "Observation",
		Outcome:       OutcomeAllow,
		Status:        200,
		Reason:        "allowed",
		Returned:      7,
		Withheld:      2,
		PolicyVersion: "2026.11.1",
		PatientHash:   h.Hash(nationalIDSystem, testNationalID),
		ConsentID:     "PCM-CONSENT-0002",
		AccessType:    "one-time",

		SPOrganizationID: "org-sp-hospital-a",
		Baskets: []Basket{
			{System: "http://fhir.health.gov.il/cs/hdp-information-buckets", Code: "laboratoryTests", HistoricalDepth: "2024-01-01"},
			{System: "http://fhir.health.gov.il/cs/il-hdp-information-buckets", Code: "encounterInformation"},
		},
	}
}

// denyRecord is a dry-run denial of a read outside the granted scopes.
func denyRecord(t testing.TB) Record {
	r := allowRecord(t)
	r.DecisionID = "d3c1s10n-deny-af-b7"
	r.ConsentRefs = []string{"Consent/123"}
	r.Interaction = "read"
	r.ResourceType = "MedicationRequest"
	r.Outcome = OutcomeDeny
	r.Status = 403
	r.Reason = "scope_denied"
	r.Stage = StagePolicy
	r.Returned = 0
	r.Withheld = 0
	r.DryRun = true
	r.ConsentID, r.AccessType, r.Baskets = "", "", nil
	return r
}
