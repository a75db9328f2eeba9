package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/internal/caddyblock"
	"github.com/hdp-il/fhir-pep/internal/readiness"
	"github.com/hdp-il/fhir-pep/trust"
)

func init() {
	caddy.RegisterModule(Health{})
	httpcaddyfile.RegisterHandlerDirective("fhir_pep_health", parseHealthCaddyfile)
	// A terminal handler, like respond: ordered with it so no `order` line is needed.
	httpcaddyfile.RegisterDirectiveOrder("fhir_pep_health", httpcaddyfile.Before, "respond")
}

// livePEPs are the provisioned fhir_pep handlers, for the health endpoint:
// it reports on the PCM connection and policy of each.
var livePEPs = struct {
	sync.Mutex
	set map[*PEP]struct{}
}{set: map[*PEP]struct{}{}}

func registerLive(p *PEP) {
	livePEPs.Lock()
	livePEPs.set[p] = struct{}{}
	livePEPs.Unlock()
}

func unregisterLive(p *PEP) {
	livePEPs.Lock()
	delete(livePEPs.set, p)
	livePEPs.Unlock()
}

// Health is an HTTP handler that answers with the PEP's health, for load
// balancers and operators: NTN manifest freshness, PCM reachability (the
// PEP can obtain its own PCM token), the loaded policy and upstream
// reachability. It answers 200 when requests can be served and 503, with
// the failing checks in "reason", when they would all fail closed.
//
// By the last path segment: GET .../health/live answers 200 whenever the
// process serves (no dependency is looked at); .../jwks.json answers the
// upstream assertion keys; any other path, .../health/ready among them,
// answers the report.
//
// Put it on a separate, non-public listener or path, e.g.:
//
//	:2020 {
//	    fhir_pep_health
//	}
//
// The report holds no tokens, patient data or certificates.
type Health struct {
	// Timeout bounds the PCM and upstream probes. Default: 3s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	ntn    ntnStats
	logger *zap.Logger
}

// ntnStats is the part of the ntn app the health report reads.
type ntnStats interface {
	Stats() trust.Stats
}

// CaddyModule returns the Caddy module information.
func (Health) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.fhir_pep_health",
		New: func() caddy.Module { return new(Health) },
	}
}

// Provision finds the ntn app (optional: without it the report says so).
func (h *Health) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Timeout == 0 {
		h.Timeout = caddy.Duration(3 * time.Second)
	}
	if app, err := ctx.AppIfConfigured("ntn"); err == nil {
		if st, ok := app.(ntnStats); ok {
			h.ntn = st
		}
	}
	return nil
}

type healthCheck struct {
	Status string `json:"status"` // ok, degraded, fail
	Detail string `json:"detail,omitempty"`
	// NTN
	ManifestVersion     int64  `json:"manifest_version,omitempty"`
	ManifestAgeSeconds  *int64 `json:"manifest_age_seconds,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures,omitempty"`
	// Policy
	PolicyVersion string `json:"policy_version,omitempty"`
	DryRun        bool   `json:"dry_run,omitempty"`
}

type healthReport struct {
	Status string `json:"status"`
	// Reason names the failing checks, for a 503.
	Reason string                 `json:"reason,omitempty"`
	Checks map[string]healthCheck `json:"checks"`
}

// ServeHTTP answers GET .../health/live (200: the process serves),
// .../jwks.json (the upstream assertion keys) and, on any other path
// (.../health/ready among them), the report.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if readiness.KindOf(r.URL.Path) == readiness.Live {
		writeLive(w)
		return nil
	}
	peps := currentPEPs()
	if strings.HasSuffix(r.URL.Path, "/jwks.json") {
		return serveAssertionJWKS(w, peps)
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.Timeout))
	defer cancel()
	rep := healthReport{Status: "ok", Checks: map[string]healthCheck{}}
	rep.Checks["ntn"] = h.ntnCheck(time.Now())
	if len(peps) == 0 {
		rep.Checks["pcm"] = healthCheck{Status: "fail", Detail: "no fhir_pep handler is configured"}
		rep.Checks["policy"] = healthCheck{Status: "fail", Detail: "no fhir_pep handler is configured"}
	}
	for i, p := range peps {
		suffix := ""
		if i > 0 {
			suffix = "_" + strconv.Itoa(i+1)
		}
		rep.Checks["pcm"+suffix] = p.pcmCheck(ctx)
		rep.Checks["upstream"+suffix] = p.upstreamCheck(ctx)
		rep.Checks["policy"+suffix] = healthCheck{Status: "ok", PolicyVersion: p.engine.Version(), DryRun: p.Policy.DryRun}
		if p.Policy.DryRun {
			rep.Checks["policy"+suffix] = healthCheck{Status: "degraded", Detail: "dry_run is on", PolicyVersion: p.engine.Version(), DryRun: true}
		}
	}
	sum := summarizeChecks(rep.Checks)
	rep.Status, rep.Reason = string(sum.Status), sum.Reason
	status := sum.HTTPStatus
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

func (h *Health) ntnCheck(now time.Time) healthCheck {
	if h.ntn == nil {
		return healthCheck{Status: "fail", Detail: "the ntn app is not configured"}
	}
	st := h.ntn.Stats()
	c := healthCheck{ManifestVersion: st.Version, ConsecutiveFailures: st.ConsecutiveFailures}
	if !st.LastSuccess.IsZero() {
		age := int64(now.Sub(st.LastSuccess).Seconds())
		c.ManifestAgeSeconds = &age
	}
	switch {
	case !st.HasManifest:
		c.Status, c.Detail = "fail", "no verified manifest yet"
	case st.Stale:
		c.Status, c.Detail = "fail", "manifest is stale"
	case st.ConsecutiveFailures > 0:
		c.Status, c.Detail = "degraded", "manifest refresh failing: "+string(st.LastFailureReason)
	default:
		c.Status = "ok"
	}
	return c
}

// pcmCheck reports whether the PEP can get its own PCM token: a cached,
// valid token answers at once; otherwise this is one real token request
// (none while a failed refresh backs off). With introspection_auth mtls
// there is no token to get and the check passes.
func (p *PEP) pcmCheck(ctx context.Context) healthCheck {
	if err := p.pcm.ready(ctx); err != nil {
		return healthCheck{Status: "fail", Detail: "cannot obtain a PCM access token"}
	}
	return healthCheck{Status: "ok"}
}

func parseHealthCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	hh := new(Health)
	err := hh.UnmarshalCaddyfile(h.Dispenser)
	return hh, err
}

// UnmarshalCaddyfile sets up the health handler. Syntax:
//
//	fhir_pep_health [<matcher>] {
//	    timeout <duration>
//	}
func (h *Health) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	_, err := caddyblock.Parse(d, "", caddyblock.Handlers{
		"timeout": caddyblock.Duration(&h.Timeout),
	})
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Health)(nil)
	_ caddyhttp.MiddlewareHandler = (*Health)(nil)
	_ caddyfile.Unmarshaler       = (*Health)(nil)
)
