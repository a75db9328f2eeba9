package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hdp-il/fhir-pep/internal/testclock"
	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// newClock is the injected clock: tests move time by hand, never sleep.
func newClock() *testclock.Clock { return testclock.New(ntntest.Epoch) }

// ntnServer is a local NTN: TLS with a certificate from its own CA, and
// client certificates required and verified against the data sources' CA.
type ntnServer struct {
	t        *testing.T
	srv      *httptest.Server
	serverCA *ntntest.Issuer
	client   tls.Certificate // the data source's NTN client certificate

	mu        sync.Mutex
	body      []byte
	status    int
	apiBody   []byte
	hang      bool
	requests  []string
	onRequest chan string
}

func newNTNServer(t *testing.T) *ntnServer {
	t.Helper()
	s := &ntnServer{t: t, onRequest: make(chan string, 64)}
	s.serverCA = ntntest.NewRootCA(t, "NTN server CA", ntntest.ECDSAP256)
	serverCert := s.serverCA.Issue(t, ntntest.CertOptions{
		CommonName: "ntn.test", DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	dsCA := ntntest.NewRootCA(t, "data sources CA", ntntest.ECDSAP256)
	s.client = dsCA.Issue(t, ntntest.CertOptions{CommonName: "data source"}).TLSCertificate()
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(dsCA.Cert)

	mux := http.NewServeMux()
	mux.HandleFunc("/manifest", s.serveManifest)
	mux.HandleFunc("/presigned/manifest.jws", s.serveManifest)
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		s.mu.Lock()
		body := s.apiBody
		s.mu.Unlock()
		if body == nil {
			body = []byte(`{"url":"/presigned/manifest.jws?X-Amz-Signature=secret","expires_in":60}`)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	s.srv = httptest.NewUnstartedServer(mux)
	// Handshakes that tests make fail on purpose are not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	}
	s.srv.StartTLS()
	t.Cleanup(func() {
		s.mu.Lock()
		s.hang = false
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

func (s *ntnServer) record(r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path)
	s.mu.Unlock()
	select {
	case s.onRequest <- r.URL.Path:
	default:
	}
}

func (s *ntnServer) serveManifest(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	s.mu.Lock()
	body, status, hang := s.body, s.status, s.hang
	s.mu.Unlock()
	if hang {
		<-r.Context().Done() // until the client gives up
		return
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	_, _ = w.Write(body)
}

func (s *ntnServer) publish(jws []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status, s.hang = jws, 0, false
}

func (s *ntnServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *ntnServer) setHang() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = true
}

func (s *ntnServer) setAPIBody(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiBody = b
}

func (s *ntnServer) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *ntnServer) httpClient() *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(s.serverCA.Cert)
	return NewHTTPClient(HTTPClientConfig{Certificate: s.client, RootCAs: roots})
}

func (s *ntnServer) urlSource() Source {
	src, err := NewURLSource(s.srv.URL+"/manifest", s.httpClient())
	if err != nil {
		s.t.Fatal(err)
	}
	return src
}

func (s *ntnServer) apiSource() Source {
	src, err := NewAPISource(s.srv.URL+"/api", s.httpClient())
	if err != nil {
		s.t.Fatal(err)
	}
	return src
}

// storeEnv ties a Store to its NTN PKI, server and clock.
type storeEnv struct {
	pki    *ntntest.PKI
	server *ntnServer
	clock  *testclock.Clock
	a1, a2 *ntntest.Issuer // org-a client certificates
	b1     *ntntest.Issuer // org-b client certificate
}

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	return &storeEnv{
		pki:    ntntest.NewPKI(t, ntntest.ECDSAP256),
		server: newNTNServer(t),
		clock:  newClock(),
		a1:     ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "a1"}),
		a2:     ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "a2"}),
		b1:     ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "b1"}),
	}
}

// manifestV returns the standard manifest of a version: org-a with a1
// and org-b with b1.
func (e *storeEnv) manifestV(version int64) ntntest.Manifest {
	return ntntest.NewManifest(version,
		ntntest.ActiveMember("org-a", ntntest.TLS(e.a1.Cert)),
		ntntest.ActiveMember("org-b", ntntest.TLS(e.b1.Cert)))
}

func (e *storeEnv) sign(t *testing.T, m ntntest.Manifest) []byte {
	t.Helper()
	return e.pki.Signer().SignManifest(t, m)
}

func (e *storeEnv) options(src Source) StoreOptions {
	return StoreOptions{
		Source:       src,
		TrustAnchors: []*x509.Certificate{e.pki.TrustAnchor.Cert},
		Now:          e.clock.Now,
	}
}

