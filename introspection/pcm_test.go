package introspection

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hdp-il/fhir-pep/internal/testclock"
)

// newFakeClock is the injected clock shared by the PEP and the fake PCM.
func newFakeClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
}

const (
	testClientID = "http://pcm.fhir.health.gov.il/organization/633"
	testScope    = "system/introspect"
	testResource = "https://pcm.test/introspect"
	testIssuer   = "https://pcm.fhir.health.gov.il/"
	testAudience = "https://fhir.hmo-b.example/R4"
	testPatient  = "http://fhir.health.gov.il/identifier/il-national-id|000000018"
)

// fakePCM is an httptest PCM over real mTLS. Its token endpoint verifies the
// RFC 7523 client assertion against the public key of the client
// certificate on the connection; its introspection endpoint accepts only
// access tokens it issued and has not revoked.
type fakePCM struct {
	t     testing.TB
	srv   *httptest.Server
	clock *testclock.Clock
	done  chan struct{} // closed at cleanup: releases blocked handlers

	tokenURL      string
	introspectURL string
	expiresIn     int

	tokenCalls      atomic.Int64
	introspectCalls atomic.Int64

	mu            sync.Mutex
	jtis          map[string]bool
	issued        map[string]bool
	answers       map[string][]byte
	algs          []string // header alg of each accepted assertion
	failTokens    int      // upcoming token requests answered 500
	tokenReply    func(http.ResponseWriter) bool
	introspectFn  func(http.ResponseWriter, *http.Request) bool
	bearersDenied bool          // every introspection answered 401
	gate          chan struct{} // when set, introspection waits for it
	// wantScope and wantResource are the token request's expected scope
	// and resource; "" means the parameter must be absent.
	wantScope, wantResource string
	// mtlsOnly: introspection is authenticated by the client certificate
	// alone; an Authorization header is a test failure.
	mtlsOnly bool
}

func newFakePCM(t testing.TB, clock *testclock.Clock) *fakePCM {
	t.Helper()
	p := &fakePCM{
		t:         t,
		clock:     clock,
		done:      make(chan struct{}),
		expiresIn: 30,
		jtis:      map[string]bool{},
		issued:    map[string]bool{},
		answers:   map[string][]byte{},

		wantScope:    testScope,
		wantResource: testResource,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /introspect", p.introspect)
	p.srv = httptest.NewUnstartedServer(mux)
	pk := getPKI(t)
	p.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pk.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pk.roots,
		MinVersion:   tls.VersionTLS12,
	}
	p.srv.StartTLS()
	t.Cleanup(func() {
		close(p.done)
		p.srv.Close()
	})
	p.tokenURL = p.srv.URL + "/token"
	p.introspectURL = p.srv.URL + "/introspect"
	return p
}

func (p *fakePCM) fail(format string, args ...any) {
	p.t.Errorf("fake PCM: "+format, args...)
}

func (p *fakePCM) token(w http.ResponseWriter, r *http.Request) {
	p.tokenCalls.Add(1)
	p.mu.Lock()
	failing := p.failTokens > 0
	if failing {
		p.failTokens--
	}
	reply := p.tokenReply
	p.mu.Unlock()
	if failing {
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusInternalServerError)
		return
	}
	if err := p.checkTokenRequest(r); err != nil {
		p.fail("%v", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	if reply != nil && reply(w) {
		return
	}
	value := randomToken(p.t)
	p.mu.Lock()
	p.issued[value] = true
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": value, "token_type": "Bearer", "expires_in": p.expiresIn, "scope": testScope,
	})
}

