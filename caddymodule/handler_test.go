package caddymodule

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hdp-il/fhir-pep/internal/testclock"
	"github.com/hdp-il/fhir-pep/internal/testpki"
	"github.com/hdp-il/fhir-pep/introspection"
	"github.com/hdp-il/fhir-pep/trust"
)

// fakeTrust stands in for the ntn app: certificates are trusted by
// thumbprint, and a test can remove one to simulate an NTN revocation.
type fakeTrust struct {
	mu      sync.Mutex
	members map[string]string
	revoke  []func([]string)
	stale   bool
}

func (f *fakeTrust) VerifyPeer(leaf *x509.Certificate, _ []*x509.Certificate) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stale {
		return "", &trust.Error{Reason: trust.ReasonStale}
	}
	if m, ok := f.members[introspection.Thumbprint(leaf.Raw)]; ok {
		return m, nil
	}
	return "", errors.New("unknown certificate")
}

func (f *fakeTrust) OnRevoke(fn func([]string)) { f.revoke = append(f.revoke, fn) }

type gateFixture struct {
	pep     *PEP
	fhir    *fakeFHIR
	pcm     *fakePCM
	trust   *fakeTrust
	caller  *testpki.Leaf
	logs    *observer.ObservedLogs
	reg     *prometheus.Registry
	clock   *testclock.Clock // the PEP's injected clock: tests move it instead of sleeping
	reached *http.Request
}

func newGateFixture(t testing.TB, edits ...func(*PEP)) *gateFixture {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	f := newGateFixtureOn(t, core, edits...)
	f.logs = logs
	return f
}

// newGateFixtureOn is newGateFixture with the PEP logging (and auditing)
// to core instead of an in-memory observer; f.logs is nil.
func newGateFixtureOn(t testing.TB, core zapcore.Core, edits ...func(*PEP)) *gateFixture {
	t.Helper()
	ca := testpki.NewCA(t, "test root")
	pepKey := ca.Client(t, "hmo-b data source")
	caller := ca.Client(t, "hospital a")
	pcm := newFakePCM(t, ca, pepKey)
	dir := t.TempDir()
	certFile, keyFile := pepKey.WriteFiles(t, dir, "pep")
	f := &gateFixture{
		pcm:    pcm,
		caller: caller,
		trust:  &fakeTrust{members: map[string]string{introspection.Thumbprint(caller.Cert.Raw): "org-sp-hospital-a"}},
		reg:    prometheus.NewRegistry(),
		clock:  testclock.New(time.Now()),
		fhir:   newFakeFHIR(t),
	}
	f.fhir.add(
		patientResource("p1", "000000018"),
		patientResource("p2", "000000026"),
		observation("obs-lab", "p1", "laboratoryTests"),
		observation("obs-lab-other", "p2", "laboratoryTests"),
		observation("obs-unlabelled", "p1"),
		observation("obs-imaging", "p1", "imaging"),
	)
	f.pep = &PEP{
		Resource:     testResource,
		BasePath:     "/R4",
		UpstreamBase: f.fhir.base,
		PCM: &PCMConfig{
			Issuer:                testIssuer,
			TokenEndpoint:         pcm.srv.URL + "/token",
			IntrospectionEndpoint: pcm.srv.URL + "/introspect",
			ClientID:              testClientID,
			ClientCert:            certFile,
			ClientKey:             keyFile,
			CA:                    ca.WriteCA(t, dir, "ca"),
			Timeout:               caddy.Duration(2 * time.Second),
		},
	}
	f.pep.now = f.clock.Now
	for _, edit := range edits {
		edit(f.pep)
	}
	if err := f.pep.checkConfig(); err != nil {
		t.Fatal(err)
	}
	if err := f.pep.provision(zap.New(core), f.reg, f.trust); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.pep.Cleanup() })
	return f
}

// request builds a request as Caddy hands it to the handler after an mTLS
// handshake with the given client certificate (nil: none presented).
func (f *gateFixture) request(method, target string, cert *testpki.Leaf, token string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	if cert != nil {
		r.TLS.PeerCertificates = []*x509.Certificate{cert.Cert}
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	repl := caddy.NewReplacer()
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

func (f *gateFixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.reached = nil
	proxy := proxyTo(f.fhir.srv.URL)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		f.reached = r
		return proxy.ServeHTTP(w, r)
	})
	if err := f.pep.ServeHTTP(w, r, next); err != nil {
		w.Code = -1
	}
	return w
}

