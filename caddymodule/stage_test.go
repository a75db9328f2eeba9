package caddymodule

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/audit"
	"github.com/hdp-il/fhir-pep/internal/testpki"
)

// auditStage returns the stage, reason and outcome of the one audit record
// of a decision.
func (f *gateFixture) auditStage(t *testing.T, decisionID string) (stage, reason, outcome string) {
	t.Helper()
	var found int
	for _, e := range f.logs.FilterLoggerName("audit").All() {
		m := e.ContextMap()
		if m["decision_id"] != decisionID {
			continue
		}
		found++
		s, ok := m["stage"].(string)
		if !ok {
			t.Fatalf("audit record without a stage field: %v", m)
		}
		stage, reason, outcome = s, m["reason"].(string), m["outcome"].(string)
	}
	if found != 1 {
		t.Fatalf("%d audit records for decision %q", found, decisionID)
	}
	return stage, reason, outcome
}

// TestAuditStageOfEachDenialClass: every class of refusal is audited with
// the stage that decided it, an allowed request with none. The cases run
// in order on one fixture (the patient lookup is cached after the first
// success, which the upstream cases rely on).
func TestAuditStageOfEachDenialClass(t *testing.T) {
	f := newGateFixture(t)
	now := time.Now()
	f.pcm.set("lab", activeAnswer(f.caller, now, nil))
	f.pcm.set("inactive", map[string]any{"active": false})
	stranger := testpki.SelfSigned(t, "not in NTN")

	tests := []struct {
		name   string
		req    func() *http.Request
		mode   string // the fake FHIR server's failure mode during the request; pcm500: PCM's
		status int
		reason string
		stage  string
	}{
		{"GET with a body", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "lab")
			r.Body, r.ContentLength = http.NoBody, 5
			return r
		}, "", 400, "body_not_allowed", audit.StageRequest},
		{"outside the base path", func() *http.Request { return f.request("GET", "/R4x/Observation", f.caller, "lab") }, "", 404, "outside_base_path", audit.StageRequest},
		{"no client certificate", func() *http.Request { return f.request("GET", "/R4/Observation", nil, "lab") }, "", 401, "no_client_certificate", audit.StageTrust},
		{"certificate not in the NTN", func() *http.Request { return f.request("GET", "/R4/Observation", stranger, "lab") }, "", 403, "untrusted_certificate", audit.StageTrust},
		{"PCM fails", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "fresh") }, "pcm500", 503, "pcm_unavailable", audit.StageToken},
		{"no token", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "") }, "", 401, "no_token", audit.StageToken},
		{"inactive token", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "inactive") }, "", 401, "inactive", audit.StageToken},
		{"patient lookup fails at the FHIR server", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "lab") }, "500", 502, "patient_lookup_failed", audit.StageUpstream},
		{"not a FHIR request", func() *http.Request { return f.request("GET", "/R4/Observation/a$b", f.caller, "lab") }, "", 400, "invalid_id", audit.StageRequest},
		{"scope does not cover the type", func() *http.Request { return f.request("GET", "/R4/Condition", f.caller, "lab") }, "", 403, "scope_missing", audit.StagePolicy},
		{"allowed", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "lab") }, "", 200, "", ""},
		{"FHIR server fails", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "lab") }, "500", 502, "upstream_error", audit.StageUpstream},
		{"FHIR server answers HTML", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "lab") }, "html", 502, "upstream_not_json", audit.StageUpstream},
		{"answer is another patient's", func() *http.Request { return f.request("GET", "/R4/Observation/obs-lab-other", f.caller, "lab") }, "", 404, "withheld_other_patient", audit.StageResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setMode := func(mode string) {
				if mode == "pcm500" {
					f.pcm.setMode("500")
					return
				}
				f.pcm.setMode("")
				f.fhir.mu.Lock()
				f.fhir.mode = mode
				f.fhir.mu.Unlock()
			}
			setMode(tt.mode)
			w := f.serve(tt.req())
			setMode("")
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			stage, reason, outcome := f.auditStage(t, w.Header().Get(decisionHeader))
			if stage != tt.stage {
				t.Fatalf("stage %q (reason %q), want %q", stage, reason, tt.stage)
			}
			if reason != tt.reason {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if (outcome == audit.OutcomeAllow) != (tt.stage == "") {
				t.Fatalf("outcome %q with stage %q", outcome, stage)
			}
		})
	}
}

// TestAuditStageOfDryRunDenial: a read the policy denied but dry_run let
// through is allowed, and its record still says the policy refused it.
func TestAuditStageOfDryRunDenial(t *testing.T) {
	f := newGateFixture(t, func(p *PEP) { p.Policy = &PolicyConfig{DryRun: true} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	w := f.serve(f.request("GET", "/R4/Condition", f.caller, "lab"))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	stage, reason, outcome := f.auditStage(t, w.Header().Get(decisionHeader))
	if stage != audit.StagePolicy || outcome != audit.OutcomeAllow || !strings.HasPrefix(reason, "scope_") {
		t.Fatalf("stage %q reason %q outcome %q", stage, reason, outcome)
	}
}
