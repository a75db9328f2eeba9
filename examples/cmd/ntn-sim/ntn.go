package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hdp-il/fhir-pep/examples/demopki"
	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

// statusRemoved drops a member from the manifest altogether.
const statusRemoved = "removed"

// config is what an operator chooses about the simulated NTN.
type config struct {
	// publicURL is the HTTPS base URL presigned links point to.
	publicURL string
	// validity is expires_at - issued_at of each manifest. The simulator
	// re-signs (with a higher version) once half of it has passed.
	validity time.Duration
	// presignTTL is how long a presigned URL works.
	presignTTL time.Duration
	// statePath persists version and member statuses across restarts (the
	// PEP rejects a version that goes backwards); empty means none.
	statePath string
}

// ntnSim is the simulated National Trusted Network manifest service.
type ntnSim struct {
	cfg     config
	signer  jose.Signer
	entries []manifestMember // every demo member, active, in pki.json order
	trust   *demopki.MemberTrust
	now     func() time.Time

	mu        sync.Mutex
	version   int64
	status    map[string]string // member id -> active|suspended|removed
	current   manifest
	issuedAt  time.Time
	jws       string
	presigned map[string]time.Time // presigned token -> expiry

	outage atomic.Bool
	stats  struct {
		manifestFetches  atomic.Int64
		apiCalls         atomic.Int64
		presignedFetches atomic.Int64
	}
}

func newNTN(cfg config, pki *demopki.Index, now func() time.Time) (*ntnSim, error) {
	signer, err := newManifestSigner(pki)
	if err != nil {
		return nil, err
	}
	trust, err := pki.MemberTrust()
	if err != nil {
		return nil, err
	}
	n := &ntnSim{
		cfg:       cfg,
		signer:    signer,
		trust:     trust,
		now:       now,
		status:    map[string]string{},
		presigned: map[string]time.Time{},
	}
	for _, m := range pki.Members {
		entry, err := memberEntry(m)
		if err != nil {
			return nil, err
		}
		n.entries = append(n.entries, entry)
		n.status[m.MemberID] = statusActive
	}
	st, err := loadState(cfg.statePath)
	if err != nil {
		return nil, err
	}
	n.version = st.Version
	for id, s := range st.Status {
		if !validStatus(s) {
			return nil, fmt.Errorf("state file: member %s has unknown status %q", id, s)
		}
		// Members no longer in the PKI are forgotten.
		if _, known := n.status[id]; known {
			n.status[id] = s
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// A (re)start is a new document: always a higher version than any
	// manifest served before.
	if err := n.resignLocked(); err != nil {
		return nil, err
	}
	return n, nil
}

func validStatus(s string) bool {
	return s == statusActive || s == statusSuspended || s == statusRemoved
}

// resignLocked builds and signs the next version. n.mu must be held.
func (n *ntnSim) resignLocked() error {
	now := n.now()
	m := manifest{
		Version:   n.version + 1,
		IssuedAt:  timestamp(now),
		ExpiresAt: timestamp(now.Add(n.cfg.validity)),
		Members:   []manifestMember{},
	}
	for _, e := range n.entries {
		switch n.status[e.MemberID] {
		case statusRemoved:
			continue
		case statusSuspended:
			e.Status = statusSuspended
		}
		m.Members = append(m.Members, e)
	}
	jws, err := sign(n.signer, m)
	if err != nil {
		return err
	}
	if err := saveState(n.cfg.statePath, state{Version: m.Version, Status: n.status}); err != nil {
		return err
	}
	n.version, n.current, n.jws, n.issuedAt = m.Version, m, jws, now
	return nil
}

// snapshot returns the current signed manifest, re-signing first when half
// of its validity has passed so a long-running demo never serves a stale one.
func (n *ntnSim) snapshot() (string, manifest, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.now().Before(n.issuedAt.Add(n.cfg.validity / 2)) {
		if err := n.resignLocked(); err != nil {
			return "", manifest{}, err
		}
	}
	return n.jws, n.current, nil
}

var errUnknownMember = errors.New("no such member")

// setStatus changes a member's status; only a real change bumps the version.
func (n *ntnSim) setStatus(memberID, status string) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old, ok := n.status[memberID]
	if !ok {
		return 0, errUnknownMember
	}
	if old == status {
		return n.version, nil
	}
	n.status[memberID] = status
	if err := n.resignLocked(); err != nil {
		n.status[memberID] = old
		return 0, err
	}
	return n.version, nil
}

// bump re-signs the unchanged member list with a higher version.
func (n *ntnSim) bump() (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.resignLocked(); err != nil {
		return 0, err
	}
	return n.version, nil
}

// publicHandler serves the mTLS API.
func (n *ntnSim) publicHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /manifest", n.handleManifest)
	mux.HandleFunc("GET /api/manifest", n.handlePresign)
	mux.HandleFunc("GET /presigned/{token}", n.handlePresigned)
	return n.requireMember(mux)
}

// requireMember re-checks the client certificate the handshake accepted,
// so the handlers stay member-only even when served another way.
func (n *ntnSim) requireMember(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			simhttp.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "client certificate required"})
			return
		}
		if _, err := n.trust.Identify(r.TLS.PeerCertificates, n.now()); err != nil {
			simhttp.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "not an NTN member"})
			return
		}
		if n.outage.Load() {
			w.Header().Set("Retry-After", "1")
			simhttp.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJWS answers with the compact JWS (RFC 7515 media type application/jose).
func (n *ntnSim) writeJWS(w http.ResponseWriter) {
	jws, _, err := n.snapshot()
	if err != nil {
		simhttp.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "signing failed"})
		return
	}
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(jws))
}

// handleManifest implements GET /manifest: the JWS directly.
func (n *ntnSim) handleManifest(w http.ResponseWriter, _ *http.Request) {
	n.stats.manifestFetches.Add(1)
	n.writeJWS(w)
}

// handlePresign implements GET /api/manifest: {"url": <presigned URL>}.
func (n *ntnSim) handlePresign(w http.ResponseWriter, _ *http.Request) {
	n.stats.apiCalls.Add(1)
	token := strings.ToLower(rand.Text())
	n.mu.Lock()
	now := n.now()
	for t, exp := range n.presigned {
		if !now.Before(exp) {
			delete(n.presigned, t)
		}
	}
	exp := now.Add(n.cfg.presignTTL)
	n.presigned[token] = exp
	n.mu.Unlock()
	simhttp.WriteJSON(w, http.StatusOK, map[string]string{
		"url":        strings.TrimSuffix(n.cfg.publicURL, "/") + "/presigned/" + token,
		"expires_at": timestamp(exp),
	})
}

// handlePresigned implements GET /presigned/{token}.
func (n *ntnSim) handlePresigned(w http.ResponseWriter, r *http.Request) {
	n.stats.presignedFetches.Add(1)
	n.mu.Lock()
	exp, ok := n.presigned[r.PathValue("token")]
	valid := ok && n.now().Before(exp)
	n.mu.Unlock()
	if !valid {
		simhttp.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such object or link expired"})
		return
	}
	n.writeJWS(w)
}
