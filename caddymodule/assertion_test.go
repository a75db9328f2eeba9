package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hdp-il/fhir-pep/internal/testpki"
	"github.com/hdp-il/fhir-pep/introspection"
)

func TestUpstreamAssertionConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" for a valid block
	}{
		{"key only", "upstream_assertion {\n key /k.pem\n}", ""},
		{"all", "upstream_assertion {\n key /k.pem\n issuer https://ds.example\n header X-Fhir-Pep-Assertion\n}", ""},
		{"no key", "upstream_assertion {\n issuer x\n}", "upstream_assertion key is required"},
		{"bad header", "upstream_assertion {\n key /k.pem\n header \"a b\"\n}", "is not an HTTP header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := caddyfile.NewTestDispenser(tt.in)
			d.Next()
			var c UpstreamAssertionConfig
			if _, err := c.unmarshalCaddyfile(d); err != nil {
				t.Fatal(err)
			}
			e := c.check()
			switch {
			case tt.want == "" && e != nil:
				t.Fatalf("unexpected error %v", e)
			case tt.want != "" && (e == nil || !strings.Contains(e.Error(), tt.want)):
				t.Fatalf("error %v, want %q", e, tt.want)
			}
		})
	}
}

func TestUpstreamAsserterBind(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "assertion.key")
	leaf := testpki.SelfSigned(t, "assertion")
	if err := os.WriteFile(keyFile, testpki.KeyPEM(t, leaf.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	claims, err := introspection.DecodeClaims([]byte(`{"active": true, "client_id": "sp-client",
		"scope": "patient/Observation.rs", "consent_id": "PCM-CONSENT-0001", "patient": "000000018",
		"baskets": [{"system": "urn:b", "code": "laboratoryTests", "historical_depth": "2024-01-01"}],
		"exp": 1900000000, "aud": "https://ds.example/R4", "iss": "https://pcm.example/"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		header     string
		ids        []string
		wantHeader string
		wantPrefix string
		bound      bool
	}{
		{"default header", "", []string{"p1"}, "Authorization", "Bearer ey", true},
		{"own header", "x-fhir-pep-assertion", []string{"p1"}, "X-Fhir-Pep-Assertion", "ey", true},
		{"no patient id", "", nil, "", "", false},
		{"two patient ids", "", []string{"p1", "p2"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := UpstreamAssertionConfig{Key: keyFile, Header: tt.header}
			a, err := cfg.newUpstreamAsserter("http://hapi.internal/R4", "https://ds.example/R4", func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			ctx, bound, err := a.bind(context.Background(), claims, tt.ids, "corr-1")
			if err != nil || bound != tt.bound {
				t.Fatalf("bind = %v, %v; want bound %v", bound, err, tt.bound)
			}
			h := http.Header{}
			setUpstreamAssertion(ctx, h)
			if !tt.bound {
				if len(h) != 0 {
					t.Fatalf("headers %v set without an assertion", h)
				}
				return
			}
			v := h.Get(tt.wantHeader)
			if !strings.HasPrefix(v, tt.wantPrefix) {
				t.Fatalf("%s = %q, want prefix %q", tt.wantHeader, v, tt.wantPrefix)
			}
			parts := strings.Split(strings.TrimPrefix(v, "Bearer "), ".")
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"iss": "https://ds.example/R4", "sub": "sp-client", "aud": "http://hapi.internal/R4",
				"patient": "p1", "scope": "patient/Observation.rs", "consent_id": "PCM-CONSENT-0001",
				"correlation_id": "corr-1",
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
			if b, _ := json.Marshal(got["baskets"]); string(b) != `[{"code":"laboratoryTests","historical_depth":"2024-01-01","system":"urn:b"}]` {
				t.Errorf("baskets = %s", b)
			}
		})
	}
}

func TestNewUpstreamAsserterKeyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"missing file": filepath.Join(dir, "none.pem"), "not a key": bad} {
		t.Run(name, func(t *testing.T) {
			c := UpstreamAssertionConfig{Key: file}
			if _, err := c.newUpstreamAsserter("http://u", "https://r", time.Now); err == nil || !strings.Contains(err.Error(), "upstream_assertion key") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestMergeJWKS(t *testing.T) {
	a := []byte(`{"keys":[{"kid":"a"}]}`)
	b := []byte(`{"keys":[{"kid":"b"},{"kid":"a"}]}`)
	tests := []struct {
		name string
		docs [][]byte
		want string
	}{
		{"none", nil, `{"keys":[]}`},
		{"one", [][]byte{a}, `{"keys":[{"kid":"a"}]}`},
		{"deduplicated", [][]byte{a, b}, `{"keys":[{"kid":"a"},{"kid":"b"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeJWKS(tt.docs)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := mergeJWKS([][]byte{[]byte("nope")}); err == nil {
		t.Fatal("a malformed document was merged")
	}
}
