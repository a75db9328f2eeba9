package caddymodule

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

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hdp-il/fhir-pep/internal/testpki"
	"github.com/hdp-il/fhir-pep/introspection"
)

// fakePCM is a PCM with real mTLS: a token endpoint that checks the PEP's
// private_key_jwt assertion against its client certificate, and an
// introspection endpoint answering from a table.
type fakePCM struct {
	t      testing.TB
	srv    *httptest.Server
	ca     *testpki.CA
	pepKey *testpki.Leaf

	mu       sync.Mutex
	answers  map[string]any // token -> introspection answer (JSON value)
	issued   map[string]bool
	mode     string        // "", "500", "garbage", "hang", "401"
	gate     chan struct{} // when set, introspection waits for it
	stop     chan struct{} // closed when the test ends
	tokens   atomic.Int32
	introsps atomic.Int32
}

const (
	testIssuer   = "https://pcm.test/"
	testResource = "https://fhir.hmo-b.test/R4"
	testClientID = "http://pcm.fhir.health.gov.il/organization/633"
	testPatient  = "http://fhir.health.gov.il/identifier/il-national-id|000000018"
)

func newFakePCM(t testing.TB, ca *testpki.CA, pepKey *testpki.Leaf) *fakePCM {
	p := &fakePCM{t: t, ca: ca, pepKey: pepKey, answers: map[string]any{}, issued: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /introspect", p.introspect)
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.Server(t, "pcm").TLS()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    testpki.Pool(ca),
	}
	p.srv.StartTLS()
	p.stop = make(chan struct{})
	t.Cleanup(p.srv.Close)
	// Cleanups run last-in first-out: release hanging handlers first.
	t.Cleanup(func() { close(p.stop) })
	return p
}

func (p *fakePCM) token(w http.ResponseWriter, r *http.Request) {
	p.tokens.Add(1)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		http.Error(w, "bad assertion", 401)
		return
	}
	var claims jwt.Claims
	if err := tok.Claims(p.pepKey.Cert.PublicKey, &claims); err != nil {
		http.Error(w, "bad signature", 401)
		return
	}
	if claims.Issuer != testClientID || claims.Subject != testClientID ||
		!claims.Audience.Contains(p.srv.URL+"/token") || claims.ID == "" ||
		r.PostForm.Get("grant_type") != "client_credentials" ||
		len(r.TLS.PeerCertificates) == 0 ||
		!r.TLS.PeerCertificates[0].Equal(p.pepKey.Cert) {
		http.Error(w, "bad client", 401)
		return
	}
	access := fmt.Sprintf("pcm-access-%d", p.tokens.Load())
	p.mu.Lock()
	p.issued[access] = true
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":30}`, access)
}

func (p *fakePCM) introspect(w http.ResponseWriter, r *http.Request) {
	p.introsps.Add(1)
	p.mu.Lock()
	mode, gate := p.mode, p.gate
	ok := p.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
	switch mode {
	case "500":
		http.Error(w, "boom", 500)
		return
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"active":"yes"`))
		return
	case "hang":
		// Hang until the client gives up or the test ends (whichever is
		// first), so that closing the server never waits on us.
		select {
		case <-r.Context().Done():
		case <-p.stop:
		}
		return
	}
	if !ok {
		http.Error(w, "who are you", 401)
		return
	}
	_ = r.ParseForm()
	p.mu.Lock()
	ans, found := p.answers[r.PostForm.Get("token")]
	p.mu.Unlock()
	if !found {
		ans = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

func (p *fakePCM) set(token string, answer map[string]any) {
	p.mu.Lock()
	p.answers[token] = answer
	p.mu.Unlock()
}

func (p *fakePCM) setMode(mode string) {
	p.mu.Lock()
	p.mode = mode
	p.mu.Unlock()
}

// activeAnswer is a valid introspection answer for a caller certificate.
func activeAnswer(caller *testpki.Leaf, now time.Time, edit func(map[string]any)) map[string]any {
	a := map[string]any{
		"active":          true,
		"scope":           "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests",
		"patient":         testPatient,
		"aud":             testResource,
		"iss":             testIssuer,
		"client_id":       "sp-hospital-a",
		"organization_id": "org-sp-hospital-a",
		"token_type":      "Bearer",
		"exp":             now.Add(10 * time.Minute).Unix(),
		"iat":             now.Add(-time.Minute).Unix(),
		"jti":             "j1",
		"intent":          "HealthcareService",
		"fhirContext":     []any{map[string]any{"reference": "Consent/c1"}},
		"cnf":             map[string]any{"x5t#S256": introspection.Thumbprint(caller.Cert.Raw)},
	}
	if edit != nil {
		edit(a)
	}
	return a
}
