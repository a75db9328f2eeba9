package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNamingAnotherPatientIsRefused: a request that names another patient,
// in any of the ways a FHIR client can, is refused 403 other_patient and
// audited as a denial, never narrowed to an empty result. Each target first
// proves upstream that the other patient's data is there to be found.
func TestNamingAnotherPatientIsRefused(t *testing.T) {
	s := stackFor(t)
	other := s.patientIDs(t, "000000026")[0]
	if len(s.upstreamSearch(t, "Observation", url.Values{"subject": {"Patient/" + other}})) == 0 {
		t.Fatal("test data: patient 000000026 has no Observation upstream")
	}
	c := s.memberClient(t, "hospital-a")
	token := s.mint(t, grant{Patient: "000000018", Scope: attributionScope, Member: "hospital-a"}).Token
	denied := func(typ string) auditRecord {
		return auditRecord{MemberID: "org-sp-hospital-a", Interaction: "search-type", ResourceType: typ,
			Outcome: "deny", Status: http.StatusForbidden, Reason: "other_patient"}
	}
	q := func(k, v string) string { return url.Values{k: {v}}.Encode() }
	tests := []struct {
		name, target string
		want         auditRecord
	}{
		{"subject", "/Observation?" + q("subject", "Patient/"+other), denied("Observation")},
		{"subject:Patient", "/Observation?" + q("subject:Patient", other), denied("Observation")},
		{"patient, bare id", "/Observation?" + q("patient", other), denied("Observation")},
		{"performer, a compartment parameter", "/Observation?" + q("performer", "Patient/"+other), denied("Observation")},
		{"subject:identifier", "/Observation?" + q("subject:identifier", nationalIDSystem+"|000000026"), denied("Observation")},
		{"subject by absolute URL on the upstream's base", "/Observation?" + q("subject", s.upstreamBase+"/Patient/"+other), denied("Observation")},
		{"subject by absolute URL on the PEP's base", "/Observation?" + q("subject", s.pepBase+"/Patient/"+other), denied("Observation")},
		{"one item of several", "/Observation?" + q("subject", "Patient/"+s.patientIDs(t, "000000018")[0]+",Patient/"+other), denied("Observation")},
		{"care team participant", "/CareTeam?" + q("participant", "Patient/"+other), denied("CareTeam")},
		{"Patient?_id", "/Patient?" + q("_id", other), denied("Patient")},
		{"Patient?identifier", "/Patient?" + q("identifier", nationalIDSystem+"|000000026"), denied("Patient")},
		{"the other patient's compartment", "/Patient/" + other + "/Observation",
			auditRecord{MemberID: "org-sp-hospital-a", Interaction: "search-compartment", ResourceType: "Observation",
				Outcome: "deny", Status: http.StatusForbidden, Reason: "other_patient"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.checkAudit(t, c, token, tc.target, tc.want)
		})
	}

	// The patient's own references are not refused.
	own := s.patientIDs(t, "000000018")
	for _, target := range []string{
		"/Observation?" + q("subject", "Patient/"+strings.Join(own, ",Patient/")),
		"/Observation?" + q("subject:identifier", nationalIDSystem+"|000000018"),
		"/Patient?" + q("_id", own[0]),
	} {
		s.expectStatus(t, c, token, target, http.StatusOK)
	}
}
