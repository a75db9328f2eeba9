package caddymodule

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hdp-il/fhir-pep/trust"
)

type fakeNTNStats struct{ st trust.Stats }

func (f fakeNTNStats) Stats() trust.Stats { return f.st }

func healthOf(t *testing.T, h *Health) (int, healthReport) {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil), nil); err != nil {
		t.Fatal(err)
	}
	var rep healthReport
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		t.Fatalf("body %s", w.Body)
	}
	return w.Code, rep
}

func TestHealth(t *testing.T) {
	fresh := trust.Stats{HasManifest: true, Version: 7, LastSuccess: time.Now().Add(-time.Minute)}
	h := &Health{Timeout: caddy.Duration(2 * time.Second), ntn: fakeNTNStats{fresh}}

	if code, rep := healthOf(t, h); code != 503 || rep.Checks["pcm"].Status != "fail" {
		t.Fatalf("without a fhir_pep handler: %d %+v", code, rep)
	}

	f := newGateFixture(t)
	code, rep := healthOf(t, h)
	if code != 200 || rep.Status != "ok" || rep.Checks["pcm"].Status != "ok" ||
		rep.Checks["policy"].PolicyVersion != f.pep.engine.Version() || rep.Checks["ntn"].ManifestVersion != 7 {
		t.Fatalf("healthy: %d %+v", code, rep)
	}
	if age := rep.Checks["ntn"].ManifestAgeSeconds; age == nil || *age < 59 {
		t.Fatalf("manifest age %v", age)
	}

	h.ntn = fakeNTNStats{trust.Stats{HasManifest: true, Version: 7, ConsecutiveFailures: 3, LastFailureReason: "http_status"}}
	if code, rep := healthOf(t, h); code != 200 || rep.Status != "degraded" {
		t.Fatalf("refresh failing: %d %+v", code, rep)
	}
	h.ntn = fakeNTNStats{trust.Stats{HasManifest: true, Stale: true}}
	if code, rep := healthOf(t, h); code != 503 || rep.Checks["ntn"].Status != "fail" {
		t.Fatalf("stale manifest: %d %+v", code, rep)
	}
	h.ntn = nil
	if code, _ := healthOf(t, h); code != 503 {
		t.Fatalf("no ntn app: %d", code)
	}
}

func TestHealthPCMUnreachable(t *testing.T) {
	f := newGateFixture(t)
	// No PCM token was fetched yet; with PCM gone the probe must fail.
	f.pcm.srv.Close()
	h := &Health{Timeout: caddy.Duration(2 * time.Second), ntn: fakeNTNStats{trust.Stats{HasManifest: true, Version: 1}}}
	code, rep := healthOf(t, h)
	if code != 503 || rep.Checks["pcm"].Status != "fail" {
		t.Fatalf("PCM down: %d %+v", code, rep)
	}
}
