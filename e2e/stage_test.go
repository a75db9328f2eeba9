package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAuditStage: the audit record of a refusal names the stage of the
// request path that refused it, through the real stack; an allowed
// request's record has none.
func TestAuditStage(t *testing.T) {
	s := stackFor(t)
	member := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	tests := []struct {
		name, token, path string
		status            int
		reason, stage     string
	}{
		{"allowed", token, "/Observation", http.StatusOK, "", ""},
		{"no token", "", "/Observation", http.StatusUnauthorized, "no_token", "token"},
		{"unknown token", "e2e-not-a-token-" + randomLetters(t, 12), "/Observation", http.StatusUnauthorized, "inactive", "token"},
		{"not a FHIR request", token, "/Observation/a$b", http.StatusBadRequest, "invalid_id", "request"},
		{"scope does not cover the type", token, "/Condition", http.StatusForbidden, "scope_missing", "policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token != "" {
				s.remember(tt.token)
			}
			r := s.expectStatus(t, member, tt.token, s.pepBase+tt.path, tt.status)
			rec := s.auditStage(t, r.header.Get("X-Fhir-Pep-Decision-Id"))
			if rec.Stage != tt.stage || rec.Reason != tt.reason {
				t.Fatalf("audit stage %q reason %q, want %q %q", rec.Stage, rec.Reason, tt.stage, tt.reason)
			}
		})
	}
}

type stagedRecord struct {
	Logger string  `json:"logger"`
	Reason string  `json:"reason"`
	Stage  *string `json:"stage"`
}

// auditStage waits (bounded) for the audit record of a decision and
// returns its reason and stage; a record without the stage field fails.
func (s *stack) auditStage(t *testing.T, decisionID string) struct{ Reason, Stage string } {
	t.Helper()
	var found *stagedRecord
	err := poll(5*time.Second, func() (bool, error) {
		b, err := os.ReadFile(s.pepLog)
		if err != nil {
			return false, err
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if !strings.Contains(line, `"decision_id":"`+decisionID+`"`) {
				continue
			}
			var rec stagedRecord
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Logger == "http.handlers.fhir_pep.audit" {
				found = &rec
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no audit record for decision %s: %v", decisionID, err)
	}
	if found.Stage == nil {
		t.Fatalf("audit record of decision %s has no stage field", decisionID)
	}
	return struct{ Reason, Stage string }{found.Reason, *found.Stage}
}
