package main

import (
	"net/http"
	"strings"

	"github.com/hdp-il/fhir-pep/examples/demopki"
	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

// handleIntrospect implements POST /introspect (RFC 7662). The caller
// authenticates twice, as PCM requires: mTLS with its member certificate and
// a PCM access token bound to that certificate.
func (p *pcm) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	p.stats.introspectionCalls.Add(1)
	if p.outage.Load() {
		unavailable(w)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	cert, _, err := p.caller(r)
	if err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !p.validAccessToken(bearer, demopki.Thumbprint(cert)) {
		oauthError(w, http.StatusUnauthorized, "invalid_token")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	g, ok := p.grants.active(token, p.now())
	if !ok {
		p.stats.introspectionInactive.Add(1)
		simhttp.WriteJSON(w, http.StatusOK, introspection{Active: false})
		return
	}
	p.stats.introspectionActive.Add(1)
	simhttp.WriteJSON(w, http.StatusOK, g.response(p.cfg.issuer))
}
