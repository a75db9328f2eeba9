// Package floor is a yardstick for cmd/bench-e2e, never a part of
// fhir-pep: the http.handlers.bench_floor handler does only what any
// policy enforcement point with fhir-pep's guarantees must do on an allowed
// read besides its checks. It holds the upstream's answer back until it is
// complete (a response check needs the whole body before the first byte
// may leave) and writes one audit line of the same shape and size as
// fhir-pep's through the same Caddy logger and file writer, synchronously,
// before the answer is sent (audit { required }). It checks nothing.
//
// A site with bench_floor in front of reverse_proxy, measured beside the
// plain and the fhir-pep sites, splits what fhir-pep adds into the part
// those two duties cost on the machine at hand and the part the checks
// and the rest of fhir-pep cost.
package floor

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("bench_floor", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("bench_floor", httpcaddyfile.Before, "reverse_proxy")
}

// Handler is the bench_floor handler.
type Handler struct {
	// Only, when set, does one of the two duties: "capture" holds the
	// answer back without an audit line, "audit" writes the audit line
	// and lets the answer stream. It splits the floor's cost in two.
	Only string `json:"only,omitempty"`

	logger *zap.Logger
	key    []byte
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.bench_floor",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision names the audit logger as fhir-pep's audit sink names its own
// (a child of the handler's logger), so the bench's `log audit` block can
// include both.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger().Named("audit")
	h.key = make([]byte, 32)
	_, err := rand.Read(h.key)
	return err
}

// errNotAudited fails the request closed, as audit { required } does.
var errNotAudited = errors.New("bench_floor: audit logger disabled")

var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP captures the upstream answer, writes the audit line, then
// answers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.Only == "audit" {
		if err := h.audit(http.StatusOK); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	}
	body := bodies.Get().(*bytes.Buffer)
	defer func() { body.Reset(); bodies.Put(body) }()
	c := &capture{header: make(http.Header), body: body, status: http.StatusOK}
	if err := next.ServeHTTP(c, r); err != nil {
		return err
	}
	if h.Only != "capture" {
		if err := h.audit(c.status); err != nil {
			return err
		}
	}
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(c.status)
	_, err := w.Write(body.Bytes())
	return err
}

// audit writes the audit line, or fails closed without a logger for it.
func (h *Handler) audit(status int) error {
	ce := h.logger.Check(zap.InfoLevel, "decision")
	if ce == nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, errNotAudited)
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte("000000018"))
	now := time.Now()
	ce.Write(
		zap.String("decision_id", hex.EncodeToString(id[:])),
		zap.String("correlation_id", base64.RawURLEncoding.EncodeToString(id[:])),
		zap.String("time", now.UTC().Format("2006-01-02T15:04:05.000Z07:00")),
		zap.String("member_id", "org-sp-hospital-a"),
		zap.String("thumbprint", "-84RHdND8vjkyWPzS-wq4fDjRb8D4VapJlmOSfDkdfU"),
		zap.String("client_id", "http://pcm.fhir.health.gov.il/organization/org-sp-hospital-a"),
		zap.Strings("consent_refs", []string{"Consent/consent-dripk3zqowdz", "HealthcareService/hs-org-sp-hospital-a"}),
		zap.String("consent_id", ""),
		zap.String("access_type", ""),
		zap.String("sp_organization_id", "org-sp-hospital-a"),
		zap.Strings("baskets", nil),
		zap.String("intent", "HealthcareService"),
		zap.String("interaction", "read"),
		zap.String("resource_type", "Observation"),
		zap.String("outcome", "allow"),
		zap.Int("status", status),
		zap.String("reason", ""),
		zap.String("stage", ""),
		zap.Int("returned", 1),
		zap.Int("withheld", 0),
		zap.String("policy_version", "eb2fdca48402686ee6122f053285de1dc8570356486a2152407adca4cfa4355d"),
		zap.String("patient_hash", base64.RawURLEncoding.EncodeToString(mac.Sum(nil))),
		zap.Bool("dry_run", false),
	)
	return nil
}

// capture holds the upstream's answer.
type capture struct {
	header http.Header
	body   *bytes.Buffer
	status int
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	c.status = status
	if n, err := strconv.Atoi(c.header.Get("Content-Length")); err == nil && n > 0 {
		c.body.Grow(n)
	}
}

func (c *capture) Write(p []byte) (int, error) { return c.body.Write(p) }

// parseCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	bench_floor [capture|audit]
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var f Handler
	return &f, f.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile takes an optional duty (Only) and no block.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		if h.Only = d.Val(); h.Only != "capture" && h.Only != "audit" {
			return d.Errf("bench_floor: unknown duty %q (want capture or audit)", h.Only)
		}
	}
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("bench_floor takes at most one argument and no block")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
