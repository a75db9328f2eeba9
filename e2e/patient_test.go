package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestOtherPatientRefused: with a token for patient 000000018, nothing of
// patient 000000026 comes back, however it is asked for. Each case first
// proves the data exists upstream, so a PEP that lets everything through
// fails.
func TestOtherPatientRefused(t *testing.T) {
	s := stackFor(t)
	other := s.patientIDs(t, "000000026")[0] // hdp-demo-patient-2
	otherLab := keys(withBucket(s.upstreamObservations(t, "000000026"), "laboratoryTests"))
	if len(otherLab) == 0 {
		t.Fatal("test data: patient 000000026 has no lab Observation upstream")
	}
	otherObs := otherLab[0][len("Observation/"):]
	s.upstream(t, "/Patient/"+other)
	s.upstream(t, "/Observation/"+otherObs)

	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	tests := []struct {
		name   string
		target string
		status int
		empty  bool // a 200 searchset that must hold no resource
	}{
		{"read of the other patient's Observation", "/Observation/" + otherObs, http.StatusNotFound, false},
		{"read of the other Patient", "/Patient/" + other, http.StatusForbidden, false},
		{"the other patient's compartment", "/Patient/" + other + "/Observation", http.StatusForbidden, false},
		{"search by subject=Patient/<other>", "/Observation?" + url.Values{"subject": {"Patient/" + other}}.Encode(), http.StatusForbidden, false},
		{"search by patient=<other>", "/Observation?" + url.Values{"patient": {other}}.Encode(), http.StatusForbidden, false},
		{"search by _id of the other's Observation", "/Observation?" + url.Values{"_id": {otherObs}}.Encode(), http.StatusOK, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.expectStatus(t, c, token, tc.target, tc.status)
			switch {
			case tc.empty:
				if got := decodeBundle(t, r.body).resources(); len(got) != 0 {
					t.Fatalf("another patient's data returned: %v", keys(got))
				}
			case tc.status == http.StatusNotFound:
				if code := operationOutcomeCode(t, r.body); code != "not-found" {
					t.Errorf("OperationOutcome code %q, want not-found", code)
				}
			default:
				if code := operationOutcomeCode(t, r.body); code != "forbidden" {
					t.Errorf("OperationOutcome code %q, want forbidden", code)
				}
			}
		})
	}
}

// TestSearchByPost: POST _search (parameters in a form body) is narrowed
// like GET: the patient's own lab Observations, and nothing of another
// patient named in the body.
func TestSearchByPost(t *testing.T) {
	s := stackFor(t)
	want := keys(withBucket(s.upstreamObservations(t, "000000018"), "laboratoryTests"))
	other := s.patientIDs(t, "000000026")[0]
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")

	r := s.postSearch(t, c, token, "Observation", url.Values{"_count": {"100"}})
	if r.status != http.StatusOK {
		t.Fatalf("POST _search: status %d, want 200; body %.300s", r.status, r.body)
	}
	if got := keys(decodeBundle(t, r.body).resources()); !slices.Equal(got, want) {
		t.Errorf("POST _search: got %v, want %v", got, want)
	}

	// Naming another patient is refused, in a body as in a query.
	r = s.postSearch(t, c, token, "Observation", url.Values{"subject": {"Patient/" + other}})
	if r.status != http.StatusForbidden {
		t.Fatalf("POST _search subject=<other>: status %d, want 403; body %.300s", r.status, r.body)
	}
	if code := operationOutcomeCode(t, r.body); code != "forbidden" {
		t.Errorf("POST _search subject=<other>: OperationOutcome code %q, want forbidden", code)
	}
}
