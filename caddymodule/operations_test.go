package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hdp-il/fhir-pep/internal/correlation"
	"github.com/hdp-il/fhir-pep/internal/testpki"
	"github.com/hdp-il/fhir-pep/trust"
	"github.com/hdp-il/fhir-pep/upstreamjwt"
)

// auditCorrelationIDs returns the correlation_id of every audit record
// the fixture's logger received.
func auditCorrelationIDs(f *gateFixture) []string {
	var ids []string
	for _, e := range f.logs.FilterMessage("decision").All() {
		if v, ok := e.ContextMap()["correlation_id"].(string); ok {
			ids = append(ids, v)
		}
	}
	return ids
}

// TestCorrelationIDEndToEnd: an acceptable X-Correlation-ID is echoed,
// passed upstream and audited unchanged; an unacceptable one is replaced
// by a fresh id everywhere, on allowed and denied requests alike.
func TestCorrelationIDEndToEnd(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	tests := []struct {
		name     string
		token    string
		sent     string
		status   int
		upstream bool
	}{
		{"allowed, id kept", "lab", "sp-req-42.a_b", 200, true},
		{"allowed, id replaced", "lab", "a b\"<script>", 200, true},
		{"denied, id kept", "", "sp-req-43", 401, false},
		{"denied, none sent", "", "", 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.logs.TakeAll()
			r := f.request("GET", "/R4/Observation", f.caller, tt.token)
			if tt.sent != "" {
				r.Header.Set(correlation.Header, tt.sent)
			}
			w := f.serve(r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			got := w.Header().Get(correlation.Header)
			if !correlation.Valid(got) || (correlation.Valid(tt.sent) && got != tt.sent) || (!correlation.Valid(tt.sent) && got == tt.sent) {
				t.Fatalf("answer's correlation id %q for %q", got, tt.sent)
			}
			if tt.upstream {
				if f.reached == nil || f.reached.Header.Get(correlation.Header) != got {
					t.Fatalf("upstream correlation id %q, want %q", f.reached.Header.Get(correlation.Header), got)
				}
			}
			if ids := auditCorrelationIDs(f); len(ids) != 1 || ids[0] != got {
				t.Fatalf("audit correlation ids %q, want [%q]", ids, got)
			}
		})
	}
}

// verifyFromJWKS is what an enforcing upstream does with the JWKS the
// health handler serves.
func verifyFromJWKS(t *testing.T, jwks []byte, token, audience string) (*upstreamjwt.Claims, error) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return nil, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS %s", tok.Headers[0].KeyID, jwks)
	}
	var c upstreamjwt.Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, err
	}
	return &c, c.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{audience}, Time: time.Now()}, 0)
}

func TestUpstreamAssertionEndToEnd(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "assertion.key")
	if err := os.WriteFile(keyFile, testpki.KeyPEM(t, testpki.SelfSigned(t, "assertion").Key), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newGateFixture(t, func(p *PEP) {
		p.UpstreamAssertion = &UpstreamAssertionConfig{Key: keyFile, Issuer: "https://ds.hmo-b.example"}
	})
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), func(a map[string]any) {
		a["consent_id"] = "PCM-CONSENT-0001"
		a["baskets"] = []any{"laboratoryTests"}
	}))

	h := &Health{}
	jw := httptest.NewRecorder()
	if err := h.ServeHTTP(jw, httptest.NewRequest("GET", "/health/jwks.json", nil), nil); err != nil || jw.Code != 200 {
		t.Fatalf("JWKS: %d %v", jw.Code, err)
	}

	r := f.request("GET", "/R4/Observation", f.caller, "lab")
	r.Header.Set(correlation.Header, "sp-req-7")
	if w := f.serve(r); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	auth := f.reached.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		t.Fatalf("upstream Authorization %q, want the assertion", auth)
	}
	c, err := verifyFromJWKS(t, jw.Body.Bytes(), token, f.fhir.base)
	if err != nil {
		t.Fatalf("the upstream cannot verify the assertion: %v", err)
	}
	if c.Issuer != "https://ds.hmo-b.example" || c.Subject != "sp-hospital-a" || c.Patient != "p1" ||
		c.ConsentID != "PCM-CONSENT-0001" || c.CorrelationID != "sp-req-7" || len(c.Baskets) != 1 || c.Baskets[0].Code != "laboratoryTests" {
		t.Errorf("claims %+v", c)
	}
	if !strings.Contains(c.Scope, "patient/Observation.rs") {
		t.Errorf("scope %q", c.Scope)
	}
	if _, err := verifyFromJWKS(t, jw.Body.Bytes(), token, "https://other.example/R4"); err == nil {
		t.Error("the assertion verifies for another audience")
	}
}

