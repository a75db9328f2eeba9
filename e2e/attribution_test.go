package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// attributionScope grants patient 000000018's token every type and bucket
// of the demo data's attribution traps, so nothing there is withheld for
// want of a grant: only attribution can keep them back.
var attributionScope = strings.Join([]string{
	"patient/Patient.rs?_security=" + bucketSystem + "|PatientDemographics",
	"patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests",
	"patient/CareTeam.rs?_security=" + bucketSystem + "|Practitioner",
	"patient/Communication.rs?_security=" + bucketSystem + "|Pathology",
	"patient/Coverage.rs?_security=" + bucketSystem + "|PatientDemographics",
	"patient/Composition.rs?_security=" + bucketSystem + "|EncounterInformation",
}, " ")

// TestAttribution: a compartment resource is the patient's only if every
// Patient reference on its compartment paths is hers. Patient 2's records
// that name patient 1 only as performer, care team member, recipient,
// subscriber or author (examples/demodata Traps) must not reach patient 1's
// token, neither read directly nor brought by a _revinclude from her own
// Patient. Each case first proves upstream that the search returns the
// trap, so a PEP that lets everything through fails.
func TestAttribution(t *testing.T) {
	s := stackFor(t)
	own := s.patientIDs(t, "000000018")
	ownRefs := make([]string, len(own))
	for i, id := range own {
		ownRefs[i] = "Patient/" + id
	}
	c := s.memberClient(t, "hospital-a")
	token := s.mint(t, grant{Patient: "000000018", Scope: attributionScope, Member: "hospital-a"}).Token

	tests := []struct {
		revinclude string // Type:param naming patient 1 in a role
		trap       string // patient 2's resource that the upstream returns for it
	}{
		{"Observation:performer", "Observation/p2-home-glucose"},
		{"CareTeam:participant", "CareTeam/p2-care-team"},
		{"Communication:recipient", "Communication/p2-result-letter"},
		{"Coverage:subscriber", "Coverage/p2-coverage"},
		{"Composition:author", "Composition/p2-family-history-note"},
	}
	for _, tc := range tests {
		t.Run(tc.revinclude, func(t *testing.T) {
			q := url.Values{"_id": {strings.Join(own, ",")}, "_revinclude": {tc.revinclude}}
			if got := keys(s.upstreamSearch(t, "Patient", q)); !slices.Contains(got, tc.trap) {
				t.Fatalf("test data: upstream Patient?_revinclude=%s gives %v, without %s", tc.revinclude, got, tc.trap)
			}

			r := s.expectStatus(t, c, token, "/Patient?"+url.Values{"_revinclude": {tc.revinclude}}.Encode(), http.StatusOK)
			b := decodeBundle(t, r.body)
			got := b.resources()
			// The Bundle.total oracle: something was withheld from this
			// single page, yet total is there and counts what left.
			matches := 0
			for _, e := range b.Entry {
				if e.Search == nil || e.Search.Mode == "match" {
					matches++
				}
			}
			if b.Total == nil || *b.Total != matches {
				t.Errorf("total %v, want the %d match entries that left (present whether or not something was withheld)", b.Total, matches)
			}
			if !slices.Contains(keys(got), "Patient/"+own[0]) && !slices.Contains(keys(got), "Patient/"+own[len(own)-1]) {
				t.Fatalf("her own Patient is missing: %v", keys(got))
			}
			if slices.Contains(keys(got), tc.trap) {
				t.Errorf("%s, patient 2's record, returned to patient 1's token: %v", tc.trap, keys(got))
			}
			for _, res := range got {
				if sub := subjectOf(res); sub != "" && !slices.Contains(ownRefs, sub) {
					t.Errorf("%s/%s of %s returned", res.ResourceType, res.ID, sub)
				}
			}

			r = s.expectStatus(t, c, token, "/"+tc.trap, http.StatusNotFound)
			if code := operationOutcomeCode(t, r.body); code != "not-found" {
				t.Errorf("read of %s: OperationOutcome code %q, want not-found", tc.trap, code)
			}
		})
	}
}
