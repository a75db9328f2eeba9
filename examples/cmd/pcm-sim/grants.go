package main

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// nationalIDSystem is the identifier system of Israeli national ids.
const nationalIDSystem = "http://fhir.health.gov.il/identifier/il-national-id"

// grant is a service provider's opaque token as PCM would issue it after a
// patient's consent, with everything introspection tells about it.
type grant struct {
	id                  string // jti
	token               string
	patient             string // system|value, or the bare value with patientBare
	scope               string
	thumbprint          string // cnf.x5t#S256
	aud                 string
	clientID            string
	organizationID      string
	consentID           string
	healthcareServiceID string
	issuedAt            time.Time
	expiresAt           time.Time
	revoked             bool
	// omit lists response fields to leave out, so tests can prove that the
	// PEP denies incomplete introspection responses.
	omit []string

	// National PCM shapes (mintRequest).
	patientBare      bool
	consentIDClaim   bool
	baskets          json.RawMessage
	accessType       string
	spOrganizationID string
	notBefore        time.Time
}

// introspection is the RFC 7662 response for an active token, with the
// fields PCM returns in the seed documents.
type introspection struct {
	Active         bool              `json:"active"`
	Scope          string            `json:"scope,omitempty"`
	Patient        string            `json:"patient,omitempty"`
	Aud            string            `json:"aud,omitempty"`
	Iss            string            `json:"iss,omitempty"`
	ClientID       string            `json:"client_id,omitempty"`
	OrganizationID string            `json:"organization_id,omitempty"`
	TokenType      string            `json:"token_type,omitempty"`
	Exp            int64             `json:"exp,omitempty"`
	Iat            int64             `json:"iat,omitempty"`
	Jti            string            `json:"jti,omitempty"`
	Intent         string            `json:"intent,omitempty"`
	FHIRContext    []fhirContextRef  `json:"fhirContext,omitempty"`
	Cnf            map[string]string `json:"cnf,omitempty"`
	// Members of the national PCM (DESIGN.md section 4b).
	ConsentID        string          `json:"consent_id,omitempty"`
	Baskets          json.RawMessage `json:"baskets,omitempty"`
	AccessType       string          `json:"access_type,omitempty"`
	SPOrganizationID string          `json:"sp_organization_id,omitempty"`
	Nbf              int64           `json:"nbf,omitempty"`
}

type fhirContextRef struct {
	Reference string `json:"reference"`
}

// omittable are the field names a mint request may ask to leave out.
var omittable = []string{
	"scope", "patient", "aud", "iss", "client_id", "organization_id", "token_type",
	"exp", "iat", "jti", "intent", "fhirContext", "cnf",
}

// response builds the introspection answer for an active grant.
func (g *grant) response(issuer string) introspection {
	resp := introspection{
		Active:         true,
		Scope:          g.scope,
		Patient:        g.patient,
		Aud:            g.aud,
		Iss:            issuer,
		ClientID:       g.clientID,
		OrganizationID: g.organizationID,
		TokenType:      "Bearer",
		Exp:            g.expiresAt.Unix(),
		Iat:            g.issuedAt.Unix(),
		Jti:            g.id,
		Intent:         "HealthcareService",
		FHIRContext: []fhirContextRef{
			{Reference: "Consent/" + g.consentID},
			{Reference: "HealthcareService/" + g.healthcareServiceID},
		},
		Cnf: map[string]string{"x5t#S256": g.thumbprint},

		Baskets:          g.baskets,
		AccessType:       g.accessType,
		SPOrganizationID: g.spOrganizationID,
	}
	if g.consentIDClaim {
		resp.ConsentID = g.consentID
		resp.FHIRContext = resp.FHIRContext[1:] // the HealthcareService only
	}
	if !g.notBefore.IsZero() {
		resp.Nbf = g.notBefore.Unix()
	}
	for _, field := range g.omit {
		switch field {
		case "scope":
			resp.Scope = ""
		case "patient":
			resp.Patient = ""
		case "aud":
			resp.Aud = ""
		case "iss":
			resp.Iss = ""
		case "client_id":
			resp.ClientID = ""
		case "organization_id":
			resp.OrganizationID = ""
		case "token_type":
			resp.TokenType = ""
		case "exp":
			resp.Exp = 0
		case "iat":
			resp.Iat = 0
		case "jti":
			resp.Jti = ""
		case "intent":
			resp.Intent = ""
		case "fhirContext":
			resp.FHIRContext = nil
		case "cnf":
			resp.Cnf = nil
		}
	}
	return resp
}

// grantStore holds minted grants by token value and by id.
type grantStore struct {
	mu      sync.Mutex
	byToken map[string]*grant
	byID    map[string]*grant
}

func newGrantStore() *grantStore {
	return &grantStore{byToken: map[string]*grant{}, byID: map[string]*grant{}}
}

// add stores g under a fresh random token and id, and returns a copy.
func (s *grantStore) add(g grant) grant {
	g.token = rand.Text()
	g.id = "jti-" + rand.Text()
	g.omit = slices.Clone(g.omit)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byToken[g.token] = &g
	s.byID[g.id] = &g
	return g
}

// active returns the grant of token if it exists, is not revoked and has
// not expired at now.
func (s *grantStore) active(token string, now time.Time) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.byToken[token]
	if !ok || g.revoked || !now.Before(g.expiresAt) {
		return grant{}, false
	}
	return *g, true
}

// revoke marks the grant named by its id or token value as revoked.
func (s *grantStore) revoke(ref string) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.byID[ref]
	if !ok {
		g, ok = s.byToken[ref]
	}
	if !ok {
		return grant{}, false
	}
	g.revoked = true
	return *g, true
}
