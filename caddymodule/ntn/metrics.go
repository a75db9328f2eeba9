package ntn

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hdp-il/fhir-pep/trust"
)

// The ntn app's metrics are caddy_fhir_pep_ntn_*: the namespace of the
// fhir_pep handler's metrics, so that one prefix selects all of fhir-pep.
const (
	namespace = "caddy_fhir_pep"
	subsystem = "ntn"
)

// descs lists every descriptor desc made, for Describe: declaring a metric
// is enough to export it.
var descs []*prometheus.Desc

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
	descs = append(descs, d)
	return d
}

// The ntn metrics. Values are read from the manifest store when scraped
// (like a GaugeFunc), so they are never out of date, and counters live in
// the runtime shared across reloads, so a reload does not reset them.
var (
	manifestVersionDesc = desc("manifest_version",
		"Version of the NTN manifest in force (absent before the first one).")
	manifestAgeDesc = desc("manifest_age_seconds",
		"Seconds since the issued_at of the NTN manifest in force.")
	manifestExpiryDesc = desc("manifest_expiry_timestamp_seconds",
		"expires_at of the NTN manifest in force, as a Unix timestamp.")
	staleDesc = desc("manifest_stale",
		"1 when no fresh NTN manifest is in force and every client certificate is rejected, else 0.")
	lastSuccessDesc = desc("last_success_timestamp_seconds",
		"Unix time of the last successful manifest fetch and verification (absent if none).")
	refreshFailuresDesc = desc("refresh_failures_total",
		"Failed manifest refreshes (and state_dir write failures), by reason.", "reason")
	consecutiveFailuresDesc = desc("consecutive_refresh_failures",
		"Manifest refreshes failed in a row since the last success.")
	activeMembersDesc = desc("active_members",
		"Members with status active in the NTN manifest in force.")
	trustedCertificatesDesc = desc("trusted_certificates",
		"Pinned and CA certificates of active members in the NTN manifest in force.")
	handshakeRejectionsDesc = desc("handshake_rejections_total",
		"TLS handshakes refused by the ntn client certificate verifier, by reason.", "reason")
)

// collector exports the ntn app's state. Caddy creates a registry per
// config load, so it is registered on every Provision.
type collector struct {
	app atomic.Pointer[App]
}

// registerCollector registers a collector for app in reg, or rebinds
// the one already there (a second Provision into the same registry).
func registerCollector(reg prometheus.Registerer, app *App) (*collector, error) {
	c := &collector{}
	c.app.Store(app)
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*collector); ok {
			existing.app.Store(app)
			return existing, nil
		}
	}
	return nil, err
}

// Metrics returns a collector that describes every ntn metric and, bound to
// no app, reports none: for checks of metric names outside this package
// (the alert rules and dashboard test of caddymodule).
func Metrics() prometheus.Collector { return new(collector) }

// detach stops the collector from reporting app (after its Cleanup).
func (c *collector) detach(app *App) {
	c.app.CompareAndSwap(app, nil)
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	app := c.app.Load()
	if app == nil || app.runtime == nil {
		return
	}
	st := app.runtime.store.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	if st.HasManifest {
		gauge(manifestVersionDesc, float64(st.Version))
		gauge(manifestAgeDesc, app.now().Sub(st.IssuedAt).Seconds())
		gauge(manifestExpiryDesc, unixSeconds(st.ExpiresAt))
		gauge(activeMembersDesc, float64(st.ActiveMembers))
		gauge(trustedCertificatesDesc, float64(st.TrustedCertificates))
	}
	stale := 0.0
	if st.Stale {
		stale = 1
	}
	gauge(staleDesc, stale)
	if !st.LastSuccess.IsZero() {
		gauge(lastSuccessDesc, unixSeconds(st.LastSuccess))
	}
	gauge(consecutiveFailuresDesc, float64(st.ConsecutiveFailures))
	for _, reason := range trust.RefreshReasons {
		ch <- prometheus.MustNewConstMetric(refreshFailuresDesc, prometheus.CounterValue, float64(st.Failures[reason]), string(reason))
	}
	for reason, n := range app.runtime.rejections {
		ch <- prometheus.MustNewConstMetric(handshakeRejectionsDesc, prometheus.CounterValue, float64(n.Load()), string(reason))
	}
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / float64(time.Second)
}
