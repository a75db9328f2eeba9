package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// auditRecord holds the fields of a fhir-pep audit record the suite checks.
type auditRecord struct {
	Logger       string `json:"logger"`
	DecisionID   string `json:"decision_id"`
	MemberID     string `json:"member_id"`
	Interaction  string `json:"interaction"`
	ResourceType string `json:"resource_type"`
	Outcome      string `json:"outcome"`
	Status       int    `json:"status"`
	Reason       string `json:"reason"`
	Returned     int    `json:"returned"`
	PatientHash  string `json:"patient_hash"`
}

// TestAuditRecords: every decision leaves one audit record in the log,
// found by the decision id the client got in X-Fhir-Pep-Decision-Id, with
// the patient only as a keyed hash: the same for one patient, different
// for another. (TestMain checks no record holds a national id or token.)
func TestAuditRecords(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token18 := s.labToken(t, "hospital-a", "000000018")
	token26 := s.labToken(t, "hospital-a", "000000026")
	allowed := auditRecord{MemberID: "org-sp-hospital-a", Interaction: "search-type", ResourceType: "Observation", Outcome: "allow", Status: http.StatusOK}
	// The certificate was verified before the token was found missing: the
	// record names the member.
	tokenDenied := auditRecord{MemberID: "org-sp-hospital-a", Outcome: "deny", Status: http.StatusUnauthorized, Reason: "no_token"}

	first := s.checkAudit(t, c, token18, "/Observation", allowed)
	second := s.checkAudit(t, c, token18, "/Observation?_count=50", allowed)
	other := s.checkAudit(t, c, token26, "/Observation", allowed)
	s.checkAudit(t, c, "", "/Observation", tokenDenied)
	for _, h := range []string{first, second, other} {
		if len(h) < 40 {
			t.Fatalf("patient_hash %q, want a keyed hash (audit patient_hash_key is set)", h)
		}
	}
	if first != second {
		t.Errorf("one patient, two patient_hash values: %q %q", first, second)
	}
	if other == first {
		t.Errorf("two patients, one patient_hash %q", other)
	}
}

// TestAuditRecordOfPolicyDenial: the record of a request the policy
// refused says what was asked (interaction and resource type), not only
// that it was refused: a data source must be able to tell which data a
// member tried to reach outside its consent.
func TestAuditRecordOfPolicyDenial(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	s.checkAudit(t, c, token, "/Condition", auditRecord{
		MemberID: "org-sp-hospital-a", Interaction: "search-type", ResourceType: "Condition",
		Outcome: "deny", Status: http.StatusForbidden, Reason: "scope_missing",
	})
}

// checkAudit sends one request and compares its audit record with want
// (every field of want; for allowed searches, returned must count the
// resources of the non-empty answer). It returns the record's patient_hash.
func (s *stack) checkAudit(t *testing.T, c *http.Client, token, target string, want auditRecord) string {
	t.Helper()
	r := s.expectStatus(t, c, token, target, want.Status)
	id := r.header.Get("X-Fhir-Pep-Decision-Id")
	if id == "" {
		t.Fatalf("GET %s: no X-Fhir-Pep-Decision-Id header", target)
	}
	rec := s.auditRecord(t, id)
	if rec.MemberID != want.MemberID || rec.Interaction != want.Interaction || rec.ResourceType != want.ResourceType ||
		rec.Outcome != want.Outcome || rec.Status != want.Status || rec.Reason != want.Reason {
		t.Errorf("GET %s: audit record %+v, want %+v", target, rec, want)
	}
	if want.Outcome == "allow" {
		if n := len(decodeBundle(t, r.body).resources()); n == 0 || rec.Returned != n {
			t.Errorf("GET %s: %d resources returned, the audit record says %d", target, n, rec.Returned)
		}
	}
	return rec.PatientHash
}

// auditRecord waits (bounded) for the audit record of a decision in the
// PEP's log; Caddy writes log lines asynchronously to the request.
func (s *stack) auditRecord(t *testing.T, decisionID string) auditRecord {
	t.Helper()
	var found *auditRecord
	err := poll(5*time.Second, func() (bool, error) {
		b, err := os.ReadFile(s.pepLog)
		if err != nil {
			return false, err
		}
		found = nil
		for line := range strings.SplitSeq(string(b), "\n") {
			if !strings.Contains(line, `"decision_id":"`+decisionID+`"`) {
				continue
			}
			var rec auditRecord
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Logger == "http.handlers.fhir_pep.audit" {
				if found != nil {
					t.Fatalf("two audit records for decision %s", decisionID)
				}
				found = &rec
			}
		}
		return found != nil, nil
	})
	if err != nil {
		t.Fatalf("no audit record for decision %s: %v", decisionID, err)
	}
	return *found
}
