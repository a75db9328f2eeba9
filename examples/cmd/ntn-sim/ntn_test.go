package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

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

type env struct {
	t      testing.TB
	pki    *demopki.Index
	clock  *clock
	sim    *ntnSim
	public *httptest.Server
	admin  *httptest.Server
}

func newPKI(t testing.TB) *demopki.Index {
	t.Helper()
	pki, err := demopki.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

func newEnv(t testing.TB, pki *demopki.Index, statePath string) *env {
	t.Helper()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	public := httptest.NewUnstartedServer(nil)
	sim, err := newNTN(config{
		publicURL:  "https://" + public.Listener.Addr().String(),
		validity:   24 * time.Hour,
		presignTTL: time.Minute,
		statePath:  statePath,
	}, pki, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	public.Config.Handler = sim.publicHandler()
	public.TLS, err = pki.ServerTLSConfig(demopki.ServerNTN, sim.trust, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	public.StartTLS()
	t.Cleanup(public.Close)
	admin := httptest.NewServer(sim.adminHandler())
	t.Cleanup(admin.Close)
	return &env{t: t, pki: pki, clock: clk, sim: sim, public: public, admin: admin}
}

func (e *env) client(name string) *http.Client {
	e.t.Helper()
	cfg, err := e.pki.ClientTLSConfig(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func get(t testing.TB, c *http.Client, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header
}

// fetch gets /manifest as the data source and verifies it as a PEP would.
func (e *env) fetch() manifest {
	e.t.Helper()
	status, body, hdr := get(e.t, e.client("hmo-b"), e.public.URL+"/manifest")
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/jose" {
		e.t.Fatalf("GET /manifest: %d %s %q", status, hdr.Get("Content-Type"), body)
	}
	m, err := verify(string(body), e.pki, e.clock.now())
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	return m
}

// verify checks a manifest JWS against the NTN trust anchor with go-jose.
func verify(compact string, pki *demopki.Index, now time.Time) (manifest, error) {
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.PS256, jose.RS256})
	if err != nil {
		return manifest{}, err
	}
	if len(jws.Signatures) != 1 {
		return manifest{}, errString("want one signature")
	}
	hdr := jws.Signatures[0].Protected
	if hdr.ExtraHeaders[jose.HeaderType] != ManifestType || hdr.Algorithm != string(jose.ES256) {
		return manifest{}, errString("bad header")
	}
	ta, err := demopki.LoadCertificate(pki.NTN.TrustAnchor.Cert)
	if err != nil {
		return manifest{}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	chains, err := hdr.Certificates(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return manifest{}, err
	}
	payload, err := jws.Verify(chains[0][0].PublicKey)
	if err != nil {
		return manifest{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var m manifest
	if err := dec.Decode(&m); err != nil {
		return manifest{}, err
	}
	return m, nil
}

type errString string

func (e errString) Error() string { return string(e) }

func derOf(t testing.TB, path string) string {
	t.Helper()
	c, err := demopki.LoadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(c.Raw)
}

func TestManifestVerifiesWithTrustAnchor(t *testing.T) {
	pki := newPKI(t)
	e := newEnv(t, pki, "")
	m := e.fetch()
	now := e.clock.now()
	hmo, _ := pki.Member("org-ds-hmo-b")
	hospital, _ := pki.Member("org-sp-hospital-a")
	want := manifest{
		Version:   1,
		IssuedAt:  now.UTC().Format(time.RFC3339),
		ExpiresAt: now.Add(24 * time.Hour).UTC().Format(time.RFC3339),
		Members: []manifestMember{
			{MemberID: "org-ds-hmo-b", Name: "HMO B - Clinical Data Source", Status: "active",
				Certificates: []manifestCert{{Use: "ca", X5C: []string{derOf(t, hmo.CA.Cert)}}}},
			{MemberID: "org-sp-hospital-a", Name: "Hospital A", Status: "active",
				Certificates: []manifestCert{{Use: "ca", X5C: []string{derOf(t, hospital.CA.Cert)}}}},
			{MemberID: "org-sp-clinic-c", Name: "Clinic C", Status: "active",
				Certificates: []manifestCert{{Use: "tls", X5C: []string{derOf(t, pki.Clients["clinic-c"].Cert)}}}},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("manifest =\n%+v\nwant\n%+v", m, want)
	}

	t.Run("does not verify against another root", func(t *testing.T) {
		_, body, _ := get(t, e.client("hmo-b"), e.public.URL+"/manifest")
		other := *pki
		other.NTN.TrustAnchor = pki.TLS.CA
		if _, err := verify(string(body), &other, now); err == nil {
			t.Fatal("manifest verified against the TLS CA")
		}
	})
	t.Run("tampered payload fails", func(t *testing.T) {
		_, body, _ := get(t, e.client("hmo-b"), e.public.URL+"/manifest")
		parts := bytes.Split(body, []byte("."))
		parts[1] = []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"version":99,"members":[]}`)))
		if _, err := verify(string(bytes.Join(parts, []byte("."))), pki, now); err == nil {
			t.Fatal("tampered manifest verified")
		}
	})
}

func TestPresignedURL(t *testing.T) {
	e := newEnv(t, newPKI(t), "")
	c := e.client("clinic-c")
	status, body, _ := get(t, c, e.public.URL+"/api/manifest")
	if status != http.StatusOK {
		t.Fatalf("api: %d %s", status, body)
	}
	var link struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &link); err != nil {
		t.Fatal(err)
	}
	status, viaLink, _ := get(t, c, link.URL)
	if status != http.StatusOK {
		t.Fatalf("presigned: %d %s", status, viaLink)
	}
	_, direct, _ := get(t, c, e.public.URL+"/manifest")
	if !bytes.Equal(viaLink, direct) {
		t.Fatal("presigned and direct manifests differ")
	}
	if status, _, _ := get(t, c, e.public.URL+"/presigned/forged"); status != http.StatusNotFound {
		t.Fatalf("forged link: %d", status)
	}
	e.clock.advance(time.Minute)
	if status, _, _ := get(t, c, link.URL); status != http.StatusNotFound {
		t.Fatalf("expired link: %d", status)
	}
}

func adminPost(t testing.TB, e *env, path string, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(e.admin.URL+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func statuses(m manifest) map[string]string {
	s := map[string]string{}
	for _, mem := range m.Members {
		s[mem.MemberID] = mem.Status
	}
	return s
}

func TestMemberChangesBumpVersion(t *testing.T) {
	e := newEnv(t, newPKI(t), "")
	steps := []struct {
		name        string
		path        string
		wantCode    int
		wantVersion int64
		wantStatus  map[string]string
	}{
		{name: "remove hospital-a", path: "/admin/members/org-sp-hospital-a/remove", wantCode: 200, wantVersion: 2,
			wantStatus: map[string]string{"org-ds-hmo-b": "active", "org-sp-clinic-c": "active"}},
		{name: "remove again changes nothing", path: "/admin/members/org-sp-hospital-a/remove", wantCode: 200, wantVersion: 2,
			wantStatus: map[string]string{"org-ds-hmo-b": "active", "org-sp-clinic-c": "active"}},
		{name: "suspend clinic-c", path: "/admin/members/org-sp-clinic-c/suspend", wantCode: 200, wantVersion: 3,
			wantStatus: map[string]string{"org-ds-hmo-b": "active", "org-sp-clinic-c": "suspended"}},
		{name: "restore hospital-a", path: "/admin/members/org-sp-hospital-a/restore", wantCode: 200, wantVersion: 4,
			wantStatus: map[string]string{"org-ds-hmo-b": "active", "org-sp-hospital-a": "active", "org-sp-clinic-c": "suspended"}},
		{name: "bump", path: "/admin/bump", wantCode: 200, wantVersion: 5,
			wantStatus: map[string]string{"org-ds-hmo-b": "active", "org-sp-hospital-a": "active", "org-sp-clinic-c": "suspended"}},
		{name: "unknown member", path: "/admin/members/org-sp-unknown/remove", wantCode: 404, wantVersion: 5,
			wantStatus: map[string]string{"org-ds-hmo-b": "active", "org-sp-hospital-a": "active", "org-sp-clinic-c": "suspended"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			status, body := adminPost(t, e, s.path, "")
			if status != s.wantCode {
				t.Fatalf("%d %v", status, body)
			}
			if status == http.StatusOK && body["version"] != float64(s.wantVersion) {
				t.Fatalf("admin says version %v", body["version"])
			}
			m := e.fetch()
			if m.Version != s.wantVersion || !reflect.DeepEqual(statuses(m), s.wantStatus) {
				t.Fatalf("manifest v%d %v, want v%d %v", m.Version, statuses(m), s.wantVersion, s.wantStatus)
			}
		})
	}
	t.Run("admin manifest shows the payload", func(t *testing.T) {
		resp, err := http.Get(e.admin.URL + "/admin/manifest")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m manifest
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, e.fetch()) {
			t.Fatalf("admin manifest %+v differs from the signed one", m)
		}
	})
}

func TestRestartKeepsVersionAndStatuses(t *testing.T) {
	pki := newPKI(t)
	statePath := filepath.Join(t.TempDir(), "ntn-sim.json")
	first := newEnv(t, pki, statePath)
	if status, _ := adminPost(t, first, "/admin/members/org-sp-hospital-a/remove", ""); status != http.StatusOK {
		t.Fatal(status)
	}
	if v := first.fetch().Version; v != 2 {
		t.Fatalf("version %d", v)
	}
	second := newEnv(t, pki, statePath)
	m := second.fetch()
	want := map[string]string{"org-ds-hmo-b": "active", "org-sp-clinic-c": "active"}
	if m.Version != 3 || !reflect.DeepEqual(statuses(m), want) {
		t.Fatalf("after restart v%d %v", m.Version, statuses(m))
	}
	for _, bad := range []string{"{", `{"version":-1}`, `{"version":1,"status":{"org-sp-hospital-a":"gone"}}`} {
		t.Run("bad state "+bad, func(t *testing.T) {
			if err := os.WriteFile(statePath, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := newNTN(config{validity: time.Hour, presignTTL: time.Minute, statePath: statePath}, pki, time.Now); err == nil {
				t.Fatal("bad state accepted")
			}
		})
	}
}

func TestResignsBeforeExpiry(t *testing.T) {
	e := newEnv(t, newPKI(t), "")
	before := e.fetch()
	e.clock.advance(11 * time.Hour)
	if m := e.fetch(); m.Version != before.Version {
		t.Fatalf("re-signed too early: v%d", m.Version)
	}
	e.clock.advance(time.Hour)
	after := e.fetch()
	if after.Version != before.Version+1 || after.IssuedAt != e.clock.now().UTC().Format(time.RFC3339) {
		t.Fatalf("not re-signed at half validity: %+v", after)
	}
}

func TestPublicAPIRequiresMembers(t *testing.T) {
	e := newEnv(t, newPKI(t), "")
	for _, client := range []string{"unknown", "hospital-a-expired", ""} {
		t.Run("client "+client, func(t *testing.T) {
			if _, err := e.client(client).Get(e.public.URL + "/manifest"); err == nil {
				t.Fatal("served a non-member")
			}
		})
	}
}

func TestOutageAndStats(t *testing.T) {
	e := newEnv(t, newPKI(t), "")
	c := e.client("hmo-b")
	e.fetch()
	get(t, c, e.public.URL+"/api/manifest")
	if status, body := adminPost(t, e, "/admin/outage", `{"on":true}`); status != http.StatusOK || body["outage"] != true {
		t.Fatalf("%d %v", status, body)
	}
	if status, _, _ := get(t, c, e.public.URL+"/manifest"); status != http.StatusServiceUnavailable {
		t.Fatalf("during outage: %d", status)
	}
	if status, _ := adminPost(t, e, "/admin/outage", `{"on":1}`); status != http.StatusBadRequest {
		t.Fatalf("bad outage body: %d", status)
	}
	resp, err := http.Get(e.admin.URL + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": float64(1), "manifest_fetches": float64(1), "api_calls": float64(1), "presigned_fetches": float64(0), "outage": true}
	if !reflect.DeepEqual(stats, want) {
		t.Fatalf("stats %v, want %v", stats, want)
	}
}

func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":3,"status":{"org-sp-clinic-c":"removed"}}`))
	f.Add([]byte(`{"version":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := loadState(path)
		if err == nil && st.Version < 0 {
			t.Fatalf("negative version accepted: %+v", st)
		}
	})
}