func (p *fakePCM) checkTokenRequest(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		return fmt.Errorf("content type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	p.mu.Lock()
	want := map[string]string{
		"grant_type":            "client_credentials",
		"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		"scope":                 p.wantScope,
		"resource":              p.wantResource,
	}
	p.mu.Unlock()
	for k, v := range want {
		got, present := r.PostForm[k]
		switch {
		case v == "" && present:
			return fmt.Errorf("form %s = %q, want it absent", k, got)
		case v != "" && (len(got) != 1 || got[0] != v):
			return fmt.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return fmt.Errorf("no client certificate")
	}
	parsed, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"),
		[]jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.PS256, jose.RS256})
	if err != nil {
		return fmt.Errorf("parse assertion: %v", err)
	}
	var c jwt.Claims
	if err := parsed.Claims(r.TLS.PeerCertificates[0].PublicKey, &c); err != nil {
		return fmt.Errorf("assertion signature: %v", err)
	}
	now := p.clock.Now()
	switch {
	case c.Issuer != testClientID || c.Subject != testClientID:
		return fmt.Errorf("iss %q sub %q", c.Issuer, c.Subject)
	case len(c.Audience) != 1 || c.Audience[0] != p.tokenURL:
		return fmt.Errorf("aud %v", c.Audience)
	case c.Expiry == nil || c.IssuedAt == nil:
		return fmt.Errorf("exp or iat missing")
	case !c.Expiry.Time().After(now):
		return fmt.Errorf("assertion expired")
	case c.IssuedAt.Time().After(now):
		return fmt.Errorf("assertion issued in the future")
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > time.Minute:
		return fmt.Errorf("assertion lifetime %s", c.Expiry.Time().Sub(c.IssuedAt.Time()))
	case len(c.ID) < 16:
		return fmt.Errorf("jti %q too short", c.ID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jtis[c.ID] {
		return fmt.Errorf("jti replayed")
	}
	p.jtis[c.ID] = true
	p.algs = append(p.algs, parsed.Headers[0].Algorithm)
	return nil
}

func (p *fakePCM) introspect(w http.ResponseWriter, r *http.Request) {
	p.introspectCalls.Add(1)
	p.mu.Lock()
	gate, override, denied, mtlsOnly := p.gate, p.introspectFn, p.bearersDenied, p.mtlsOnly
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-p.done:
			return
		}
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	valid := ok && p.issued[bearer]
	p.mu.Unlock()
	if mtlsOnly {
		// The TLS layer already required a client certificate.
		if h := r.Header.Values("Authorization"); len(h) != 0 {
			p.fail("mTLS-only introspection sent an Authorization header")
		}
		valid = len(r.TLS.PeerCertificates) > 0
	}
	if !valid || denied {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Accept") != "application/json" {
		p.fail("Accept %q", r.Header.Get("Accept"))
	}
	if err := r.ParseForm(); err != nil {
		p.fail("parse form: %v", err)
		return
	}
	if override != nil && override(w, r) {
		return
	}
	p.mu.Lock()
	answer, ok := p.answers[r.PostForm.Get("token")]
	p.mu.Unlock()
	if !ok {
		answer = []byte(`{"active":false}`)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

// setAnswer makes PCM answer body when asked about token.
func (p *fakePCM) setAnswer(token string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers[token] = body
}

// revokeAccessTokens makes every PEP token issued so far unknown, as after
// a PCM restart.
func (p *fakePCM) revokeAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.issued)
}

func (p *fakePCM) acceptedAlgs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.algs...)
}

func (p *fakePCM) set(f func(p *fakePCM)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// tokenConfig is a TokenSourceConfig for this PCM with the given client
// certificate.
func (p *fakePCM) tokenConfig(cert *testClientCert) TokenSourceConfig {
	return TokenSourceConfig{
		TokenEndpoint: p.tokenURL,
		ClientID:      testClientID,
		Scope:         testScope,
		Resource:      testResource,
		Signer:        cert.key,
		HTTPClient:    mtlsClient(p.t, getPKI(p.t).roots, cert),
		Now:           p.clock.Now,
	}
}

// activeAnswer is a complete PCM answer for an active token.
func activeAnswer(t testing.TB, clock *testclock.Clock, thumbprint string, edit func(map[string]any)) []byte {
	t.Helper()
	now := clock.Now()
	m := map[string]any{
		"active":          true,
		"scope":           "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests patient/Patient.r",
		"patient":         testPatient,
		"aud":             testAudience,
		"iss":             testIssuer,
		"client_id":       "org-sp-hospital-a",
		"organization_id": "org-sp-hospital-a",
		"token_type":      "Bearer",
		"exp":             now.Add(time.Hour).Unix(),
		"iat":             now.Unix(),
		"jti":             "f3b0c2d4",
		"intent":          "HealthcareService",
		"fhirContext": []any{
			map[string]any{"reference": "Consent/c1", "type": "Consent"},
			map[string]any{"reference": "HealthcareService/hs1", "type": "HealthcareService", "role": "https://example/role"},
		},
		"cnf": map[string]any{"x5t#S256": thumbprint},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomToken(t testing.TB) string {
	t.Helper()
	id, err := randomID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// spThumbprint is the thumbprint of a service provider's certificate the
// answers are bound to.
func spThumbprint(t testing.TB) string {
	t.Helper()
	return Thumbprint(getPKI(t).stranger.der)
}

// newIntrospector wires an Introspector to p with the P-256 client.
func newIntrospector(t testing.TB, p *fakePCM, edit func(*Config)) *Introspector {
	t.Helper()
	cfg := Config{
		Token: p.tokenConfig(getPKI(t).clients["p256"]),
		// A real TLS round trip on a loaded CI machine under -race can
		// take longer than the production default (3 s); these tests
		// are about what the PEP does with PCM's answers, not about
		// timeouts (TestClientTimeout is).
		Client: ClientConfig{Endpoint: p.introspectURL, Timeout: time.Minute},
		Cache:  CacheConfig{Now: p.clock.Now},
	}
	if edit != nil {
		edit(&cfg)
	}
	in, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(in.Close)
	return in
}