type outcomeBody struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity, Code, Diagnostics string
		Details                     struct {
			Coding []struct{ System, Code string }
		}
	} `json:"issue"`
}

// code is the stable error code of a one-issue OperationOutcome, as
// "system|code", or "" when it has none.
func (o outcomeBody) code() string {
	if len(o.Issue) != 1 || len(o.Issue[0].Details.Coding) != 1 {
		return ""
	}
	c := o.Issue[0].Details.Coding[0]
	return c.System + "|" + c.Code
}

const (
	national = nationalErrorSystem + "|"
	pep      = pepErrorSystem + "|"
)

func TestTokenGate(t *testing.T) {
	f := newGateFixture(t)
	now := time.Now()
	f.pcm.set("good", activeAnswer(f.caller, now, nil))
	f.pcm.set("expired", activeAnswer(f.caller, now, func(a map[string]any) { a["exp"] = now.Add(-time.Hour).Unix() }))
	f.pcm.set("wrong-aud", activeAnswer(f.caller, now, func(a map[string]any) { a["aud"] = "https://other.example/R4" }))
	f.pcm.set("aud-list", activeAnswer(f.caller, now, func(a map[string]any) { a["aud"] = []any{"https://x.example", testResource} }))
	f.pcm.set("wrong-iss", activeAnswer(f.caller, now, func(a map[string]any) { a["iss"] = "https://evil.example/" }))
	f.pcm.set("other-cert", activeAnswer(f.caller, now, func(a map[string]any) {
		a["cnf"] = map[string]any{"x5t#S256": strings.Repeat("A", 43)}
	}))
	f.pcm.set("no-cnf", activeAnswer(f.caller, now, func(a map[string]any) { delete(a, "cnf") }))
	f.pcm.set("no-patient", activeAnswer(f.caller, now, func(a map[string]any) { delete(a, "patient") }))
	f.pcm.set("inactive", map[string]any{"active": false})
	stranger := testpki.SelfSigned(t, "not in NTN")

	tests := []struct {
		name        string
		req         func() *http.Request
		status      int
		challenge   string // exact WWW-Authenticate, "" = must be absent
		reachesNext bool
		code        string // issue.details.coding of a denial, "system|code"
	}{
		{"valid token", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "good") }, 200, "", true, ""},
		{"aud as list", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "aud-list") }, 200, "", true, ""},
		{"capabilities under the base path", func() *http.Request { return f.request("GET", "/R4/metadata", f.caller, "good") }, 200, "", true, ""},
		{"outside base path", func() *http.Request { return f.request("GET", "/R4x/Observation", f.caller, "good") }, 404, "", false, ""},
		{"no client certificate", func() *http.Request { return f.request("GET", "/R4/Observation", nil, "good") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, pep + "no_client_certificate"},
		{"certificate not in NTN", func() *http.Request { return f.request("GET", "/R4/Observation", stranger, "good") }, 403, "", false, pep + "untrusted_certificate"},
		{"no token", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "") }, 401, `Bearer realm="fhir-pep"`, false, national + "AUTH_001"},
		{"other scheme", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "")
			r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
			return r
		}, 401, `Bearer realm="fhir-pep"`, false, national + "AUTH_001"},
		{"bearer without token", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "")
			r.Header.Set("Authorization", "Bearer")
			return r
		}, 400, `Bearer realm="fhir-pep", error="invalid_request"`, false, national + "AUTH_001"},
		{"token with bad characters", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "")
			r.Header.Set("Authorization", "Bearer a b")
			return r
		}, 400, `Bearer realm="fhir-pep", error="invalid_request"`, false, national + "AUTH_001"},
		{"two Authorization headers", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "good")
			r.Header.Add("Authorization", "Bearer good")
			return r
		}, 400, `Bearer realm="fhir-pep", error="invalid_request"`, false, national + "AUTH_001"},
		{"token in header and query", func() *http.Request {
			return f.request("GET", "/R4/Observation?access_token=good", f.caller, "good")
		}, 400, `Bearer realm="fhir-pep", error="invalid_request"`, false, national + "AUTH_001"},
		{"token only in query", func() *http.Request {
			return f.request("GET", "/R4/Observation?access_token=good", f.caller, "")
		}, 400, `Bearer realm="fhir-pep", error="invalid_request"`, false, national + "AUTH_001"},
		{"token in header and form body", func() *http.Request {
			r := f.request("POST", "/R4/Observation/_search", f.caller, "good")
			r.Body = http.NoBody
			r.Body = ioNopCloser("code=x&access_token=good")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, `Bearer realm="fhir-pep", error="invalid_request"`, false, national + "AUTH_001"},
		{"form body without token passes", func() *http.Request {
			r := f.request("POST", "/R4/Observation/_search", f.caller, "good")
			r.Body = ioNopCloser("code=x")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 200, "", true, ""},
		{"inactive", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "inactive") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_002"},
		{"unknown token", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "nope") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_002"},
		{"expired", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "expired") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_003"},
		{"wrong audience", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "wrong-aud") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_002"},
		{"wrong issuer", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "wrong-iss") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_002"},
		{"bound to another certificate", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "other-cert") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_005"},
		{"unbound token (no cnf) is unusable", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "no-cnf") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_005"},
		{"patient scope without patient is unusable", func() *http.Request { return f.request("GET", "/R4/Observation", f.caller, "no-patient") }, 401, `Bearer realm="fhir-pep", error="invalid_token"`, false, national + "AUTH_002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(tt.req())
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if (f.reached != nil) != tt.reachesNext {
				t.Fatalf("reached next = %v, want %v", f.reached != nil, tt.reachesNext)
			}
			if len(w.Header().Get(decisionHeader)) != 32 {
				t.Fatalf("missing decision id header")
			}
			if tt.status != 200 {
				var oo outcomeBody
				if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
					t.Fatalf("body is not an OperationOutcome: %s", w.Body)
				}
				if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
					t.Fatalf("content type %q", ct)
				}
				if strings.Contains(w.Body.String(), "good") || strings.Contains(w.Body.String(), "000000018") {
					t.Fatalf("body leaks request data: %s", w.Body)
				}
				if got := oo.code(); got != tt.code {
					t.Fatalf("error code %q, want %q", got, tt.code)
				}
			}
			if tt.status == 503 && w.Header().Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After")
			}
		})
	}
}

