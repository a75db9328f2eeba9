package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

const (
	maxAdminBody    = 64 << 10
	defaultGrantTTL = time.Hour
	maxGrantTTL     = 30 * 24 * time.Hour
	// clientIDPrefix builds a service provider's PCM client id from its
	// organization id, as in http://pcm.fhir.health.gov.il/organization/633.
	clientIDPrefix = "http://pcm.fhir.health.gov.il/organization/"
)

// nationalID is a bare Israeli national id: nine digits.
var nationalID = regexp.MustCompile(`^[0-9]{9}$`)

// mintRequest is the body of POST /admin/tokens.
type mintRequest struct {
	// Patient is a national id ("000000018") or a full "system|value".
	Patient string `json:"patient"`
	// Scope is the SMART v2 scope string the consent grants.
	Scope string `json:"scope"`
	// Member names the service provider's certificate the token is bound
	// to: a pki.json client name, a member id or a thumbprint.
	Member string `json:"member"`
	// Thumbprint binds the token to any certificate (overrides Member).
	Thumbprint string `json:"x5t#S256"`
	// TTL is a Go duration ("10m"); default 1h.
	TTL string `json:"ttl"`
	// Optional overrides of introspection fields.
	Aud                 string   `json:"aud"`
	ClientID            string   `json:"client_id"`
	OrganizationID      string   `json:"organization_id"`
	ConsentID           string   `json:"consent_id"`
	HealthcareServiceID string   `json:"healthcare_service_id"`
	Omit                []string `json:"omit"`

	// The shapes of the national PCM (DESIGN.md section 4b), off by
	// default so that existing tokens keep the seed shape.
	//
	// PatientBare sends "patient" as the bare value ("000000018").
	PatientBare bool `json:"patient_bare"`
	// ConsentIDClaim sends the consent as "consent_id" instead of a
	// Consent reference in fhirContext (ConsentID names it either way).
	ConsentIDClaim bool `json:"consent_id_claim"`
	// Baskets is sent as the "baskets" claim exactly as given: a list of
	// codes or of {code, system, historical_depth} objects (or anything
	// else, to test that the PEP refuses it).
	Baskets json.RawMessage `json:"baskets"`
	// AccessType and SPOrganizationID are sent as "access_type" and
	// "sp_organization_id" when set.
	AccessType       string `json:"access_type"`
	SPOrganizationID string `json:"sp_organization_id"`
	// NotBefore sends "nbf" = issue time + this Go duration ("5m"; may be
	// negative).
	NotBefore string `json:"nbf_after"`
}

// mintResponse tells the test the token and what introspection will say.
type mintResponse struct {
	ID            string        `json:"id"`
	Token         string        `json:"token"`
	ExpiresAt     time.Time     `json:"expires_at"`
	Introspection introspection `json:"introspection"`
}

// grantFrom validates a mint request and turns it into a grant (without
// token and id).
func (p *pcm) grantFrom(req mintRequest) (grant, error) {
	g := grant{scope: strings.TrimSpace(req.Scope), omit: req.Omit}
	switch {
	case nationalID.MatchString(req.Patient):
		g.patient = nationalIDSystem + "|" + req.Patient
	case strings.Count(req.Patient, "|") == 1 && !strings.HasPrefix(req.Patient, "|") && !strings.HasSuffix(req.Patient, "|"):
		g.patient = req.Patient
	default:
		return grant{}, errors.New("patient must be a 9-digit national id or system|value")
	}
	if g.scope == "" {
		return grant{}, errors.New("scope is required")
	}
	member := ""
	switch {
	case req.Thumbprint != "":
		g.thumbprint = req.Thumbprint
		if c, ok := p.pki.FindClient(req.Thumbprint); ok {
			member = c.MemberID
		}
	case req.Member != "":
		c, ok := p.pki.FindClient(req.Member)
		if !ok {
			return grant{}, fmt.Errorf("no client certificate %q in pki.json", req.Member)
		}
		g.thumbprint, member = c.Thumbprint, c.MemberID
	default:
		return grant{}, errors.New("member or x5t#S256 is required")
	}
	ttl := defaultGrantTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > maxGrantTTL {
			return grant{}, errors.New("ttl must be a positive Go duration of at most 720h")
		}
		ttl = d
	}
	for _, f := range req.Omit {
		if !slices.Contains(omittable, f) {
			return grant{}, fmt.Errorf("omit: unknown field %q", f)
		}
	}
	g.aud = valueOr(req.Aud, p.cfg.resource)
	g.organizationID = valueOr(req.OrganizationID, valueOr(member, "unknown-organization"))
	g.clientID = valueOr(req.ClientID, clientIDPrefix+g.organizationID)
	g.consentID = valueOr(req.ConsentID, "consent-"+strings.ToLower(rand.Text()[:12]))
	g.healthcareServiceID = valueOr(req.HealthcareServiceID, "hs-"+valueOr(member, "unknown"))
	g.issuedAt = p.now()
	g.expiresAt = g.issuedAt.Add(ttl)
	g.patientBare, g.consentIDClaim = req.PatientBare, req.ConsentIDClaim
	if g.patientBare {
		_, value, _ := strings.Cut(g.patient, "|")
		g.patient = value
	}
	if len(req.Baskets) > 0 && string(req.Baskets) != "null" {
		g.baskets = slices.Clone(req.Baskets)
	}
	g.accessType, g.spOrganizationID = req.AccessType, req.SPOrganizationID
	if req.NotBefore != "" {
		d, err := time.ParseDuration(req.NotBefore)
		if err != nil {
			return grant{}, errors.New("nbf_after must be a Go duration")
		}
		g.notBefore = g.issuedAt.Add(d)
	}
	return g, nil
}

