package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

const (
	testClientID = "http://pcm.fhir.health.gov.il/organization/633"
	testIssuer   = "https://pcm.fhir.health.gov.il/"
	testResource = "https://localhost:9443/fhir/R4"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running simulator: its mTLS public server and its admin server.
type env struct {
	t      testing.TB
	pki    *demopki.Index
	sim    *pcm
	clock  *clock
	public *httptest.Server
	admin  *httptest.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pki, err := demopki.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	public := httptest.NewUnstartedServer(nil)
	sim, err := newPCM(config{
		tokenURL:             "https://" + public.Listener.Addr().String() + "/token",
		issuer:               testIssuer,
		clientID:             testClientID,
		clientMember:         "org-ds-hmo-b",
		resource:             testResource,
		accessTokenTTL:       30 * time.Second,
		maxAssertionLifetime: 5 * time.Minute,
	}, pki, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	public.Config.Handler = sim.publicHandler()
	public.TLS, err = pki.ServerTLSConfig(demopki.ServerPCM, sim.trust, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	public.StartTLS()
	t.Cleanup(public.Close)
	admin := httptest.NewServer(sim.adminHandler())
	t.Cleanup(admin.Close)
	return &env{t: t, pki: pki, sim: sim, clock: clk, public: public, admin: admin}
}

// client returns an HTTPS client presenting the named demo certificate.
func (e *env) client(name string) *http.Client {
	e.t.Helper()
	cfg, err := e.pki.ClientTLSConfig(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// assertionClaims are the claims of a valid client assertion at now.
func (e *env) assertionClaims() jwt.Claims {
	now := e.clock.now()
	return jwt.Claims{
		Issuer:   testClientID,
		Subject:  testClientID,
		Audience: jwt.Audience{e.sim.cfg.tokenURL},
		Expiry:   jwt.NewNumericDate(now.Add(time.Minute)),
		IssuedAt: jwt.NewNumericDate(now),
		ID:       rand.Text(),
	}
}

// sign signs claims with the private key of the named client certificate.
func (e *env) sign(client string, claims any) string {
	e.t.Helper()
	key, err := demopki.LoadPrivateKey(e.pki.Clients[client].Key)
	if err != nil {
		e.t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func tokenForm(assertion string) url.Values {
	return url.Values{
		"grant_type":            {grantClientCredentials},
		"client_assertion_type": {assertionTypeJWTBearer},
		"client_assertion":      {assertion},
		"scope":                 {"introspection"},
		"resource":              {"https://pcm.fhir.health.gov.il/"},
	}
}

// post sends a form and decodes the JSON answer.
func post(t testing.TB, c *http.Client, u string, form url.Values, bearer string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, c, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("status %d, body %q: %v", resp.StatusCode, body, err)
	}
	return resp.StatusCode, m
}

// pcmToken obtains a PCM access token as the data source.
func (e *env) pcmToken() string {
	e.t.Helper()
	status, body := post(e.t, e.client("hmo-b"), e.public.URL+"/token", tokenForm(e.sign("hmo-b", e.assertionClaims())), "")
	if status != http.StatusOK {
		e.t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// adminJSON calls the admin API.
func (e *env) adminJSON(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.admin.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	return do(e.t, http.DefaultClient, req)
}

// mint creates a service provider token through the admin API.
func (e *env) mint(req map[string]any) mintResponse {
	e.t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post(e.admin.URL+"/admin/tokens", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("mint: %d %s", resp.StatusCode, body)
	}
	var m mintResponse
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}