func ioNopCloser(s string) *nopBody { return &nopBody{strings.NewReader(s)} }

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }

func TestGateHandsOverSubjectAndStripsCredentials(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("good", activeAnswer(f.caller, time.Now(), nil))
	r := f.request("GET", "/R4/Observation", f.caller, "good")
	r.Header.Set("X-Fhir-Pep-Member-Id", "org-forged")
	r.Header.Set("x-fhir-pep-decision-id", "forged")
	r.Header.Set("Proxy-Authorization", "Basic x")
	w := f.serve(r)
	if w.Code != 200 || f.reached == nil {
		t.Fatalf("status %d", w.Code)
	}
	for name := range f.reached.Header {
		if name == "X-Fhir-Pep-Member-Id" || name == "Authorization" || name == "Proxy-Authorization" {
			t.Fatalf("header %s reached the upstream", name)
		}
	}
	if got := f.reached.Header.Get(decisionHeader); got != w.Header().Get(decisionHeader) {
		t.Fatalf("upstream saw decision id %q, want the PEP's own", got)
	}
	repl := f.reached.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	for name, want := range map[string]string{
		"http.fhir_pep.member_id":   "org-sp-hospital-a",
		"http.fhir_pep.client_id":   "sp-hospital-a",
		"http.fhir_pep.decision_id": w.Header().Get(decisionHeader),
	} {
		if v, _ := repl.GetString(name); v != want {
			t.Fatalf("%s placeholder = %q, want %q", name, v, want)
		}
	}
}

