package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// TestUntrustedCertificatesRefusedInHandshake: only certificates of active
// NTN members complete the TLS handshake; the others never reach the
// handler (no decision is counted) and the ntn verifier counts them by reason.
func TestUntrustedCertificatesRefusedInHandshake(t *testing.T) {
	s := stackFor(t)
	tests := []struct {
		name   string
		client string // demo client certificate, "" for none
		reason string // handshake_rejections_total reason; "" when crypto/tls refuses before the verifier
	}{
		{"certificate of no NTN member", "unknown", "unknown_certificate"},
		{"expired certificate of a member", "hospital-a-expired", "expired"},
		{"no client certificate", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.reason != "" {
				before = s.handshakeRejections(t, tc.reason)
			}
			allowed := s.metric(t, `caddy_fhir_pep_decisions_total{outcome="allow",reason="allowed"}`)
			token := s.labToken(t, "hospital-a", "000000018")

			r, err := s.send(s.memberClient(t, tc.client), token, "/Observation")
			if err == nil {
				t.Fatalf("got HTTP %d, want the TLS handshake refused; body %.200s", r.status, r.body)
			}
			t.Logf("refused: %v", err)
			if tc.reason != "" {
				if got := s.handshakeRejections(t, tc.reason) - before; got != 1 {
					t.Errorf("handshake rejections with reason %s grew by %v, want 1", tc.reason, got)
				}
				if !logHas(t, s.pepLog, `"level":"info"`, `"msg":"NTN client certificate refused"`, `"reason":"`+tc.reason+`"`) {
					t.Errorf("no INFO record of the refusal (%s) in %s", tc.reason, s.pepLog)
				}
			}
			if got := s.metric(t, `caddy_fhir_pep_decisions_total{outcome="allow",reason="allowed"}`); got != allowed {
				t.Errorf("allowed decisions grew from %v to %v: the request reached the handler", allowed, got)
			}
		})
	}
}

// TestConnectionWithoutSNIRefused: a client that connects by IP address
// (no SNI, so no site's TLS policy and no client certificate check applies)
// and names the PEP in Host never reaches the handler: Caddy's strict
// SNI-Host check answers 421.
func TestConnectionWithoutSNIRefused(t *testing.T) {
	s := stackFor(t)
	for _, client := range []string{"unknown", "hospital-a"} {
		t.Run(client, func(t *testing.T) {
			cfg, err := s.pki.ClientTLSConfig(client)
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, cfg)
			token := s.labToken(t, "hospital-a", "000000018")
			allowed := s.metric(t, `caddy_fhir_pep_decisions_total{outcome="allow",reason="allowed"}`)
			target := fmt.Sprintf("https://127.0.0.1:%d%s/Observation", s.pepPort, fhirBase)
			req, err := http.NewRequest(http.MethodGet, target, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = fmt.Sprintf("localhost:%d", s.pepPort)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := c.Do(req)
			if err != nil {
				t.Logf("refused: %v", err)
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusMisdirectedRequest {
					t.Fatalf("status %d, want 421; body %.300s", resp.StatusCode, body)
				}
			}
			if got := s.metric(t, `caddy_fhir_pep_decisions_total{outcome="allow",reason="allowed"}`); got != allowed {
				t.Errorf("allowed decisions grew from %v to %v", allowed, got)
			}
		})
	}
}
