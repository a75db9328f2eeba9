package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// healthReport is the part of fhir_pep_health's answer the suite reads.
type healthReport struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	Checks map[string]struct {
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

// getHealth GETs a path of a PEP's health site (plain HTTP on loopback,
// as the demo Caddyfile serves it) and decodes a readiness report.
func getHealth(t *testing.T, base, path string) (int, healthReport, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var rep healthReport
	if strings.HasSuffix(path, "/ready") {
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatalf("GET %s: %d %q: %v", path, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode, rep, string(body)
}

// TestHealthLiveAndReady: the PEP under test is live and ready with every
// check ok (NTN manifest, PCM token, policy, upstream), through the health
// site of examples/demo/Caddyfile.
func TestHealthLiveAndReady(t *testing.T) {
	s := stackFor(t)
	if code, _, body := getHealth(t, s.pepHealth, "/health/live"); code != http.StatusOK {
		t.Fatalf("/health/live: %d %s", code, body)
	}
	code, rep, body := getHealth(t, s.pepHealth, "/health/ready")
	if code != http.StatusOK || rep.Status != "ok" || rep.Reason != "" {
		t.Fatalf("/health/ready: %d %s", code, body)
	}
	for _, name := range []string{"ntn", "pcm", "policy", "upstream"} {
		if c, ok := rep.Checks[name]; !ok || c.Status != "ok" {
			t.Errorf("/health/ready check %s: %+v (present %v)", name, c, ok)
		}
	}
}

// TestHealthReadyFailsWithReason: a PEP that cannot obtain its PCM token
// (pcm-sim in outage when it starts) and whose upstream does not answer is
// live but not ready: 503 naming both failing checks. When the outage
// ends, the PCM check recovers and only the upstream is named. A second
// PEP is used so that the one under test keeps its token and upstream.
func TestHealthReadyFailsWithReason(t *testing.T) {
	s := stackFor(t)
	ports, err := freePorts(4) // PEP, admin, health, and a port nobody serves
	if err != nil {
		t.Fatal(err)
	}
	s.pcmOutage(t, true)
	outage := true
	t.Cleanup(func() {
		if outage {
			s.pcmOutage(t, false)
		}
	})
	p, err := s.startPEP("fhir-pep-health", ports[0], ports[1], filepath.Join(s.dir, "pep-health-ntn"), "INFO",
		"PEP_HEALTH_PORT="+strconv.Itoa(ports[2]), "FHIR_PORT="+strconv.Itoa(ports[3]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stopProcess(p); err != nil {
			t.Error(err)
		}
	})
	health := fmt.Sprintf("http://127.0.0.1:%d", ports[2])

	if code, _, body := getHealth(t, health, "/health/live"); code != http.StatusOK {
		t.Fatalf("/health/live of a PEP that is not ready: %d %s", code, body)
	}
	code, rep, body := getHealth(t, health, "/health/ready")
	if code != http.StatusServiceUnavailable || rep.Status != "fail" ||
		rep.Checks["pcm"].Status != "fail" || rep.Checks["upstream"].Status != "fail" ||
		!strings.Contains(rep.Reason, "pcm") || !strings.Contains(rep.Reason, "upstream") {
		t.Fatalf("/health/ready with PCM in outage and no upstream: %d %s", code, body)
	}
	if rep.Checks["ntn"].Status != "ok" || rep.Checks["policy"].Status != "ok" {
		t.Fatalf("/health/ready: the NTN and policy checks should still pass: %s", body)
	}

	s.pcmOutage(t, false)
	outage = false
	err = poll(30*time.Second, func() (bool, error) {
		code, rep, body = getHealth(t, health, "/health/ready")
		return rep.Checks["pcm"].Status == "ok", nil
	})
	if err != nil {
		t.Fatalf("the PCM check did not recover after the outage: %s", body)
	}
	if code != http.StatusServiceUnavailable || strings.Contains(rep.Reason, "pcm") || !strings.Contains(rep.Reason, "upstream") {
		t.Fatalf("/health/ready with only the upstream down: %d %s", code, body)
	}
}
