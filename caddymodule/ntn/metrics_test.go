package ntn

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hdp-il/fhir-pep/trust"
	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

func TestMetrics(t *testing.T) {
	env := newTestEnv(t)
	ctx, app, server, ln := env.verifyingServer(t)
	reg := ctx.GetMetricsRegistry()

	// Before any manifest: stale, no manifest gauges, nothing counted.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expectedMetrics(
		"caddy_fhir_pep_ntn_manifest_stale 1",
		"caddy_fhir_pep_ntn_consecutive_refresh_failures 0",
	)), "caddy_fhir_pep_ntn_manifest_stale", "caddy_fhir_pep_ntn_consecutive_refresh_failures", "caddy_fhir_pep_ntn_manifest_version"); err != nil {
		t.Fatal(err)
	}

	refresh(t, app)
	// One failed refresh (the manifest file vanished), two refused handshakes.
	if err := os.Remove(env.manifestFile); err != nil {
		t.Fatal(err)
	}
	if err := app.runtime.store.Refresh(t.Context()); trust.ReasonOf(err) != trust.ReasonFetch {
		t.Fatalf("refresh = %v", err)
	}
	for _, leaf := range []*ntntest.Issuer{env.unknown, env.expired} {
		cert := leaf.TLSCertificate()
		if _, err := handshake(ln, server.cfg, server.clientConfig(&cert)); err == nil {
			t.Fatal("handshake accepted")
		}
	}
	env.clock.Set(ntntest.Epoch.Add(30 * time.Minute))

	var failures, rejections []string
	for _, r := range trust.RefreshReasons {
		n := 0
		if r == trust.ReasonFetch {
			n = 1
		}
		failures = append(failures, fmt.Sprintf(`caddy_fhir_pep_ntn_refresh_failures_total{reason=%q} %d`, r, n))
	}
	for _, r := range append(append([]trust.Reason{}, trust.LeafReasons...), otherReason) {
		n := 0
		if r == trust.ReasonUnknownCertificate || r == trust.ReasonExpired {
			n = 1
		}
		rejections = append(rejections, fmt.Sprintf(`caddy_fhir_pep_ntn_handshake_rejections_total{reason=%q} %d`, r, n))
	}
	lines := []string{
		"caddy_fhir_pep_ntn_manifest_version 1",
		"caddy_fhir_pep_ntn_manifest_age_seconds 5400", // issued an hour before Epoch
		fmt.Sprintf("caddy_fhir_pep_ntn_manifest_expiry_timestamp_seconds %d", ntntest.Epoch.Add(24*time.Hour).Unix()),
		"caddy_fhir_pep_ntn_manifest_stale 0",
		fmt.Sprintf("caddy_fhir_pep_ntn_last_success_timestamp_seconds %d", ntntest.Epoch.Unix()),
		"caddy_fhir_pep_ntn_consecutive_refresh_failures 1",
		"caddy_fhir_pep_ntn_active_members 2",
		"caddy_fhir_pep_ntn_trusted_certificates 3",
	}
	lines = append(lines, failures...)
	lines = append(lines, rejections...)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expectedMetrics(lines...)), metricNames()...); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg, metricNames()...); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestMetricsRegistration(t *testing.T) {
	env := newTestEnv(t)
	_, app := env.provisionApp(t, env.appConfig())
	reg := prometheus.NewPedanticRegistry()
	first, err := registerCollector(reg, app)
	if err != nil {
		t.Fatal(err)
	}
	second, err := registerCollector(reg, app)
	if err != nil || second != first {
		t.Fatalf("second registration: %v, same collector %v", err, second == first)
	}
	first.detach(app)
	if n, err := testutil.GatherAndCount(reg, metricNames()...); err != nil || n != 0 {
		t.Fatalf("detached collector still reports %d metrics (%v)", n, err)
	}
}

var ntnHelp = map[string][2]string{
	"manifest_version":                  {"gauge", "Version of the NTN manifest in force (absent before the first one)."},
	"manifest_age_seconds":              {"gauge", "Seconds since the issued_at of the NTN manifest in force."},
	"manifest_expiry_timestamp_seconds": {"gauge", "expires_at of the NTN manifest in force, as a Unix timestamp."},
	"manifest_stale":                    {"gauge", "1 when no fresh NTN manifest is in force and every client certificate is rejected, else 0."},
	"last_success_timestamp_seconds":    {"gauge", "Unix time of the last successful manifest fetch and verification (absent if none)."},
	"refresh_failures_total":            {"counter", "Failed manifest refreshes (and state_dir write failures), by reason."},
	"consecutive_refresh_failures":      {"gauge", "Manifest refreshes failed in a row since the last success."},
	"active_members":                    {"gauge", "Members with status active in the NTN manifest in force."},
	"trusted_certificates":              {"gauge", "Pinned and CA certificates of active members in the NTN manifest in force."},
	"handshake_rejections_total":        {"counter", "TLS handshakes refused by the ntn client certificate verifier, by reason."},
}

func metricNames() []string {
	var names []string
	for short := range ntnHelp {
		names = append(names, "caddy_fhir_pep_ntn_"+short)
	}
	return names
}

// expectedMetrics renders sample lines in the text exposition format, with the
// HELP and TYPE lines of each metric they mention.
func expectedMetrics(samples ...string) string {
	var b strings.Builder
	done := map[string]bool{}
	for _, s := range samples {
		name := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '{' })[0]
		if !done[name] {
			meta := ntnHelp[strings.TrimPrefix(name, "caddy_fhir_pep_ntn_")]
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, meta[1], name, meta[0])
			done[name] = true
		}
		b.WriteString(s + "\n")
	}
	return b.String()
}
