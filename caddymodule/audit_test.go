package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestAuditRecordPerDecision(t *testing.T) {
	key := filepath.Join(t.TempDir(), "audit.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newGateFixture(t, func(p *PEP) { p.Audit = &AuditConfig{PatientHashKey: key} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))

	allowed := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab"))
	denied := f.serve(f.request("GET", "/R4/Condition", f.caller, "lab"))
	noToken := f.serve(f.request("GET", "/R4/Observation", f.caller, ""))

	records := map[string]map[string]any{}
	for _, e := range f.logs.FilterLoggerName("audit").All() {
		m := e.ContextMap()
		records[m["decision_id"].(string)] = m
		for k, v := range m {
			if s, ok := v.(string); ok && strings.Contains(s, "000000018") {
				t.Fatalf("audit field %s holds the national id", k)
			}
		}
	}
	check := func(name string, id string, outcome string, reason string) map[string]any {
		t.Helper()
		rec, ok := records[id]
		if !ok {
			t.Fatalf("%s: no audit record for decision %s (have %d records)", name, id, len(records))
		}
		if rec["outcome"] != outcome || rec["reason"] != reason {
			t.Fatalf("%s: record %v", name, rec)
		}
		return rec
	}
	rec := check("allowed", allowed.Header().Get(decisionHeader), "allow", "")
	if rec["member_id"] != "org-sp-hospital-a" || rec["client_id"] != "sp-hospital-a" || rec["patient_hash"] == "" ||
		rec["resource_type"] != "Observation" || rec["interaction"] != "search-type" {
		t.Fatalf("allowed record %v", rec)
	}
	if rec["returned"] != int64(1) || rec["withheld"] != int64(2) {
		t.Fatalf("counts: returned %v withheld %v", rec["returned"], rec["withheld"])
	}
	check("denied", denied.Header().Get(decisionHeader), "deny", "scope_missing")
	check("no token", noToken.Header().Get(decisionHeader), "deny", "no_token")
}

func TestAuditRequiredFailsClosed(t *testing.T) {
	f := newGateFixture(t, func(p *PEP) { p.Audit = &AuditConfig{Required: true} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	// An audit logger that accepts nothing: every record fails.
	core, _ := observer.New(zapcore.FatalLevel)
	f.pep.logger = zap.New(core)
	if err := f.pep.closeAuditor(); err != nil {
		t.Fatal(err)
	}
	if err := f.pep.provisionAudit(); err != nil {
		t.Fatal(err)
	}
	w := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab"))
	if w.Code != 503 || strings.Contains(w.Body.String(), "obs-lab") {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
}
