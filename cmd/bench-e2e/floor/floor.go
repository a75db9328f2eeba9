// Package floor is a yardstick for cmd/bench-e2e, never a part of
// fhir-pep: the http.handlers.bench_floor handler does only what any
// policy enforcement point with fhir-pep's guarantees must do on an allowed
// read besides its checks. It holds the upstream's answer back until it is
// complete (a response check needs the whole body before the first byte
// may leave) and writes one audit record of an allowed read through
// fhir-pep's own audit sink, to the same Caddy logger and file,
// synchronously, before the answer is sent (audit { required }). It checks
// nothing.
//
// A site with bench_floor in front of reverse_proxy, measured beside the
// plain and the fhir-pep sites, splits what fhir-pep adds into the part
// those two duties cost on the machine at hand and the part the checks
// and the rest of fhir-pep cost.
package floor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/audit"
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

	sink   *audit.LogSink
	hasher *audit.PatientHasher
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.bench_floor",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets up fhir-pep's own audit sink and patient hasher on a
// logger named as fhir-pep names its own (a child of the handler's
// logger), so the bench's `log audit` block can include both.
func (h *Handler) Provision(ctx caddy.Context) error {
	key := make([]byte, audit.MinPatientKeyLen)
	_, _ = rand.Read(key)
	hasher, err := audit.NewPatientHasher(key)
	if err != nil {
		return err
	}
	h.sink, h.hasher = audit.NewLogSink(ctx.Logger().Named("audit")), hasher
	return nil
}

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

// audit writes an allowed read's audit record through fhir-pep's own
// sink (audit.LogSink, as its Auditor does), failing closed as
// audit { required } does when the line is not written.
func (h *Handler) audit(status int) error {
	var id [16]byte
	_, _ = rand.Read(id[:])
	rec := audit.Record{
		DecisionID:       hex.EncodeToString(id[:]),
		CorrelationID:    base64.RawURLEncoding.EncodeToString(id[:]),
		Time:             time.Now(),
		MemberID:         "org-sp-hospital-a",
		Thumbprint:       "-84RHdND8vjkyWPzS-wq4fDjRb8D4VapJlmOSfDkdfU",
		ClientID:         "http://pcm.fhir.health.gov.il/organization/org-sp-hospital-a",
		ConsentRefs:      []string{"Consent/consent-dripk3zqowdz", "HealthcareService/hs-org-sp-hospital-a"},
		SPOrganizationID: "org-sp-hospital-a",
		Intent:           "HealthcareService",
		Interaction:      "read",
		ResourceType:     "Observation",
		Outcome:          audit.OutcomeAllow,
		Status:           status,
		Returned:         1,
		PolicyVersion:    "eb2fdca48402686ee6122f053285de1dc8570356486a2152407adca4cfa4355d",
		PatientHash:      h.hasher.Hash("http://fhir.health.gov.il/identifier/il-national-id", "000000018"),
	}
	if err := h.sink.Write(context.Background(), rec); err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
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