func TestGatePCMFailuresFailClosed(t *testing.T) {
	for _, mode := range []string{"500", "garbage", "hang"} {
		t.Run(mode, func(t *testing.T) {
			f := newGateFixture(t)
			f.pep.pcm.introspector.Cache().Wait()
			f.pcm.set("good", activeAnswer(f.caller, time.Now(), nil))
			f.pcm.setMode(mode)
			if mode == "hang" {
				// The hanging PCM is cut off by the configured timeout.
				f.pep.PCM.Timeout = caddy.Duration(300 * time.Millisecond)
				_ = f.pep.Cleanup()
				if err := f.pep.provision(zap.NewNop(), prometheus.NewRegistry(), f.trust); err != nil {
					t.Fatal(err)
				}
			}
			w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good"))
			if w.Code != 503 || w.Header().Get("Retry-After") == "" || f.reached != nil {
				t.Fatalf("status %d, retry-after %q", w.Code, w.Header().Get("Retry-After"))
			}
			// Transport errors are not cached: PCM recovering lets the next
			// request in. A malformed answer is remembered for that token
			// (negative_cache_ttl), so PCM is not asked again at once;
			// another token gets in.
			f.pcm.setMode("")
			token := "good"
			if mode == "garbage" {
				if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good")); w.Code != 503 {
					t.Fatalf("malformed answer not remembered: status %d", w.Code)
				}
				token = "other"
				f.pcm.set(token, activeAnswer(f.caller, time.Now(), nil))
			}
			if w := f.serve(f.request("GET", "/R4/Observation", f.caller, token)); w.Code != 200 {
				t.Fatalf("after recovery: status %d", w.Code)
			}
		})
	}
}

func TestGateOneIntrospectionFor1000ConcurrentRequests(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("fresh", activeAnswer(f.caller, time.Now(), nil))
	// Prime the PEP's own PCM token so the count below is introspections only.
	f.pcm.set("primer", activeAnswer(f.caller, time.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "primer")); w.Code != 200 {
		t.Fatalf("primer: %d", w.Code)
	}
	before := f.pcm.introsps.Load()
	gate := make(chan struct{})
	f.pcm.mu.Lock()
	f.pcm.gate = gate
	f.pcm.mu.Unlock()

	const n = 1000
	misses := f.pep.metrics.cacheRequests.WithLabelValues("miss")
	missesBefore := testutil.ToFloat64(misses)
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Go(func() {
			w := httptest.NewRecorder()
			_ = f.pep.ServeHTTP(w, f.request("GET", "/R4/Observation", f.caller, "fresh"), proxyTo(f.fhir.srv.URL))
			codes <- w.Code
		})
	}
	// Release PCM's answer only once every request has missed the cache
	// (and so is about to join, or has joined, the one shared call).
	for testutil.ToFloat64(misses) < missesBefore+n || f.pcm.introsps.Load() == before {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("a request got %d", c)
		}
	}
	if got := f.pcm.introsps.Load() - before; got != 1 {
		t.Fatalf("%d introspection calls for one token, want 1", got)
	}
	if got := f.pcm.tokens.Load(); got != 1 {
		t.Fatalf("%d token endpoint calls, want 1", got)
	}
}

func TestGateRevocationDropsCachedAnswer(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("good", activeAnswer(f.caller, time.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	f.trust.mu.Lock()
	f.trust.members = map[string]string{}
	f.trust.mu.Unlock()
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good")); w.Code != 403 {
		t.Fatalf("revoked member: status %d", w.Code)
	}
	if len(f.trust.revoke) != 1 {
		t.Fatalf("handler did not subscribe to revocations")
	}
}

func TestGateStaleManifestFailsClosed(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("good", activeAnswer(f.caller, time.Now(), nil))
	f.trust.mu.Lock()
	f.trust.stale = true
	f.trust.mu.Unlock()
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good")); w.Code != 403 || f.reached != nil {
		t.Fatalf("stale manifest: status %d", w.Code)
	}
	if got := testutil.ToFloat64(f.pep.metrics.failClosed.WithLabelValues("ntn_stale")); got != 1 {
		t.Fatalf("fail_closed{ntn_stale} = %v", got)
	}
}

