package caddymodule

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hdp-il/fhir-pep/trust"
)

// ntnSubsystem is the metric subsystem of the ntn app.
const ntnSubsystem = "ntn"

func ntnDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, ntnSubsystem, name), help, labels, nil)
}

// The ntn metrics. Values are read from the manifest store when scraped
// (like a GaugeFunc), so they are never out of date, and counters live in
// the runtime shared across reloads, so a reload does not reset them.
var (
	ntnManifestVersionDesc = ntnDesc("manifest_version",
		"Version of the NTN manifest in force (absent before the first one).")
	ntnManifestAgeDesc = ntnDesc("manifest_age_seconds",
		"Seconds since the issued_at of the NTN manifest in force.")
	ntnManifestExpiryDesc = ntnDesc("manifest_expiry_timestamp_seconds",
		"expires_at of the NTN manifest in force, as a Unix timestamp.")
	ntnStaleDesc = ntnDesc("manifest_stale",
		"1 when no fresh NTN manifest is in force and every client certificate is rejected, else 0.")
	ntnLastSuccessDesc = ntnDesc("last_success_timestamp_seconds",
		"Unix time of the last successful manifest fetch and verification (absent if none).")
	ntnRefreshFailuresDesc = ntnDesc("refresh_failures_total",
		"Failed manifest refreshes (and state_dir write failures), by reason.", "reason")
	ntnConsecutiveFailuresDesc = ntnDesc("consecutive_refresh_failures",
		"Manifest refreshes failed in a row since the last success.")
	ntnActiveMembersDesc = ntnDesc("active_members",
		"Members with status active in the NTN manifest in force.")
	ntnTrustedCertificatesDesc = ntnDesc("trusted_certificates",
		"Pinned and CA certificates of active members in the NTN manifest in force.")
	ntnHandshakeRejectionsDesc = ntnDesc("handshake_rejections_total",
		"TLS handshakes refused by the ntn client certificate verifier, by reason.", "reason")
)

var ntnDescs = []*prometheus.Desc{
	ntnManifestVersionDesc, ntnManifestAgeDesc, ntnManifestExpiryDesc, ntnStaleDesc,
	ntnLastSuccessDesc, ntnRefreshFailuresDesc, ntnConsecutiveFailuresDesc,
	ntnActiveMembersDesc, ntnTrustedCertificatesDesc, ntnHandshakeRejectionsDesc,
}

// ntnCollector exports the ntn app's state. Caddy creates a registry per
// config load, so it is registered on every Provision.
type ntnCollector struct {
	app atomic.Pointer[NTNApp]
}

// registerNTNCollector registers a collector for app in reg, or rebinds
// the one already there (a second Provision into the same registry).
func registerNTNCollector(reg prometheus.Registerer, app *NTNApp) (*ntnCollector, error) {
	c := &ntnCollector{}
	c.app.Store(app)
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*ntnCollector); ok {
			existing.app.Store(app)
			return existing, nil
		}
	}
	return nil, err
}

// detach stops the collector from reporting app (after its Cleanup).
func (c *ntnCollector) detach(app *NTNApp) {
	c.app.CompareAndSwap(app, nil)
}

// Describe implements prometheus.Collector.
func (c *ntnCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range ntnDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ntnCollector) Collect(ch chan<- prometheus.Metric) {
	app := c.app.Load()
	if app == nil || app.runtime == nil {
		return
	}
	st := app.runtime.store.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	if st.HasManifest {
		gauge(ntnManifestVersionDesc, float64(st.Version))
		gauge(ntnManifestAgeDesc, app.now().Sub(st.IssuedAt).Seconds())
		gauge(ntnManifestExpiryDesc, unixSeconds(st.ExpiresAt))
		gauge(ntnActiveMembersDesc, float64(st.ActiveMembers))
		gauge(ntnTrustedCertificatesDesc, float64(st.TrustedCertificates))
	}
	stale := 0.0
	if st.Stale {
		stale = 1
	}
	gauge(ntnStaleDesc, stale)
	if !st.LastSuccess.IsZero() {
		gauge(ntnLastSuccessDesc, unixSeconds(st.LastSuccess))
	}
	gauge(ntnConsecutiveFailuresDesc, float64(st.ConsecutiveFailures))
	for _, reason := range trust.RefreshReasons {
		ch <- prometheus.MustNewConstMetric(ntnRefreshFailuresDesc, prometheus.CounterValue, float64(st.Failures[reason]), string(reason))
	}
	for reason, n := range app.runtime.rejections {
		ch <- prometheus.MustNewConstMetric(ntnHandshakeRejectionsDesc, prometheus.CounterValue, float64(n.Load()), string(reason))
	}
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / float64(time.Second)
}
