package e2e

import (
	"net/http"
	"testing"
	"time"
)

const (
	challenge             = `Bearer realm="fhir-pep"`
	invalidTokenChallenge = `Bearer realm="fhir-pep", error="invalid_token"`
)

// TestTokensRefused: every token PCM or the PEP must reject gives 401 with
// the RFC 6750 challenge, and the PEP counts it under the exact reason.
func TestTokensRefused(t *testing.T) {
	s := stackFor(t)
	tests := []struct {
		name      string
		token     func(t *testing.T) string
		challenge string
		reason    string // caddy_fhir_pep_decisions_total{outcome="deny"} reason
	}{
		{
			name:      "no token",
			token:     func(*testing.T) string { return "" },
			challenge: challenge,
			reason:    "no_token",
		},
		{
			name:      "unknown token",
			token:     func(*testing.T) string { return "E2EUNKNOWNTOKEN7Q3ZC6WJX4" },
			challenge: invalidTokenChallenge,
			reason:    "inactive",
		},
		{
			name: "revoked token",
			token: func(t *testing.T) string {
				m := s.mint(t, grant{Patient: "000000018", Scope: labScope, Member: "hospital-a"})
				s.revoke(t, m.ID)
				return m.Token
			},
			challenge: invalidTokenChallenge,
			reason:    "inactive",
		},
		{
			name: "expired token",
			token: func(t *testing.T) string {
				m := s.mint(t, grant{Patient: "000000018", Scope: labScope, Member: "hospital-a", TTL: "1s"})
				// Wall-clock wait for pcm-sim's own expiry (one second).
				if err := poll(5*time.Second, func() (bool, error) { return time.Now().After(m.ExpiresAt), nil }); err != nil {
					t.Fatal(err)
				}
				return m.Token
			},
			challenge: invalidTokenChallenge,
			reason:    "inactive",
		},
		{
			name: "token minted for clinic-c, presented by hospital-a",
			token: func(t *testing.T) string {
				return s.labToken(t, "clinic-c", "000000018")
			},
			challenge: invalidTokenChallenge,
			reason:    "certificate_mismatch",
		},
		{
			name: "token for another data source",
			token: func(t *testing.T) string {
				return s.mint(t, grant{Patient: "000000018", Scope: labScope, Member: "hospital-a", Aud: "https://fhir.other-hmo.example/R4"}).Token
			},
			challenge: invalidTokenChallenge,
			reason:    "audience_mismatch",
		},
	}
	c := s.memberClient(t, "hospital-a")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := tc.token(t)
			before := s.denials(t, tc.reason)
			r := s.expectStatus(t, c, token, "/Observation", http.StatusUnauthorized)
			if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if code := operationOutcomeCode(t, r.body); code != "login" {
				t.Errorf("OperationOutcome code %q, want login", code)
			}
			if got := s.denials(t, tc.reason) - before; got != 1 {
				t.Errorf("denials with reason %s grew by %v, want 1", tc.reason, got)
			}
		})
	}
}

// TestIncompleteIntrospectionRefused: an active introspection answer
// without cnf (no certificate binding; cnf_required is on by default) makes
// the token unusable: the PEP answers 401 invalid_token (retrying would not
// help, reason unbound_token) and returns no data.
func TestIncompleteIntrospectionRefused(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.mint(t, grant{Patient: "000000018", Scope: labScope, Member: "hospital-a", Omit: []string{"cnf"}}).Token
	before := s.denials(t, "unbound_token")
	r := s.expectStatus(t, c, token, "/Observation", http.StatusUnauthorized)
	if code := operationOutcomeCode(t, r.body); code != "login" {
		t.Errorf("OperationOutcome code %q, want login", code)
	}
	if got := s.denials(t, "unbound_token") - before; got != 1 {
		t.Errorf("unbound_token denials grew by %v, want 1", got)
	}
}

// TestTokenRevokedAfterUse: a token that worked stops working once PCM
// revokes it, within the introspection cache_ttl.
func TestTokenRevokedAfterUse(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	m := s.mint(t, grant{Patient: "000000018", Scope: labScope, Member: "hospital-a"})
	s.expectStatus(t, c, m.Token, "/Observation", http.StatusOK)

	s.revoke(t, m.ID)
	revoked := time.Now()
	err := poll(pcmCacheTTL+5*time.Second, func() (bool, error) {
		r := s.get(t, c, m.Token, "/Observation")
		switch r.status {
		case http.StatusOK:
			return false, nil // still in the PEP's introspection cache
		case http.StatusUnauthorized:
			return true, nil
		}
		t.Fatalf("revoked token: status %d, want 200 (cached) or 401", r.status)
		return false, nil
	})
	if err != nil {
		t.Fatalf("the revoked token still works %s after revocation (cache_ttl %s): %v", time.Since(revoked).Round(time.Millisecond), pcmCacheTTL, err)
	}
	t.Logf("revoked token refused after %s", time.Since(revoked).Round(time.Millisecond))
	r := s.expectStatus(t, c, m.Token, "/Observation", http.StatusUnauthorized)
	if got := r.header.Get("WWW-Authenticate"); got != invalidTokenChallenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, invalidTokenChallenge)
	}
}
