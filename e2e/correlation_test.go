package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCorrelationID: the caller's X-Correlation-ID, when acceptable, is
// echoed in the answer and written in the audit record of the decision; an
// unacceptable one is replaced by a minted id, echoed and audited the same.
func TestCorrelationID(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	tests := []struct {
		name  string
		sent  string
		token string
		kept  bool
	}{
		{"allowed, kept", "e2e-corr-" + randomLetters(t, 10), token, true},
		{"denied, kept", "e2e-corr-" + randomLetters(t, 10), "", true},
		{"too long, replaced", strings.Repeat("x", 65), token, false},
		{"bad characters, replaced", "a b;c", token, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.pepBase+"/Observation", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Correlation-ID", tt.sent)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get("X-Correlation-ID")
			if tt.kept && got != tt.sent || !tt.kept && (got == "" || got == tt.sent || len(got) > 64) {
				t.Fatalf("answer's X-Correlation-ID %q for %q (kept=%v)", got, tt.sent, tt.kept)
			}
			decision := resp.Header.Get("X-Fhir-Pep-Decision-Id")
			var rec struct {
				DecisionID    string `json:"decision_id"`
				CorrelationID string `json:"correlation_id"`
			}
			err = poll(10*time.Second, func() (bool, error) {
				f, err := os.Open(s.pepLog)
				if err != nil {
					return false, err
				}
				defer f.Close()
				sc := bufio.NewScanner(f)
				sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
				for sc.Scan() {
					line := sc.Text()
					if !strings.Contains(line, `"decision_id":"`+decision+`"`) || !strings.Contains(line, `"msg":"decision"`) {
						continue
					}
					if err := json.Unmarshal([]byte(line), &rec); err == nil {
						return true, nil
					}
				}
				return false, sc.Err()
			})
			if err != nil {
				t.Fatalf("no audit record for decision %s: %v", decision, err)
			}
			if rec.CorrelationID != got {
				t.Fatalf("audit correlation_id %q, want %q", rec.CorrelationID, got)
			}
		})
	}
}