func valueOr(v, fallback string) string {
	if v != "" {
		return v
	}
	return fallback
}

// handleMint implements POST /admin/tokens.
func (p *pcm) handleMint(w http.ResponseWriter, r *http.Request) {
	var req mintRequest
	if err := simhttp.DecodeJSON(r, &req, maxAdminBody); err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	g, err := p.grantFrom(req)
	if err != nil {
		adminError(w, http.StatusBadRequest, err)
		return
	}
	g = p.grants.add(g)
	simhttp.WriteJSON(w, http.StatusCreated, mintResponse{
		ID:            g.id,
		Token:         g.token,
		ExpiresAt:     g.expiresAt.UTC(),
		Introspection: g.response(p.cfg.issuer),
	})
}

// handleRevoke implements POST /admin/tokens/{ref}/revoke; ref is the
// token's id (jti) or the token itself.
func (p *pcm) handleRevoke(w http.ResponseWriter, r *http.Request) {
	g, ok := p.grants.revoke(r.PathValue("ref"))
	if !ok {
		adminError(w, http.StatusNotFound, errors.New("no such token"))
		return
	}
	simhttp.WriteJSON(w, http.StatusOK, map[string]any{"id": g.id, "revoked": true})
}

// outageRequest is the body of POST /admin/outage.
type outageRequest struct {
	On *bool `json:"on"`
}

// handleOutage implements POST /admin/outage {"on": true|false}: while on,
// /token and /introspect answer 503.
func (p *pcm) handleOutage(w http.ResponseWriter, r *http.Request) {
	var req outageRequest
	if err := simhttp.DecodeJSON(r, &req, maxAdminBody); err != nil || req.On == nil {
		adminError(w, http.StatusBadRequest, errors.New(`body must be {"on": true|false}`))
		return
	}
	p.outage.Store(*req.On)
	simhttp.WriteJSON(w, http.StatusOK, map[string]bool{"outage": *req.On})
}

// statsResponse is the body of GET /admin/stats.
type statsResponse struct {
	TokenCalls            int64 `json:"token_calls"`
	TokensIssued          int64 `json:"tokens_issued"`
	IntrospectionCalls    int64 `json:"introspection_calls"`
	IntrospectionActive   int64 `json:"introspection_active"`
	IntrospectionInactive int64 `json:"introspection_inactive"`
	Outage                bool  `json:"outage"`
}

func (p *pcm) handleStats(w http.ResponseWriter, _ *http.Request) {
	simhttp.WriteJSON(w, http.StatusOK, statsResponse{
		TokenCalls:            p.stats.tokenCalls.Load(),
		TokensIssued:          p.stats.tokensIssued.Load(),
		IntrospectionCalls:    p.stats.introspectionCalls.Load(),
		IntrospectionActive:   p.stats.introspectionActive.Load(),
		IntrospectionInactive: p.stats.introspectionInactive.Load(),
		Outage:                p.outage.Load(),
	})
}

func adminError(w http.ResponseWriter, status int, err error) {
	simhttp.WriteJSON(w, status, map[string]string{"error": err.Error()})
}