func TestNoAssertionByDefault(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	if v := f.reached.Header.Get("Authorization"); v != "" {
		t.Fatalf("upstream got Authorization %q without upstream_assertion", v)
	}
	w := httptest.NewRecorder()
	if err := (&Health{}).ServeHTTP(w, httptest.NewRequest("GET", "/jwks.json", nil), nil); err != nil || w.Code != 404 {
		t.Fatalf("JWKS without upstream_assertion: %d %v", w.Code, err)
	}
}

// TestNationalPatientResolver runs the request path against a local
// national resolve service.
func TestNationalPatientResolver(t *testing.T) {
	var answer struct {
		status int
		body   string
	}
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ds" || p != "pw" || r.URL.Path != "/api/v1/resolve" {
			w.WriteHeader(401)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(answer.status)
		_, _ = io.WriteString(w, answer.body)
	}))
	defer svc.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newGateFixture(t, func(p *PEP) {
		p.PatientResolver = &PatientResolverConfig{Kind: "national", URL: svc.URL, BasicUser: "ds", BasicPasswordFile: pw}
	})
	tests := []struct {
		name   string
		status int
		body   string
		want   int
		code   string
	}{
		{"resolved", 200, `{"patient_id":"p1","resource_reference":"Patient/p1"}`, 200, ""},
		{"duplicate", 409, `{"error":"duplicate_active_patient"}`, 403, pep + "duplicate_patient"},
		{"service down", 500, ``, 503, national + "ID_001"},
		{"wrong reference", 200, `{"patient_id":"p1","resource_reference":"Patient/p2"}`, 503, national + "ID_001"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer.status, answer.body = tt.status, tt.body
			// A national id per case: resolutions are cached per id.
			token := "tok-" + strings.ReplaceAll(tt.name, " ", "-")
			f.pcm.set(token, activeAnswer(f.caller, time.Now(), func(a map[string]any) {
				a["patient"] = nationalIDs + "|" + []string{"000000018", "000000026", "000000034", "000000042"}[i]
			}))
			w := f.serve(f.request("GET", "/R4/Observation", f.caller, token))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.code != "" {
				var oo outcomeBody
				if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.code() != tt.code {
					t.Fatalf("code %q, want %q: %s", oo.code(), tt.code, w.Body)
				}
			}
		})
	}
}

func TestHealthLiveAndReady(t *testing.T) {
	f := newGateFixture(t)
	h := &Health{Timeout: caddy.Duration(2 * time.Second), ntn: fakeNTNStats{trust.Stats{HasManifest: true, Version: 1, LastSuccess: time.Now()}}}
	get := func(path string) (int, healthReport, string) {
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, httptest.NewRequest("GET", path, nil), nil); err != nil {
			t.Fatal(err)
		}
		var rep healthReport
		_ = json.Unmarshal(w.Body.Bytes(), &rep)
		return w.Code, rep, w.Body.String()
	}
	if code, _, body := get("/health/live"); code != 200 || body != `{"status":"ok"}` {
		t.Fatalf("live: %d %s", code, body)
	}
	code, rep, _ := get("/health/ready")
	if code != 200 || rep.Checks["upstream"].Status != "ok" || rep.Reason != "" {
		t.Fatalf("ready: %d %+v", code, rep)
	}
	f.fhir.srv.Close()
	code, rep, _ = get("/health/ready")
	if code != 503 || rep.Checks["upstream"].Status != "fail" || rep.Reason != "upstream: upstream unreachable" {
		t.Fatalf("ready with the upstream down: %d %+v", code, rep)
	}
	// Liveness does not look at dependencies.
	if code, _, _ := get("/health/live"); code != 200 {
		t.Fatalf("live with the upstream down: %d", code)
	}
}
