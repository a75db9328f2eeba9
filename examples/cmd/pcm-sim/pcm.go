package main

import (
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hdp-il/fhir-pep/examples/demopki"
	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

// config is what an operator chooses about the simulated PCM.
type config struct {
	// tokenURL is the public URL of POST /token: the required audience of
	// client assertions.
	tokenURL string
	// issuer is "iss" in introspection responses.
	issuer string
	// clientID is the data source's PCM client id (iss and sub of its
	// assertions) and clientMember the NTN member whose certificate must
	// present it.
	clientID     string
	clientMember string
	// resource is the default audience of minted tokens: the data source's
	// FHIR base URL as the PEP knows it.
	resource string
	// accessTokenTTL is the lifetime of PCM's own access tokens (30 s).
	accessTokenTTL time.Duration
	// maxAssertionLifetime caps exp-now of a client assertion.
	maxAssertionLifetime time.Duration
}

// pcm is the simulated Patient Consent Management service.
type pcm struct {
	cfg   config
	pki   *demopki.Index
	trust *demopki.MemberTrust
	now   func() time.Time

	mu           sync.Mutex
	accessTokens map[string]accessToken // PCM's own tokens, by token value
	seenJTIs     map[string]time.Time   // assertion ids until their exp
	grants       *grantStore

	outage atomic.Bool
	stats  stats
}

// stats counts calls so end-to-end tests can prove caching and fail-closed
// behaviour of the PEP (for example: a cached token causes no introspection).
type stats struct {
	tokenCalls            atomic.Int64
	tokensIssued          atomic.Int64
	introspectionCalls    atomic.Int64
	introspectionActive   atomic.Int64
	introspectionInactive atomic.Int64
}

func newPCM(cfg config, pki *demopki.Index, now func() time.Time) (*pcm, error) {
	trust, err := pki.MemberTrust()
	if err != nil {
		return nil, err
	}
	return &pcm{
		cfg:          cfg,
		pki:          pki,
		trust:        trust,
		now:          now,
		accessTokens: map[string]accessToken{},
		seenJTIs:     map[string]time.Time{},
		grants:       newGrantStore(),
	}, nil
}

// publicHandler serves the mTLS API: the token and introspection endpoints.
func (p *pcm) publicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/token", p.handleToken)
	mux.HandleFunc("/introspect", p.handleIntrospect)
	return mux
}

// adminHandler serves the loopback admin API (see README).
func (p *pcm) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/tokens", p.handleMint)
	mux.HandleFunc("POST /admin/tokens/{ref}/revoke", p.handleRevoke)
	mux.HandleFunc("POST /admin/outage", p.handleOutage)
	mux.HandleFunc("GET /admin/stats", p.handleStats)
	return mux
}

var errNoClientCert = errors.New("no client certificate")

// caller returns the verified client certificate of the request and its
// member id. The TLS handshake already required a member certificate; this
// re-check keeps handlers correct when served without that configuration.
func (p *pcm) caller(r *http.Request) (*x509.Certificate, string, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, "", errNoClientCert
	}
	member, err := p.trust.Identify(r.TLS.PeerCertificates, p.now())
	if err != nil {
		return nil, "", err
	}
	return r.TLS.PeerCertificates[0], member, nil
}

// oauthError writes an RFC 6749 section 5.2 error response.
func oauthError(w http.ResponseWriter, status int, code string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`"`)
	}
	simhttp.WriteJSON(w, status, map[string]string{"error": code})
}

// unavailable answers during a simulated outage.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	simhttp.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
}
