package main

import (
	"crypto/rand"
	"net/http"
	"time"

	"github.com/hdp-il/fhir-pep/examples/demopki"
	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

const (
	grantClientCredentials = "client_credentials"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// defaultPCMScope is granted when the data source asks for no scope.
	defaultPCMScope = "introspection"
	// maxFormBytes bounds form bodies; assertions are a few hundred bytes.
	maxFormBytes = 64 << 10
)

// accessToken is one of PCM's own tokens, issued to the data source and
// bound to the certificate it authenticated with.
type accessToken struct {
	thumbprint string
	scope      string
	expires    time.Time
}

// tokenResponse is the RFC 6749 section 5.1 answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// handleToken implements POST /token: client_credentials with a
// private_key_jwt client assertion, over mTLS.
func (p *pcm) handleToken(w http.ResponseWriter, r *http.Request) {
	p.stats.tokenCalls.Add(1)
	if p.outage.Load() {
		unavailable(w)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	cert, member, err := p.caller(r)
	if err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	form := r.PostForm
	if form.Get("grant_type") != grantClientCredentials {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	if form.Get("client_assertion_type") != assertionTypeJWTBearer || form.Get("client_assertion") == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if id := form.Get("client_id"); id != "" && id != p.cfg.clientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	// The client id belongs to one member: another member's certificate
	// cannot act as this client even with a well-formed assertion.
	if member != p.cfg.clientMember {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if err := p.verifyAssertion(form.Get("client_assertion"), cert); err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	scope := form.Get("scope")
	if scope == "" {
		scope = defaultPCMScope
	}
	token := rand.Text()
	p.mu.Lock()
	now := p.now()
	for t, at := range p.accessTokens {
		if !now.Before(at.expires) {
			delete(p.accessTokens, t)
		}
	}
	p.accessTokens[token] = accessToken{
		thumbprint: demopki.Thumbprint(cert),
		scope:      scope,
		expires:    now.Add(p.cfg.accessTokenTTL),
	}
	p.mu.Unlock()
	p.stats.tokensIssued.Add(1)
	w.Header().Set("Pragma", "no-cache")
	simhttp.WriteJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(p.cfg.accessTokenTTL / time.Second),
		Scope:       scope,
	})
}

// validAccessToken reports whether bearer is an unexpired PCM token issued
// to the holder of the certificate with the given thumbprint.
func (p *pcm) validAccessToken(bearer, thumbprint string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.accessTokens[bearer]
	return ok && at.thumbprint == thumbprint && p.now().Before(at.expires)
}
