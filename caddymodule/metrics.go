package caddymodule

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hdp-il/fhir-pep/introspection"
)

const metricsNamespace = "caddy_fhir_pep"

// handlerMetrics are the handler's collectors. They are registered in the
// registry of the config being provisioned (Caddy makes a new one on every
// reload), so what /metrics exports is always what the handler updates.
// Labels are low-cardinality by construction: reasons and outcomes are
// constants of this module, never tokens, patients, ids or URLs.
type handlerMetrics struct {
	decisions        *prometheus.CounterVec
	stageDuration    *prometheus.HistogramVec
	introspections   *prometheus.CounterVec
	introspectionDur prometheus.Histogram
	cacheRequests    *prometheus.CounterVec
	cacheEvictions   prometheus.Counter
	tokenRefreshes   *prometheus.CounterVec
	budgetRefusals   *prometheus.CounterVec
	failClosed       *prometheus.CounterVec
	withheld         *prometheus.CounterVec
	returned         prometheus.Counter
	dryRunDenials    *prometheus.CounterVec
	policyInfo       *prometheus.GaugeVec
	auditRecords     *prometheus.CounterVec

	// The children of the hot path, resolved once: WithLabelValues hashes
	// its labels and takes a lock on every call, and these run on every
	// request.
	allowed                                     prometheus.Counter
	stageGate, stagePolicy, stageUp, stageCheck prometheus.Observer
	cacheHit, cacheMiss                         prometheus.Counter
}

// stageBuckets cover the stages' range: microseconds for the gate on a
// cache hit, seconds for a slow upstream.
var stageBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// newHandlerMetrics builds the collectors and registers them in reg. Each
// collector is declared and registered in one statement, so no second list
// can drift from the first.
func newHandlerMetrics(reg prometheus.Registerer) (*handlerMetrics, error) {
	var err error
	m := &handlerMetrics{
		decisions: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "decisions_total",
			Help: "Requests decided by the PEP, by outcome (allow, deny) and reason.",
		}, []string{"outcome", "reason"}), &err),
		stageDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "stage_duration_seconds",
			Help:    "Time spent in each stage of the PEP (gate, policy, upstream, response).",
			Buckets: stageBuckets,
		}, []string{"stage"}), &err),
		introspections: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "introspection_requests_total",
			Help: "Introspection calls made to PCM, by outcome.",
		}, []string{"outcome"}), &err),
		introspectionDur: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "introspection_duration_seconds",
			Help:    "Latency of introspection calls to PCM.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}), &err),
		cacheRequests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "introspection_cache_requests_total",
			Help: "Introspection cache lookups, by result (hit, miss).",
		}, []string{"result"}), &err),
		cacheEvictions: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "introspection_cache_evictions_total",
			Help: "Introspection results evicted from the cache before they expired.",
		}), &err),
		tokenRefreshes: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "pcm_token_refreshes_total",
			Help: "Refreshes of the PEP's own PCM access token, by outcome.",
		}, []string{"outcome"}), &err),
		budgetRefusals: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "pcm_budget_refusals_total",
			Help: "Introspection calls not made because the PCM call budget was spent, by scope (member, total) and limit (rate, in_flight).",
		}, []string{"scope", "limit"}), &err),
		failClosed: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "fail_closed_total",
			Help: "Requests refused because a dependency failed (PCM, NTN, policy, upstream), by reason.",
		}, []string{"reason"}), &err),
		withheld: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "resources_withheld_total",
			Help: "Resources removed from upstream answers by response enforcement, by reason.",
		}, []string{"reason"}), &err),
		returned: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "resources_returned_total",
			Help: "Resources returned to clients after response enforcement.",
		}), &err),
		dryRunDenials: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "dry_run_denials_total",
			Help: "Requests the policy denied but dry-run let through, by reason.",
		}, []string{"reason"}), &err),
		policyInfo: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "policy_info",
			Help: "The loaded policy bundle (1 for the current version).",
		}, []string{"version"}), &err),
		auditRecords: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "audit_records_total",
			Help: "Audit records by sink and result (written, failed, dropped).",
		}, []string{"sink", "result"}), &err),
	}
	if err == nil {
		m.allowed = m.decisions.WithLabelValues("allow", "allowed")
		m.stageGate = m.stageDuration.WithLabelValues(stageGate)
		m.stagePolicy = m.stageDuration.WithLabelValues(stagePolicy)
		m.stageUp = m.stageDuration.WithLabelValues(stageUpstream)
		m.stageCheck = m.stageDuration.WithLabelValues(stageResponse)
		m.cacheHit = m.cacheRequests.WithLabelValues("hit")
		m.cacheMiss = m.cacheRequests.WithLabelValues("miss")
	}
	return m, err
}

// The stages of stage_duration_seconds.
const (
	stageGate     = "gate"
	stagePolicy   = "policy"
	stageUpstream = "upstream"
	stageResponse = "response"
)

// register adds c to reg, or returns the collector already there: several
// fhir_pep handlers in one config share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if *errp != nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		*errp = err
	}
	return c
}

// observeDecision counts the final decision of a request once. failClosed
// marks a denial caused by a failing dependency, also counted on its own
// for alerting.
func (m *handlerMetrics) observeDecision(allowed bool, reason string, failClosed bool) {
	if allowed {
		m.allowed.Inc()
		return
	}
	m.decisions.WithLabelValues("deny", reason).Inc()
	if failClosed {
		m.failClosed.WithLabelValues(reason).Inc()
	}
}

// observeStage records the time spent in one stage of the request path
// since start, on the PEP's clock, on the stage's pre-resolved histogram
// child (m.stageGate, m.stagePolicy, m.stageUp, m.stageCheck).
func (p *PEP) observeStage(stage prometheus.Observer, start time.Time) {
	stage.Observe(p.now().Sub(start).Seconds())
}

// introspectionHooks connects the introspection package's events to the
// collectors of this config.
func (m *handlerMetrics) introspectionHooks() introspection.Hooks {
	return introspection.Hooks{
		OnIntrospection: func(outcome string, d time.Duration) {
			m.introspections.WithLabelValues(outcome).Inc()
			m.introspectionDur.Observe(d.Seconds())
		},
		OnTokenRefresh: func(outcome string) { m.tokenRefreshes.WithLabelValues(outcome).Inc() },
		OnCache: func(hit bool) {
			if hit {
				m.cacheHit.Inc()
			} else {
				m.cacheMiss.Inc()
			}
		},
		OnEvict:  func() { m.cacheEvictions.Inc() },
		OnBudget: func(scope, limit string) { m.budgetRefusals.WithLabelValues(scope, limit).Inc() },
	}
}

// nopRegisterer accepts collectors without exporting them, for the offline
// commands that reuse the handler's code paths.
type nopRegisterer struct{}

func (nopRegisterer) Register(prometheus.Collector) error  { return nil }
func (nopRegisterer) MustRegister(...prometheus.Collector) {}
func (nopRegisterer) Unregister(prometheus.Collector) bool { return true }

// registerCacheSize exports the introspection cache's size. The gauge reads
// the cache at scrape time; with several fhir_pep handlers in one config
// the first one's cache is reported.
func registerCacheSize(reg prometheus.Registerer, size func() int64) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "introspection_cache_size_bytes",
		Help: "Memory accounted to cached introspection answers.",
	}, func() float64 { return float64(size()) })
	var err error
	register(reg, prometheus.Collector(g), &err)
	return err
}