func mustStore(t *testing.T, opts StoreOptions) *Store {
	t.Helper()
	s, err := NewStore(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func expectMember(t *testing.T, s *Store, leaf *ntntest.Issuer, wantMember string, wantReason Reason) {
	t.Helper()
	member, err := s.VerifyLeaf(leaf.Cert, nil)
	if member != wantMember || ReasonOf(err) != wantReason || (err == nil) != (wantReason == "") {
		t.Fatalf("VerifyLeaf(%s) = (%q, %v), want (%q, reason %q)", leaf.Cert.Subject.CommonName, member, err, wantMember, wantReason)
	}
}

func TestStoreRotationAndRemoval(t *testing.T) {
	for _, mode := range []string{"manifest_url", "api_url"} {
		t.Run(mode, func(t *testing.T) {
			env := newStoreEnv(t)
			src := env.server.urlSource()
			if mode == "api_url" {
				src = env.server.apiSource()
			}
			s := mustStore(t, env.options(src))
			var swaps [][2]int64
			var removed []string
			s.Subscribe(func(old, next *Snapshot) {
				oldV := int64(0)
				if old != nil {
					oldV = old.Version()
				}
				swaps = append(swaps, [2]int64{oldV, next.Version()})
				removed = append(removed, RemovedThumbprints(old, next)...)
			})

			expectMember(t, s, env.a1, "", ReasonNoManifest)
			env.server.publish(env.sign(t, env.manifestV(1)))
			if err := s.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh v1: %v", err)
			}
			expectMember(t, s, env.a1, "org-a", "")
			expectMember(t, s, env.b1, "org-b", "")
			expectMember(t, s, env.a2, "", ReasonUnknownCertificate)

			// v2: org-a rotates a1 -> a2, org-b is removed from NTN.
			env.server.publish(env.sign(t, ntntest.NewManifest(2, ntntest.ActiveMember("org-a", ntntest.TLS(env.a2.Cert)))))
			if err := s.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh v2: %v", err)
			}
			expectMember(t, s, env.a1, "", ReasonUnknownCertificate) // rotated away: org-a is still a member
			expectMember(t, s, env.a2, "org-a", "")
			expectMember(t, s, env.b1, "org-b", ReasonMemberInactive) // its member left the manifest

			if want := [][2]int64{{0, 1}, {1, 2}}; !slices.Equal(swaps, want) {
				t.Errorf("swaps = %v, want %v", swaps, want)
			}
			wantRemoved := []string{ntntest.Thumbprint(env.a1.Cert), ntntest.Thumbprint(env.b1.Cert)}
			slices.Sort(wantRemoved)
			if !slices.Equal(removed, wantRemoved) {
				t.Errorf("removed = %v, want %v", removed, wantRemoved)
			}
			wantPaths := []string{"/manifest", "/manifest"}
			if mode == "api_url" {
				wantPaths = []string{"/api", "/presigned/manifest.jws", "/api", "/presigned/manifest.jws"}
			}
			if got := env.server.paths(); !slices.Equal(got, wantPaths) {
				t.Errorf("requests = %v, want %v", got, wantPaths)
			}
			st := s.Stats()
			if !st.HasManifest || st.Stale || st.Version != 2 || st.ActiveMembers != 1 || st.TrustedCertificates != 1 || !st.LastSuccess.Equal(ntntest.Epoch) {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// NTN removes a member by dropping it from the manifest. Its certificates
// must be refused as member_inactive, naming the member (docs/ntn.md), not
// as unknown_certificate: an operator asked why org-b cannot connect must
// see that NTN removed org-b. The memory lasts through later manifests that
// still lack the member (pinned and CA-issued certificates alike) and ends
// when the member comes back.
func TestStoreRemovedMemberIsInactive(t *testing.T) {
	env := newStoreEnv(t)
	caC := ntntest.NewRootCA(t, "org-c CA", ntntest.ECDSAP256)
	leafC := caC.Issue(t, ntntest.CertOptions{CommonName: "org-c client"})
	stranger := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "stranger"})
	s := mustStore(t, env.options(env.server.urlSource()))
	steps := []struct {
		name    string
		members []ntntest.Member
		want    map[*ntntest.Issuer][2]string // leaf -> member, reason
	}{
		{"all members", []ntntest.Member{
			ntntest.ActiveMember("org-a", ntntest.TLS(env.a1.Cert)),
			ntntest.ActiveMember("org-b", ntntest.TLS(env.b1.Cert)),
			ntntest.ActiveMember("org-c", ntntest.CA(caC.Cert)),
		}, map[*ntntest.Issuer][2]string{
			env.a1: {"org-a", ""}, env.b1: {"org-b", ""}, leafC: {"org-c", ""}, stranger: {"", "unknown_certificate"},
		}},
		{"org-b and org-c removed", []ntntest.Member{
			ntntest.ActiveMember("org-a", ntntest.TLS(env.a1.Cert)),
		}, map[*ntntest.Issuer][2]string{
			env.a1: {"org-a", ""}, env.b1: {"org-b", "member_inactive"}, leafC: {"org-c", "member_inactive"}, stranger: {"", "unknown_certificate"},
		}},
		{"still absent a version later", []ntntest.Member{
			ntntest.ActiveMember("org-a", ntntest.TLS(env.a1.Cert), ntntest.TLS(env.a2.Cert)),
		}, map[*ntntest.Issuer][2]string{
			env.b1: {"org-b", "member_inactive"}, leafC: {"org-c", "member_inactive"}, env.a2: {"org-a", ""},
		}},
		{"org-b back", []ntntest.Member{
			ntntest.ActiveMember("org-a", ntntest.TLS(env.a1.Cert)),
			ntntest.ActiveMember("org-b", ntntest.TLS(env.b1.Cert)),
		}, map[*ntntest.Issuer][2]string{
			env.b1: {"org-b", ""}, leafC: {"org-c", "member_inactive"}, env.a2: {"", "unknown_certificate"},
		}},
	}
	for i, step := range steps {
		env.server.publish(env.sign(t, ntntest.NewManifest(int64(i+1), step.members...)))
		if err := s.Refresh(context.Background()); err != nil {
			t.Fatalf("%s: Refresh: %v", step.name, err)
		}
		for leaf, want := range step.want {
			member, err := s.VerifyLeaf(leaf.Cert, nil)
			rawMember, rawErr := s.VerifyRawChain([][]byte{leaf.Cert.Raw})
			if member != want[0] || string(ReasonOf(err)) != want[1] || (err == nil) != (want[1] == "") ||
				rawMember != member || ReasonOf(rawErr) != ReasonOf(err) {
				t.Errorf("%s: %s = (%q, %v), raw chain (%q, %v); want (%q, reason %q)", step.name,
					leaf.Cert.Subject.CommonName, member, err, rawMember, rawErr, want[0], want[1])
			}
		}
	}
}

func TestStoreRefreshFailureKeepsSnapshot(t *testing.T) {
	env := newStoreEnv(t)
	other := ntntest.NewPKI(t, ntntest.ECDSAP256)
	expiredDownload := env.pki.Intermediate.Issue(t, ntntest.CertOptions{
		CommonName: "expired download", NotBefore: ntntest.Epoch.Add(-48 * time.Hour), NotAfter: ntntest.Epoch.Add(-time.Hour),
	})
	expiredSigner := ntntest.Signer{Key: expiredDownload.Key, Chain: []*x509.Certificate{expiredDownload.Cert, env.pki.Intermediate.Cert}}
	rsaPKI := ntntest.NewPKI(t, ntntest.RSA2048)

	expiredManifest := env.manifestV(9)
	expiredManifest.IssuedAt = ntntest.Epoch.Add(-48 * time.Hour).Format(time.RFC3339)
	expiredManifest.ExpiresAt = ntntest.Epoch.Add(-time.Second).Format(time.RFC3339)

	dupMembers := env.manifestV(9)
	dupMembers.Members[1].MemberID = "org-a"

	conflicting := env.manifestV(5)
	conflicting.Members = conflicting.Members[:1]

	cases := []struct {
		name   string
		setup  func(t *testing.T)
		reason Reason
	}{
		{"HTTP 500", func(*testing.T) { env.server.fail(http.StatusInternalServerError) }, ReasonHTTPStatus},
		{"HTTP 404", func(*testing.T) { env.server.fail(http.StatusNotFound) }, ReasonHTTPStatus},
		{"garbage", func(*testing.T) { env.server.publish([]byte("<html>maintenance</html>")) }, ReasonFormat},
		{"empty body", func(*testing.T) { env.server.publish(nil) }, ReasonFormat},
		{"too large", func(*testing.T) { env.server.publish(make([]byte, MaxManifestBytes+1)) }, ReasonTooLarge},
		{"bad signature", func(t *testing.T) {
			env.server.publish(ntntest.Signer{Key: other.Download.Key, Chain: env.pki.Signer().Chain}.SignManifest(t, env.manifestV(9)))
		}, ReasonSignature},
		{"wrong trust anchor", func(t *testing.T) { env.server.publish(other.Signer().SignManifest(t, env.manifestV(9))) }, ReasonChain},
		{"expired signing certificate", func(t *testing.T) { env.server.publish(expiredSigner.SignManifest(t, env.manifestV(9))) }, ReasonChain},
		{"disallowed algorithm", func(t *testing.T) {
			env.server.publish(rawJWS(`{"alg":"none","typ":"ntn-manifest+jws"}`, []byte(`{}`), []byte("x")))
		}, ReasonAlgorithm},
		{"RSA key of another NTN", func(t *testing.T) { env.server.publish(rsaPKI.Signer().SignManifest(t, env.manifestV(9))) }, ReasonChain},
		{"rollback", func(t *testing.T) { env.server.publish(env.sign(t, env.manifestV(4))) }, ReasonRollback},
		{"same version, other payload", func(t *testing.T) { env.server.publish(env.sign(t, conflicting)) }, ReasonVersionConflict},
		{"manifest expired", func(t *testing.T) { env.server.publish(env.sign(t, expiredManifest)) }, ReasonExpired},
		{"duplicate member ids", func(t *testing.T) { env.server.publish(env.sign(t, dupMembers)) }, ReasonSchema},
		{"unknown fields", func(t *testing.T) {
			env.server.publish(env.pki.Signer().Sign(t, []byte(`{"version":9,"issued_at":"2026-11-22T09:00:00Z","expires_at":"2026-11-23T10:00:00Z","members":[],"admin":true}`)))
		}, ReasonSchema},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStore(t, env.options(env.server.urlSource()))
			env.server.publish(env.sign(t, env.manifestV(5)))
			if err := s.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			tc.setup(t)
			err := s.Refresh(context.Background())
			if ReasonOf(err) != tc.reason {
				t.Fatalf("Refresh = %v, want reason %q", err, tc.reason)
			}
			if v := s.Snapshot().Version(); v != 5 {
				t.Fatalf("snapshot version = %d after a failed refresh, want 5", v)
			}
			expectMember(t, s, env.a1, "org-a", "")
			st := s.Stats()
			if st.ConsecutiveFailures != 1 || st.Failures[tc.reason] != 1 || st.LastFailureReason != tc.reason {
				t.Fatalf("Stats = %+v", st)
			}
		})
	}
}

func TestStoreEqualVersionIsNoop(t *testing.T) {
	env := newStoreEnv(t)
	s := mustStore(t, env.options(env.server.urlSource()))
	swaps := 0
	s.Subscribe(func(_, _ *Snapshot) { swaps++ })
	env.server.publish(env.sign(t, env.manifestV(3)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := s.Snapshot()
	env.clock.Advance(time.Hour)
	// Re-signed: ECDSA signatures differ each time, the payload does not.
	env.server.publish(env.sign(t, env.manifestV(3)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("equal version: %v", err)
	}
	if s.Snapshot() != first || swaps != 1 {
		t.Fatalf("snapshot replaced (swaps %d)", swaps)
	}
	if got := s.Stats().LastSuccess; !got.Equal(ntntest.Epoch.Add(time.Hour)) {
		t.Fatalf("LastSuccess = %v, want the time of the no-op refresh", got)
	}
}

func TestStoreAPIURLAnswers(t *testing.T) {
	cases := []struct {
		name   string
		body   func(serverURL string) string
		reason Reason
	}{
		{"absolute presigned URL", func(u string) string { return `{"url":"` + u + `/presigned/manifest.jws?sig=1"}` }, ""},
		{"http presigned URL", func(string) string { return `{"url":"http://127.0.0.1:1/presigned/manifest.jws"}` }, ReasonAPIResponse},
		{"no url", func(string) string { return `{"href":"/presigned/manifest.jws"}` }, ReasonAPIResponse},
		{"empty url", func(string) string { return `{"url":""}` }, ReasonAPIResponse},
		{"url not a string", func(string) string { return `{"url":42}` }, ReasonAPIResponse},
		{"not JSON", func(string) string { return `<html></html>` }, ReasonAPIResponse},
		{"malformed url", func(string) string { return `{"url":"https://[::1"}` }, ReasonAPIResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newStoreEnv(t)
			env.server.publish(env.sign(t, env.manifestV(1)))
			env.server.setAPIBody([]byte(tc.body(env.server.srv.URL)))
			s := mustStore(t, env.options(env.server.apiSource()))
			err := s.Refresh(context.Background())
			if ReasonOf(err) != tc.reason || (err == nil) != (tc.reason == "") {
				t.Fatalf("Refresh = %v, want reason %q", err, tc.reason)
			}
		})
	}
}

func TestStoreMutualTLS(t *testing.T) {
	env := newStoreEnv(t)
	env.server.publish(env.sign(t, env.manifestV(1)))
	roots := x509.NewCertPool()
	roots.AddCert(env.server.serverCA.Cert)
	otherCA := ntntest.NewRootCA(t, "someone else", ntntest.ECDSAP256)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(otherCA.Cert)
	cases := []struct {
		name   string
		client *http.Client
	}{
		{"no client certificate", NewHTTPClient(HTTPClientConfig{RootCAs: roots})},
		{"untrusted client certificate", NewHTTPClient(HTTPClientConfig{
			Certificate: otherCA.Issue(t, ntntest.CertOptions{CommonName: "intruder"}).TLSCertificate(), RootCAs: roots,
		})},
		{"untrusted NTN server", NewHTTPClient(HTTPClientConfig{Certificate: env.server.client, RootCAs: otherRoots})},
		{"system roots for a private NTN server", NewHTTPClient(HTTPClientConfig{Certificate: env.server.client})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewURLSource(env.server.srv.URL+"/manifest", tc.client)
			if err != nil {
				t.Fatal(err)
			}
			s := mustStore(t, env.options(src))
			if err := s.Refresh(context.Background()); ReasonOf(err) != ReasonFetch {
				t.Fatalf("Refresh = %v, want reason fetch", err)
			}
			if s.Snapshot() != nil {
				t.Fatal("snapshot installed")
			}
		})
	}
}

func TestNewSourceValidation(t *testing.T) {
	client := http.DefaultClient
	for _, u := range []string{"http://ntn.example/manifest", "ntn.example/manifest", "https://", "::"} {
		if _, err := NewURLSource(u, client); err == nil {
			t.Errorf("NewURLSource(%q) accepted", u)
		}
		if _, err := NewAPISource(u, client); err == nil {
			t.Errorf("NewAPISource(%q) accepted", u)
		}
	}
	if _, err := NewURLSource("https://ntn.example/m", nil); err == nil {
		t.Error("NewURLSource without client accepted")
	}
	if _, err := NewFileSource(""); err == nil {
		t.Error("NewFileSource(\"\") accepted")
	}
}

func TestStoreTimeoutOnHangingServer(t *testing.T) {
	env := newStoreEnv(t)
	env.server.setHang()
	opts := env.options(env.server.urlSource())
	// A real deadline, but nothing waits for it but the request itself:
	// the server never answers.
	opts.Timeout = 50 * time.Millisecond
	s := mustStore(t, opts)
	err := s.Refresh(context.Background())
	if ReasonOf(err) != ReasonTimeout {
		t.Fatalf("Refresh = %v, want reason timeout", err)
	}
	if s.Stats().Failures[ReasonTimeout] != 1 {
		t.Fatalf("timeout not counted: %+v", s.Stats())
	}
}

func TestStoreCanceledRefreshIsNotAFailure(t *testing.T) {
	env := newStoreEnv(t)
	env.server.setHang()
	s := mustStore(t, env.options(env.server.urlSource()))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Refresh(ctx) }()
	<-env.server.onRequest // the request is in flight and hanging
	cancel()
	if err := <-errc; ReasonOf(err) != ReasonCanceled {
		t.Fatalf("Refresh = %v, want reason canceled", err)
	}
	if st := s.Stats(); st.ConsecutiveFailures != 0 || len(st.Failures) != 0 {
		t.Fatalf("shutdown counted as failure: %+v", st)
	}
}

func TestStoreStaleness(t *testing.T) {
	env := newStoreEnv(t)
	opts := env.options(env.server.urlSource())
	opts.MaxStaleness = 2 * time.Hour
	s := mustStore(t, opts)
	env.server.publish(env.sign(t, env.manifestV(1)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.server.fail(http.StatusServiceUnavailable)

	env.clock.Advance(2 * time.Hour)
	expectMember(t, s, env.a1, "org-a", "") // exactly max_staleness: still fresh
	env.clock.Advance(time.Second)
	expectMember(t, s, env.a1, "", ReasonStale)
	if !s.Stale() || !s.Stats().Stale {
		t.Fatal("Stale() = false")
	}
	if _, err := s.VerifyRawChain([][]byte{env.a1.Cert.Raw}); ReasonOf(err) != ReasonStale {
		t.Fatalf("VerifyRawChain = %v, want stale", err)
	}
	if err := s.Refresh(context.Background()); ReasonOf(err) != ReasonHTTPStatus {
		t.Fatalf("Refresh = %v", err)
	}
	expectMember(t, s, env.a1, "", ReasonStale)

	// A successful refresh of the same version makes it fresh again.
	env.server.publish(env.sign(t, env.manifestV(1)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectMember(t, s, env.a1, "org-a", "")
}

func TestStoreExpiresAtFailsClosed(t *testing.T) {
	env := newStoreEnv(t)
	opts := env.options(env.server.urlSource())
	opts.MaxStaleness = 72 * time.Hour
	s := mustStore(t, opts)
	env.server.publish(env.sign(t, env.manifestV(1))) // expires Epoch+24h
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(24*time.Hour - time.Second)
	expectMember(t, s, env.a1, "org-a", "")
	env.clock.Advance(time.Second)
	expectMember(t, s, env.a1, "", ReasonStale)
	// Re-fetching the same, now expired, manifest does not help.
	if err := s.Refresh(context.Background()); ReasonOf(err) != ReasonExpired {
		t.Fatalf("Refresh = %v, want expired", err)
	}
	expectMember(t, s, env.a1, "", ReasonStale)
}

func TestStoreRestartFromStateDir(t *testing.T) {
	env := newStoreEnv(t)
	dir := filepath.Join(t.TempDir(), "state")
	opts := env.options(env.server.urlSource())
	opts.StateDir = dir
	opts.MaxStaleness = 6 * time.Hour

	first := mustStore(t, opts)
	env.server.publish(env.sign(t, env.manifestV(7)))
	if err := first.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("state file mode %o, want 600", perm)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("state_dir holds %d entries, want only the state file", len(entries))
	}

	// Restart an hour later with NTN down: the stored manifest is used.
	env.clock.Advance(time.Hour)
	env.server.fail(http.StatusBadGateway)
	second := mustStore(t, opts)
	if second.Snapshot() == nil || second.Snapshot().Version() != 7 {
		t.Fatal("stored manifest not loaded")
	}
	expectMember(t, second, env.a1, "org-a", "")
	if got := second.Stats().LastSuccess; !got.Equal(ntntest.Epoch) {
		t.Fatalf("LastSuccess after restart = %v, want the persisted %v", got, ntntest.Epoch)
	}

	// Rollback is refused after the restart too.
	env.server.publish(env.sign(t, env.manifestV(6)))
	if err := second.Refresh(context.Background()); ReasonOf(err) != ReasonRollback {
		t.Fatalf("Refresh v6 after restart = %v, want rollback", err)
	}
	env.server.publish(env.sign(t, ntntest.NewManifest(7)))
	if err := second.Refresh(context.Background()); ReasonOf(err) != ReasonVersionConflict {
		t.Fatalf("Refresh other v7 after restart = %v, want version_conflict", err)
	}
	env.server.publish(env.sign(t, env.manifestV(7)))
	if err := second.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh same v7 after restart: %v", err)
	}

	// The staleness clock survives restarts: six hours without a
	// successful refresh, then a restart, is still stale.
	env.server.fail(http.StatusBadGateway)
	env.clock.Advance(6*time.Hour + time.Second)
	third := mustStore(t, opts)
	expectMember(t, third, env.a1, "", ReasonStale)
}

func TestStoreRestartWhenStoredManifestNoLongerVerifies(t *testing.T) {
	env := newStoreEnv(t)
	dir := t.TempDir()
	opts := env.options(env.server.urlSource())
	opts.StateDir = dir
	first := mustStore(t, opts)
	env.server.publish(env.sign(t, env.manifestV(7)))
	if err := first.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	// NTN rotated its trust anchor; the stored manifest does not verify
	// under the new one. Nobody is trusted, but the version floor holds.
	rotated := ntntest.NewPKI(t, ntntest.ECDSAP256)
	opts.TrustAnchors = []*x509.Certificate{rotated.TrustAnchor.Cert}
	logs, observed := observer.New(zapcore.WarnLevel)
	opts.Logger = zap.New(logs)
	second := mustStore(t, opts)
	if second.Snapshot() != nil {
		t.Fatal("unverifiable stored manifest was loaded")
	}
	if observed.FilterMessageSnippet("no longer verifies").Len() != 1 {
		t.Fatalf("no warning logged: %v", observed.All())
	}
	expectMember(t, second, env.a1, "", ReasonNoManifest)
	env.server.publish(rotated.Signer().SignManifest(t, env.manifestV(6)))
	if err := second.Refresh(context.Background()); ReasonOf(err) != ReasonRollback {
		t.Fatalf("Refresh v6 = %v, want rollback", err)
	}
	env.server.publish(rotated.Signer().SignManifest(t, env.manifestV(8)))
	if err := second.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectMember(t, second, env.a1, "org-a", "")
}

func TestStoreBadStateFile(t *testing.T) {
	env := newStoreEnv(t)
	cases := []struct{ name, content string }{
		{"not JSON", "garbage"},
		{"unknown field", `{"format":1,"version":3,"last_success":"2026-11-22T10:00:00Z","manifest":"a.b.c","extra":1}`},
		{"future format", `{"format":2,"version":3,"last_success":"2026-11-22T10:00:00Z","manifest":"a.b.c"}`},
		{"no version", `{"format":1,"last_success":"2026-11-22T10:00:00Z","manifest":"a.b.c"}`},
		{"no manifest", `{"format":1,"version":3,"last_success":"2026-11-22T10:00:00Z"}`},
		{"bad time", `{"format":1,"version":3,"last_success":"yesterday","manifest":"a.b.c"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, StateFileName), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := env.options(env.server.urlSource())
			opts.StateDir = dir
			if _, err := NewStore(opts); ReasonOf(err) != ReasonState {
				t.Fatalf("NewStore = %v, want reason state", err)
			}
		})
	}

	t.Run("version differs from its manifest", func(t *testing.T) {
		dir := t.TempDir()
		jws := env.sign(t, env.manifestV(3))
		content, _ := json.Marshal(stateFile{Format: 1, Version: 9, LastSuccess: ntntest.Epoch.Format(time.RFC3339), Manifest: string(jws)})
		if err := os.WriteFile(filepath.Join(dir, StateFileName), content, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := env.options(env.server.urlSource())
		opts.StateDir = dir
		if _, err := NewStore(opts); ReasonOf(err) != ReasonState {
			t.Fatalf("NewStore = %v, want reason state", err)
		}
	})
}

func TestStoreDoesNotLowerVersionOnDisk(t *testing.T) {
	env := newStoreEnv(t)
	dir := t.TempDir()
	opts := env.options(env.server.urlSource())
	opts.StateDir = dir
	older := mustStore(t, opts) // e.g. the config being replaced in a reload
	newer := mustStore(t, opts)
	env.server.publish(env.sign(t, env.manifestV(4)))
	if err := newer.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	env.server.publish(env.sign(t, env.manifestV(3)))
	if err := older.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.version != 4 {
		t.Fatalf("state version = %d, want 4", st.version)
	}
}

func TestStoreStateWriteFailureStillSwaps(t *testing.T) {
	env := newStoreEnv(t)
	dir := filepath.Join(t.TempDir(), "state")
	opts := env.options(env.server.urlSource())
	opts.StateDir = dir
	s := mustStore(t, opts)
	// state_dir turns into a file behind the Store's back: writes fail.
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env.server.publish(env.sign(t, env.manifestV(2)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectMember(t, s, env.a1, "org-a", "")
	if got := s.Stats().Failures[ReasonState]; got != 1 {
		t.Fatalf("state write failures = %d, want 1", got)
	}
}

func TestStoreFileSource(t *testing.T) {
	env := newStoreEnv(t)
	path := filepath.Join(t.TempDir(), "manifest.jws")
	src, err := NewFileSource(path)
	if err != nil {
		t.Fatal(err)
	}
	s := mustStore(t, env.options(src))
	if err := s.Refresh(context.Background()); ReasonOf(err) != ReasonFetch {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, append(env.sign(t, env.manifestV(1)), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectMember(t, s, env.b1, "org-b", "")
}

func TestStoreFailureLogging(t *testing.T) {
	env := newStoreEnv(t)
	logs, observed := observer.New(zapcore.InfoLevel)
	opts := env.options(env.server.urlSource())
	opts.Logger = zap.New(logs)
	opts.ErrorAfter = 3
	s := mustStore(t, opts)
	env.server.fail(http.StatusInternalServerError)
	for range 4 {
		if err := s.Refresh(context.Background()); ReasonOf(err) != ReasonHTTPStatus {
			t.Fatal(err)
		}
	}
	var levels []zapcore.Level
	for _, e := range observed.TakeAll() {
		levels = append(levels, e.Level)
		if got := e.ContextMap()["reason"]; got != "http_status" {
			t.Errorf("log entry reason = %v", got)
		}
	}
	want := []zapcore.Level{zapcore.WarnLevel, zapcore.WarnLevel, zapcore.ErrorLevel, zapcore.ErrorLevel}
	if !slices.Equal(levels, want) {
		t.Fatalf("levels = %v, want %v", levels, want)
	}
	st := s.Stats()
	if st.ConsecutiveFailures != 4 || st.Failures[ReasonHTTPStatus] != 4 || !st.LastFailure.Equal(ntntest.Epoch) {
		t.Fatalf("Stats = %+v", st)
	}

	env.server.publish(env.sign(t, env.manifestV(1)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ConsecutiveFailures != 0 || st.Failures[ReasonHTTPStatus] != 4 {
		t.Fatalf("after recovery: %+v", st)
	}
	if observed.FilterMessage("NTN manifest refresh recovered").Len() != 1 {
		t.Fatalf("recovery not logged: %v", observed.All())
	}
	for _, e := range observed.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && (strings.Contains(s, "X-Amz-Signature") || strings.Contains(s, "/manifest")) {
				t.Errorf("log field %s leaks a URL: %s", k, s)
			}
		}
	}
}

func TestStoreErrorsDoNotLeakPresignedURL(t *testing.T) {
	env := newStoreEnv(t)
	env.server.fail(http.StatusForbidden)
	s := mustStore(t, env.options(env.server.apiSource()))
	err := s.Refresh(context.Background())
	if ReasonOf(err) != ReasonHTTPStatus {
		t.Fatalf("Refresh = %v", err)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "/presigned") {
		t.Fatalf("error leaks the URL: %v", err)
	}
	// A transport error (server gone) must not leak it either.
	env.server.srv.Close()
	err = s.Refresh(context.Background())
	if ReasonOf(err) != ReasonFetch || strings.Contains(err.Error(), "/api") {
		t.Fatalf("Refresh = %v", err)
	}
}

func TestStoreRun(t *testing.T) {
	env := newStoreEnv(t)
	env.server.publish(env.sign(t, env.manifestV(1)))
	s := mustStore(t, env.options(env.server.urlSource()))
	swapped := make(chan int64, 1)
	s.Subscribe(func(_, next *Snapshot) { swapped <- next.Version() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	if v := <-swapped; v != 1 {
		t.Fatalf("first refresh installed version %d", v)
	}
	cancel() // Run is now waiting out the 5m interval; it must return at once
	<-done
}

func TestStoreConcurrentReadersNeverSeeAGap(t *testing.T) {
	env := newStoreEnv(t)
	s := mustStore(t, env.options(env.server.urlSource()))
	env.server.publish(env.sign(t, env.manifestV(1)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.VerifyLeaf(env.a1.Cert, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for v := int64(2); v <= 6; v++ {
		env.server.publish(env.sign(t, env.manifestV(v)))
		if err := s.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a reader was rejected during swaps: %v", err)
	}
}

func TestNewStoreValidation(t *testing.T) {
	env := newStoreEnv(t)
	src := env.server.urlSource()
	cases := []struct {
		name string
		opts StoreOptions
	}{
		{"no source", StoreOptions{TrustAnchors: []*x509.Certificate{env.pki.TrustAnchor.Cert}}},
		{"no trust anchor", StoreOptions{Source: src}},
		{"negative refresh", StoreOptions{Source: src, TrustAnchors: []*x509.Certificate{env.pki.TrustAnchor.Cert}, Refresh: -time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewStore(tc.opts); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	const refresh = 5 * time.Minute
	cases := []struct {
		name     string
		failures int
		refresh  time.Duration
		jitter   float64
		want     time.Duration
	}{
		{"success, no jitter", 0, refresh, 0.5, 5 * time.Minute},
		{"success, lowest jitter", 0, refresh, 0, 270 * time.Second},
		{"success, highest jitter", 0, refresh, 1, 330 * time.Second},
		{"first failure", 1, refresh, 0.5, 30 * time.Second},
		{"second failure", 2, refresh, 0.5, 60 * time.Second},
		{"fourth failure", 4, refresh, 0.5, 240 * time.Second},
		{"fifth failure is capped", 5, refresh, 0.5, refresh},
		{"many failures stay capped", 1000, refresh, 0.5, refresh},
		{"short interval caps the first backoff", 1, 10 * time.Second, 0.5, 10 * time.Second},
		{"failure with jitter", 1, refresh, 0, 27 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryDelay(tc.failures, tc.refresh, tc.jitter); got != tc.want {
				t.Fatalf("retryDelay = %v, want %v", got, tc.want)
			}
		})
	}
}
