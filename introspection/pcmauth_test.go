package introspection

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// TestTokenSourceScopeAndResourceOptional: scope and resource are each
// sent only when configured; PCM environments differ in both.
func TestTokenSourceScopeAndResourceOptional(t *testing.T) {
	tests := []struct {
		name            string
		scope, resource string
	}{
		{"both", testScope, testResource},
		{"scope only", testScope, ""},
		{"resource only", "", testResource},
		{"neither", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := newFakePCM(t, newFakeClock())
			pcm.set(func(p *fakePCM) { p.wantScope, p.wantResource = tt.scope, tt.resource })
			cfg := pcm.tokenConfig(getPKI(t).clients["rsa"])
			cfg.Scope, cfg.Resource = tt.scope, tt.resource
			if _, err := newTokenSource(t, cfg).Token(context.Background()); err != nil {
				t.Fatalf("Token: %v", err)
			}
			if got := pcm.acceptedAlgs(); len(got) != 1 || got[0] != "RS256" {
				t.Fatalf("assertion algorithms %v, want [RS256] for an RSA key", got)
			}
		})
	}
}

// TestIntrospectorMTLSAuth: with AuthMTLS the PEP never asks for a PCM
// token and sends no Authorization header (the fake PCM fails the test if
// it sees one); a 401 is final, without a retry.
func TestIntrospectorMTLSAuth(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	pcm.set(func(p *fakePCM) { p.mtlsOnly = true })
	in := newIntrospector(t, pcm, func(c *Config) {
		c.Client.Auth = AuthMTLS
		// Only the mTLS client is needed: no token endpoint, client id or key.
		c.Token = TokenSourceConfig{HTTPClient: c.Token.HTTPClient}
	})
	if in.TokenSource() != nil {
		t.Fatal("a token source was built for mTLS-only introspection")
	}
	if err := in.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	token := randomToken(t)
	pcm.setAnswer(token, activeAnswer(t, clock, spThumbprint(t), nil))
	claims, _, err := in.IntrospectFor(context.Background(), "org-sp-a", token)
	if err != nil || !claims.Active {
		t.Fatalf("claims %v err %v", claims, err)
	}

	pcm.set(func(p *fakePCM) { p.bearersDenied = true })
	before := pcm.introspectCalls.Load()
	if _, _, err := in.IntrospectFor(context.Background(), "org-sp-a", randomToken(t)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("401 from PCM: %v, want ErrUnavailable", err)
	}
	if n := pcm.introspectCalls.Load() - before; n != 1 {
		t.Fatalf("%d introspection calls after a 401, want 1 (no retry)", n)
	}
	if n := pcm.tokenCalls.Load(); n != 0 {
		t.Fatalf("%d token endpoint calls, want 0", n)
	}
}

func TestNewClientAuthModes(t *testing.T) {
	hc := &http.Client{}
	tests := []struct {
		name    string
		cfg     ClientConfig
		wantErr bool
	}{
		{"default needs tokens", ClientConfig{Endpoint: "https://pcm.test/i", HTTPClient: hc}, true},
		{"bearer needs tokens", ClientConfig{Endpoint: "https://pcm.test/i", HTTPClient: hc, Auth: AuthBearer}, true},
		{"bearer with tokens", ClientConfig{Endpoint: "https://pcm.test/i", HTTPClient: hc, Auth: AuthBearer, Tokens: &TokenSource{}}, false},
		{"mtls without tokens", ClientConfig{Endpoint: "https://pcm.test/i", HTTPClient: hc, Auth: AuthMTLS}, false},
		{"unknown mode", ClientConfig{Endpoint: "https://pcm.test/i", HTTPClient: hc, Auth: "basic", Tokens: &TokenSource{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClient(tt.cfg); (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
