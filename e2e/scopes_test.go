package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestScopeAndBucketLimits: a lab-bucket Observation token for patient
// 000000026 gets nothing outside that type and bucket. Every case checks
// first that the data it must not return exists upstream.
func TestScopeAndBucketLimits(t *testing.T) {
	s := stackFor(t)
	ids := s.patientIDs(t, "000000026")
	all := s.upstreamObservations(t, "000000026")
	notLab := slices.DeleteFunc(slices.Clone(all), func(r resource) bool { return hasBucket(r, "laboratoryTests") })
	var measurement, unlabelled string
	for _, r := range notLab {
		switch {
		case hasBucket(r, "measurements"):
			measurement = r.ID
		case len(r.Meta.Security) == 0:
			unlabelled = r.ID
		}
	}
	if measurement == "" || unlabelled == "" {
		t.Fatalf("test data: patient 000000026 needs a measurements and an unlabelled Observation upstream, has %v", keys(notLab))
	}
	subject := url.Values{"subject": {"Patient/" + ids[0]}}
	if len(s.upstreamSearch(t, "Condition", subject)) == 0 {
		t.Fatal("test data: patient 000000026 has no Condition upstream")
	}
	includes := s.upstreamSearch(t, "Observation", url.Values{"subject": {"Patient/" + ids[0]}, "_revinclude": {"DiagnosticReport:result"}})
	if !slices.ContainsFunc(includes, func(r resource) bool { return r.ResourceType == "DiagnosticReport" }) {
		t.Fatal("test data: no DiagnosticReport of patient 000000026 cites a lab Observation")
	}

	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000026")
	tests := []struct {
		name   string
		target string
		status int
		// onlyLab: a 200 searchset whose resources must all be lab
		// Observations (possibly none).
		onlyLab bool
	}{
		{"type not in the scopes", "/Condition", http.StatusForbidden, false},
		{"read of a type not in the scopes", "/Condition/p2-type-2-diabetes", http.StatusForbidden, false},
		{"_has", "/Observation?_has:Observation:subject:code=1234-5", http.StatusBadRequest, false},
		{"chained parameter", "/Observation?subject.name=Levi", http.StatusBadRequest, false},
		{"a bucket not granted", "/Observation?" + url.Values{"_security": {bucketSystem + "|measurements"}}.Encode(), http.StatusForbidden, false},
		{"read of a measurements Observation", "/Observation/" + measurement, http.StatusNotFound, false},
		{"read of an unlabelled Observation", "/Observation/" + unlabelled, http.StatusNotFound, false},
		{"search for the measurements Observation by _id", "/Observation?_id=" + measurement, http.StatusOK, true},
		{"search for the unlabelled Observation by _id", "/Observation?_id=" + unlabelled, http.StatusOK, true},
		{"search by a category with no lab data", "/Observation?category=vital-signs", http.StatusOK, true},
		{"_revinclude of a type not granted", "/Observation?_revinclude=DiagnosticReport:result", http.StatusOK, true},
		{"all Observations", "/Observation?_count=100", http.StatusOK, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.expectStatus(t, c, token, tc.target, tc.status)
			if !tc.onlyLab {
				return
			}
			for _, res := range decodeBundle(t, r.body).resources() {
				if res.ResourceType != "Observation" || !hasBucket(res, "laboratoryTests") {
					t.Errorf("returned %s/%s with %+v: outside the token's type and bucket", res.ResourceType, res.ID, res.Meta.Security)
				}
			}
		})
	}
}
