package upstreamjwt

import (
	"net/http"
	"strconv"
)

// jwksMaxAge lets upstreams cache the key for five minutes: short enough
// that a rotated key is picked up soon after a reload, long enough that the
// JWKS is not fetched per request.
const jwksMaxAge = 300

// ServeHTTP serves the JWKS document (GET and HEAD only).
func (s *Signer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
	h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(s.jwks)
}

// Interface guards
var _ http.Handler = (*Signer)(nil)
