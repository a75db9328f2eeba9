package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/hdp-il/fhir-pep/fhir"
	"github.com/hdp-il/fhir-pep/internal/caddyblock"
	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/upstreamjwt"
)

// UpstreamAssertionConfig turns on the upstream assertion (off by
// default): every upstream request that carries out an allowed decision
// also carries a short-lived JWT describing it (package upstreamjwt), for
// FHIR servers that enforce as well. The public key is served as a JWKS
// by the health handler (GET <health>/jwks.json).
type UpstreamAssertionConfig struct {
	// Key is a PEM file with the private key: P-256 EC (ES256) or RSA
	// (RS256). Required.
	Key string `json:"key,omitempty"`
	// Issuer is the assertion's iss, the data source. Default: the
	// handler's resource.
	Issuer string `json:"issuer,omitempty"`
	// Header carries the assertion upstream. Default: Authorization, as
	// "Bearer <jwt>"; any other header gets the bare JWT.
	Header string `json:"header,omitempty"`
}

const defaultAssertionHeader = "Authorization"

func (c *UpstreamAssertionConfig) unmarshalCaddyfile(d *caddyfile.Dispenser) (*caddyblock.Block, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	return caddyblock.Parse(d, "upstream_assertion", caddyblock.Handlers{
		"key":    caddyblock.String(&c.Key),
		"issuer": caddyblock.String(&c.Issuer),
		"header": caddyblock.String(&c.Header),
	})
}

// check is the pure part of the configuration check.
func (c *UpstreamAssertionConfig) check() *configError {
	if c.Key == "" {
		return missing("upstream_assertion", "key", " (PEM file of a P-256 EC or RSA private key)")
	}
	if c.Header != "" && !validHeaderName(c.Header) {
		return invalid("upstream_assertion", "header", "%q is not an HTTP header name", c.Header)
	}
	return nil
}

// validHeaderName admits RFC 9110 token characters.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// upstreamAsserter signs assertions and puts them on upstream requests.
type upstreamAsserter struct {
	signer   *upstreamjwt.Signer
	header   string
	audience string
}

// newUpstreamAsserter reads the key; audience is the upstream base (aud),
// defaultIssuer the handler's resource.
func (c *UpstreamAssertionConfig) newUpstreamAsserter(audience, defaultIssuer string, now func() time.Time) (*upstreamAsserter, error) {
	keyPEM, err := os.ReadFile(c.Key)
	if err != nil {
		return nil, fmt.Errorf("upstream_assertion key: %w", err)
	}
	iss := c.Issuer
	if iss == "" {
		iss = defaultIssuer
	}
	s, err := upstreamjwt.NewSigner(upstreamjwt.Config{KeyPEM: keyPEM, Issuer: iss, Now: now})
	if err != nil {
		return nil, fmt.Errorf("upstream_assertion key %s: %w", c.Key, err)
	}
	h := c.Header
	if h == "" {
		h = defaultAssertionHeader
	}
	return &upstreamAsserter{signer: s, header: http.CanonicalHeaderKey(h), audience: audience}, nil
}

// assertionCtxKey carries the signed assertion from the decision to the
// fetcher through the upstream calls' context.
type assertionCtxKey struct{}

// bind signs the assertion of an allowed decision and returns the context
// the upstream calls must use. A decision about a patient must name
// exactly one logical id: with none or several the upstream could not
// enforce it, so the request fails closed (ok false).
func (a *upstreamAsserter) bind(ctx context.Context, claims *introspection.Claims, ids []string, correlationID string) (context.Context, bool, error) {
	if len(ids) != 1 {
		return ctx, false, nil
	}
	d := upstreamjwt.Decision{
		Subject:       claims.ClientID,
		Audience:      a.audience,
		Patient:       ids[0],
		Scope:         claims.Scope,
		ConsentID:     claims.ConsentRef(),
		CorrelationID: correlationID,
	}
	if claims.Baskets != nil {
		d.Baskets = make([]upstreamjwt.Basket, len(claims.Baskets))
		for i, b := range claims.Baskets {
			d.Baskets[i] = upstreamjwt.Basket{Code: b.Code, System: b.System, HistoricalDepth: b.HistoricalDepth}
		}
	}
	tok, err := a.signer.Sign(d)
	if err != nil {
		return ctx, false, err
	}
	v := tok
	if a.header == "Authorization" {
		v = "Bearer " + tok
	}
	return context.WithValue(ctx, assertionCtxKey{}, [2]string{a.header, v}), true, nil
}

// setUpstreamAssertion puts the assertion bound to ctx, if any, on an
// upstream request's headers.
func setUpstreamAssertion(ctx context.Context, h http.Header) {
	if hv, ok := ctx.Value(assertionCtxKey{}).([2]string); ok {
		h.Set(hv[0], hv[1])
	}
}

// mergeJWKS joins the JWKS documents of several handlers (one site may
// have more than one fhir_pep block) into one key set, each key once.
func mergeJWKS(docs [][]byte) ([]byte, error) {
	var out struct {
		Keys []json.RawMessage `json:"keys"`
	}
	out.Keys = []json.RawMessage{}
	seen := map[string]bool{}
	for _, doc := range docs {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(doc, &set); err != nil {
			return nil, err
		}
		for _, k := range set.Keys {
			if !seen[string(k)] {
				seen[string(k)] = true
				out.Keys = append(out.Keys, k)
			}
		}
	}
	return json.Marshal(out)
}

// bindAssertion returns the context for the upstream calls of an allowed
// plan: with upstream_assertion on, it carries the signed assertion. A
// plan about several Patients is refused (the assertion names one), one
// about none (no patient context, or no data here) and capabilities go
// without.
func (p *PEP) bindAssertion(x *exchange, pl *plan) (context.Context, error) {
	ctx := x.r.Context()
	if p.asserter == nil || pl.req.Interaction == fhir.InteractionCapabilities || len(pl.ids) == 0 {
		return ctx, nil
	}
	if len(pl.ids) > 1 {
		return ctx, denyDuplicatePatient
	}
	ctx, _, err := p.asserter.bind(ctx, x.subject.Claims, pl.ids, x.correlationID)
	if err != nil {
		p.logger.Error("upstream assertion not signed; denying", zap.Error(err))
		return ctx, denyInternal
	}
	return ctx, nil
}