func TestGateMetricsAndLogs(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("good-secret-token", activeAnswer(f.caller, time.Now(), nil))
	f.serve(f.request("GET", "/R4/Observation", f.caller, "good-secret-token"))
	f.pep.pcm.introspector.Cache().Wait()
	f.serve(f.request("GET", "/R4/Observation", f.caller, "good-secret-token"))
	f.serve(f.request("GET", "/R4/Observation", f.caller, ""))
	f.pcm.setMode("500")
	f.serve(f.request("GET", "/R4/Observation", f.caller, "other-secret-token"))

	if got := testutil.ToFloat64(f.pep.metrics.decisions.WithLabelValues("allow", "allowed")); got != 2 {
		t.Fatalf("allowed = %v", got)
	}
	if got := testutil.ToFloat64(f.pep.metrics.decisions.WithLabelValues("deny", "no_token")); got != 1 {
		t.Fatalf("no_token = %v", got)
	}
	if got := testutil.ToFloat64(f.pep.metrics.failClosed.WithLabelValues("pcm_unavailable")); got != 1 {
		t.Fatalf("fail closed = %v", got)
	}
	if got := testutil.ToFloat64(f.pep.metrics.cacheRequests.WithLabelValues("hit")); got < 1 {
		t.Fatalf("cache hits = %v", got)
	}
	if got := testutil.ToFloat64(f.pep.metrics.tokenRefreshes.WithLabelValues("ok")); got != 1 {
		t.Fatalf("token refreshes = %v", got)
	}
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	size := -1.0
	for _, mf := range families {
		if mf.GetName() == "caddy_fhir_pep_introspection_cache_size_bytes" {
			size = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if size <= 0 {
		t.Fatalf("introspection cache size = %v, want the cached answer counted", size)
	}
	for _, e := range f.logs.All() {
		line, _ := json.Marshal(e.ContextMap())
		for _, secret := range []string{"secret-token", "000000018"} {
			if strings.Contains(e.Message+string(line), secret) {
				t.Fatalf("log leaks %q: %s %s", secret, e.Message, line)
			}
		}
	}
}

// BenchmarkGateCacheHit measures the token gate on a cache hit: NTN
// re-check, Authorization parsing, introspection cache and claim checks.
func BenchmarkGateCacheHit(b *testing.B) {
	f := newGateFixture(b)
	f.pcm.set("good", activeAnswer(f.caller, time.Now(), nil))
	f.serve(f.request("GET", "/R4/Observation", f.caller, "good"))
	f.pep.pcm.introspector.Cache().Wait()
	r := f.request("GET", "/R4/Observation", f.caller, "good")
	b.ReportAllocs()
	for b.Loop() {
		if err := f.pep.authenticate(&exchange{r: r, start: f.clock.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// The PEP checks token times on its own injected clock: a token accepted
// (and cached) while valid is refused once that clock passes its exp.
func TestGateChecksTokenTimesOnThePEPClock(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("good", activeAnswer(f.caller, f.clock.Now(), nil)) // exp in 10 minutes
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good")); w.Code != 200 {
		t.Fatalf("fresh token: status %d", w.Code)
	}
	f.clock.Advance(11 * time.Minute)
	w := f.serve(f.request("GET", "/R4/Observation", f.caller, "good"))
	var oo outcomeBody
	_ = json.Unmarshal(w.Body.Bytes(), &oo)
	if w.Code != 401 || oo.code() != national+"AUTH_003" {
		t.Fatalf("after exp on the PEP's clock: status %d, code %q", w.Code, oo.code())
	}
}

// The help text of stage_duration_seconds names exactly the stages the
// request path emits (a search passes through all of them).
func TestStageHelpNamesTheEmittedStages(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "caddy_fhir_pep_stage_duration_seconds" {
			continue
		}
		var emitted []string
		for _, m := range mf.GetMetric() {
			// The stages are resolved ahead (metrics.go): a stage counts as
			// emitted only once it observed this request.
			if m.GetHistogram().GetSampleCount() == 0 {
				t.Errorf("stage %q observed nothing", m.GetLabel()[0].GetValue())
			}
			emitted = append(emitted, m.GetLabel()[0].GetValue())
		}
		_, list, _ := strings.Cut(mf.GetHelp(), "(")
		list, _, _ = strings.Cut(list, ")")
		named := strings.Split(list, ", ")
		slices.Sort(emitted)
		slices.Sort(named)
		if !slices.Equal(emitted, named) {
			t.Fatalf("emitted stages %v, help names %v", emitted, named)
		}
		return
	}
	t.Fatal("no stage_duration_seconds family")
}
