package patient

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/internal/testclock"
	"github.com/hdp-il/fhir-pep/internal/testpki"
)

// resolveService is a small local national resolve service: it checks the
// request like the real one would and answers from a table keyed by the
// identifier value.
type resolveService struct {
	t       *testing.T
	user    string
	pass    string
	answers map[string]func(w http.ResponseWriter)
	calls   atomic.Int32
}

func (s *resolveService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != ResolvePath || r.URL.RawQuery != "" {
		s.t.Errorf("request %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		s.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	if s.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.user || p != s.pass {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var body struct {
		Identifier struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Identifier.System != sys {
		s.t.Errorf("body: %v %+v", err, body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	answer, ok := s.answers[body.Identifier.Value]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"detail":"not found"}`)
		return
	}
	answer(w)
}

func reply(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestNationalResolverAnswers(t *testing.T) {
	svc := &resolveService{t: t, user: "ds-hmo-b", pass: "s3cret", answers: map[string]func(http.ResponseWriter){
		"000000018": reply(200, `{"patient_id":"12345","resource_reference":"Patient/12345"}`),
		"000000019": reply(200, `{"patient_id":"12345","resource_reference":"Patient/12345","extra":"ignored"}`),
		"000000026": reply(409, `{"error":"duplicate_active_patient"}`),
		"000000027": reply(409, `{"detail":"duplicate_active_patient"}`),
		"000000028": reply(409, `{"error":"something_else"}`),
		"000000034": reply(500, `{"error":"boom"}`),
		"000000035": reply(503, ``),
		"000000036": reply(200, `<html>`),
		"000000037": reply(200, `{"patient_id":"12345","resource_reference":"Patient/999"}`),
		"000000038": reply(200, `{"patient_id":"12345","resource_reference":"Observation/12345"}`),
		"000000039": reply(200, `{"patient_id":"12345"}`),
		"000000040": reply(200, `{"patient_id":"a b","resource_reference":"Patient/a b"}`),
		"000000041": reply(200, `{"patient_id":"1","resource_reference":"Patient/1","patient_id":"2"}`),
		"000000042": reply(200, `{"patient_id":12345,"resource_reference":"Patient/12345"}`),
		"000000043": reply(302, ``),
		"000000044": reply(200, `{"patient_id":"`+strings.Repeat("a", 70<<10)+`"}`),
		"000000045": reply(200, `null`),
	}}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	r, err := NewNationalResolver(NationalConfig{URL: srv.URL, BasicUser: svc.user, BasicPassword: svc.pass})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value   string
		want    []string
		wantErr error
	}{
		{"000000018", []string{"12345"}, nil},
		{"000000019", []string{"12345"}, nil},
		{"000000099", []string{}, nil}, // 404: no data here
		{"000000026", nil, ErrDuplicatePatient},
		{"000000027", nil, ErrDuplicatePatient},
		{"000000028", nil, ErrLookupFailed},
		{"000000034", nil, ErrLookupFailed},
		{"000000035", nil, ErrLookupFailed},
		{"000000036", nil, ErrLookupFailed},
		{"000000037", nil, ErrLookupFailed},
		{"000000038", nil, ErrLookupFailed},
		{"000000039", nil, ErrLookupFailed},
		{"000000040", nil, ErrLookupFailed},
		{"000000041", nil, ErrLookupFailed},
		{"000000042", nil, ErrLookupFailed},
		{"000000043", nil, ErrLookupFailed},
		{"000000044", nil, ErrLookupFailed},
		{"000000045", nil, ErrLookupFailed},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := r.Resolve(context.Background(), nil, sys, tt.value)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("got (%v, %v), want error %v", got, err, tt.wantErr)
				}
				if errors.Is(tt.wantErr, ErrDuplicatePatient) == errors.Is(err, ErrLookupFailed) {
					t.Fatalf("a duplicate must be a denial, not an outage, and the reverse: %v", err)
				}
				if strings.Contains(err.Error(), tt.value) {
					t.Fatalf("error names the national id: %v", err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") || got == nil {
				t.Fatalf("got (%#v, %v), want %#v", got, err, tt.want)
			}
		})
	}
}

func TestNationalResolverBasicAuthRequired(t *testing.T) {
	svc := &resolveService{t: t, user: "ds", pass: "right", answers: map[string]func(http.ResponseWriter){
		"000000018": reply(200, `{"patient_id":"1","resource_reference":"Patient/1"}`),
	}}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	r, err := NewNationalResolver(NationalConfig{URL: srv.URL, BasicUser: "ds", BasicPassword: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), nil, sys, "000000018"); !errors.Is(err, ErrLookupFailed) {
		t.Fatalf("401 must fail closed, got %v", err)
	}
}

func TestNationalResolverCaches(t *testing.T) {
	clock := testclock.New(time.Unix(1_800_000_000, 0))
	svc := &resolveService{t: t, answers: map[string]func(http.ResponseWriter){
		"000000018": reply(200, `{"patient_id":"1","resource_reference":"Patient/1"}`),
		"000000034": reply(500, ``),
	}}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	r, err := NewNationalResolver(NationalConfig{URL: srv.URL + "/", Config: Config{Now: clock.Now, TTL: time.Minute, NegativeTTL: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name      string
		advance   time.Duration
		value     string
		wantCalls int32
	}{
		{"first lookup", 0, "000000018", 1},
		{"cached", 30 * time.Second, "000000018", 1},
		{"expired", 31 * time.Second, "000000018", 2},
		{"404", 0, "000000099", 3},
		{"404 cached", 9 * time.Second, "000000099", 3},
		{"404 expired", 2 * time.Second, "000000099", 4},
		{"error", 0, "000000034", 5},
		{"error not cached", 0, "000000034", 6},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		_, _ = r.Resolve(ctx, nil, sys, s.value)
		if got := svc.calls.Load(); got != s.wantCalls {
			t.Fatalf("%s: %d calls, want %d", s.name, got, s.wantCalls)
		}
	}
	r.Forget()
	_, _ = r.Resolve(ctx, nil, sys, "000000018")
	if got := svc.calls.Load(); got != 7 {
		t.Fatalf("after Forget: %d calls, want 7", got)
	}
}

func TestNationalResolverTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	r, err := NewNationalResolver(NationalConfig{URL: srv.URL, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(context.Background(), nil, sys, "000000018"); !errors.Is(err, ErrLookupFailed) {
		t.Fatalf("a timeout must fail closed, got %v", err)
	}
}

func TestNationalResolverMTLS(t *testing.T) {
	ca := testpki.NewCA(t, "resolve CA")
	server := ca.Server(t, "resolve.example")
	client := ca.Client(t, "ds-hmo-b")
	stranger := testpki.NewCA(t, "other CA").Client(t, "intruder")

	svc := &resolveService{t: t, answers: map[string]func(http.ResponseWriter){
		"000000018": reply(200, `{"patient_id":"p18","resource_reference":"Patient/p18"}`),
	}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "ds-hmo-b" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		svc.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{server.TLS()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    testpki.Pool(ca),
	}
	srv.StartTLS()
	defer srv.Close()

	caPEM := testpki.CertPEM(ca.Cert)
	tests := []struct {
		name    string
		leaf    *testpki.Leaf
		ca      []byte
		wantErr bool
	}{
		{"member certificate", client, caPEM, false},
		{"no client certificate", nil, caPEM, true},
		{"certificate of another CA", stranger, caPEM, true},
		{"server not trusted", client, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var certPEM, keyPEM []byte
			if tt.leaf != nil {
				certPEM, keyPEM = testpki.CertPEM(tt.leaf.Cert), testpki.KeyPEM(t, tt.leaf.Key)
			}
			tlsCfg, err := ClientTLS(certPEM, keyPEM, tt.ca)
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewNationalResolver(NationalConfig{URL: srv.URL, TLS: tlsCfg})
			if err != nil {
				t.Fatal(err)
			}
			ids, err := r.Resolve(context.Background(), nil, sys, "000000018")
			if tt.wantErr {
				if !errors.Is(err, ErrLookupFailed) {
					t.Fatalf("got (%v, %v), want ErrLookupFailed", ids, err)
				}
				return
			}
			if err != nil || len(ids) != 1 || ids[0] != "p18" {
				t.Fatalf("got (%v, %v)", ids, err)
			}
		})
	}
}

func TestNewNationalResolverRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  NationalConfig
		want string
	}{
		{"plain http to a remote host", NationalConfig{URL: "http://resolve.example"}, "must be https"},
		{"other scheme", NationalConfig{URL: "ftp://resolve.example"}, "must be https"},
		{"relative", NationalConfig{URL: "/api"}, "absolute URL"},
		{"credentials in URL", NationalConfig{URL: "https://u:p@resolve.example"}, "without credentials"},
		{"query", NationalConfig{URL: "https://resolve.example/?a=1"}, "query"},
		{"password without user", NationalConfig{URL: "https://resolve.example", BasicPassword: "p"}, "without a user"},
		{"colon in user", NationalConfig{URL: "https://resolve.example", BasicUser: "a:b"}, "must not contain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewNationalResolver(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"https://resolve.example/base", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2"} {
		if _, err := NewNationalResolver(NationalConfig{URL: ok}); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

func TestClientTLS(t *testing.T) {
	ca := testpki.NewCA(t, "ca")
	leaf := ca.Client(t, "c")
	certPEM, keyPEM := testpki.CertPEM(leaf.Cert), testpki.KeyPEM(t, leaf.Key)
	tests := []struct {
		name             string
		cert, key, caPEM []byte
		wantErr          string
		wantCerts        int
		wantRoots        bool
	}{
		{"nothing", nil, nil, nil, "", 0, false},
		{"mTLS and CA", certPEM, keyPEM, testpki.CertPEM(ca.Cert), "", 1, true},
		{"cert without key", certPEM, nil, nil, "go together", 0, false},
		{"key without cert", nil, keyPEM, nil, "go together", 0, false},
		{"mismatched pair", certPEM, testpki.KeyPEM(t, ca.Key), nil, "client certificate", 0, false},
		{"CA not PEM", nil, nil, []byte("x"), "no PEM certificate", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientTLS(tt.cert, tt.key, tt.caPEM)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Certificates) != tt.wantCerts || (cfg.RootCAs != nil) != tt.wantRoots || cfg.MinVersion != tls.VersionTLS12 {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

func FuzzParseResolveAnswer(f *testing.F) {
	f.Add([]byte(`{"patient_id":"1","resource_reference":"Patient/1"}`))
	f.Add([]byte(`{"patient_id":"1","resource_reference":"Patient/1","patient_id":"2"}`))
	f.Add([]byte(`{"patient_id":"1","resource_reference":"Patient/2"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := parseResolveAnswer(data)
		if err != nil {
			if !errors.Is(err, ErrLookupFailed) {
				t.Fatalf("error %v does not fail closed", err)
			}
			return
		}
		if !validLogicalID(id) {
			t.Fatalf("accepted id %q", id)
		}
	})
}
