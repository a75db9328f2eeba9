package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/enforce"
)

// TestDenialAnswers renders every denial of the request path and checks
// the contract of the README's "Error codes" table: the status, the
// stable code in issue.details.coding, the RFC 6750 challenge and
// Retry-After; every 404 is the one canonical not-found body.
func TestDenialAnswers(t *testing.T) {
	p := &PEP{Realm: "hmo-b"}
	tests := []struct {
		d         denial
		status    int
		code      string // "system|code"; "" for the canonical 404
		challenge string
		retry     string
	}{
		{denyOutsideBase, 404, "", "", ""},
		{denyNoClientCertificate, 401, pep + "no_client_certificate", `Bearer realm="hmo-b", error="invalid_token"`, ""},
		{denyUntrustedCertificate, 403, pep + "untrusted_certificate", "", ""},
		{denyNTNStale, 403, pep + "untrusted_certificate", "", ""},
		{denyNoToken, 401, national + "AUTH_001", `Bearer realm="hmo-b"`, ""},
		{denyMalformedAuthorization, 400, national + "AUTH_001", `Bearer realm="hmo-b", error="invalid_request"`, ""},
		{denyTokenTwice, 400, national + "AUTH_001", `Bearer realm="hmo-b", error="invalid_request"`, ""},
		{invalidToken("inactive"), 401, national + "AUTH_002", `Bearer realm="hmo-b", error="invalid_token"`, ""},
		{invalidToken("audience_mismatch"), 401, national + "AUTH_002", `Bearer realm="hmo-b", error="invalid_token"`, ""},
		{invalidToken("expired"), 401, national + "AUTH_003", `Bearer realm="hmo-b", error="invalid_token"`, ""},
		{invalidToken("certificate_mismatch"), 401, national + "AUTH_005", `Bearer realm="hmo-b", error="invalid_token"`, ""},
		{invalidToken("unbound_token"), 401, national + "AUTH_005", `Bearer realm="hmo-b", error="invalid_token"`, ""},
		{denyPCMUnavailable, 503, national + "PCM_001", "", "5"},
		{denyBodyTooLarge, 413, pep + "request_too_large", "", ""},
		{denyBadRequest("chained_parameter"), 400, pep + "invalid_request", "", ""},
		{denyPatientLookupFailed, 502, national + "ID_001", "", ""},
		{denyPatientResolveUnavailable, 503, national + "ID_001", "", "5"},
		{denyDuplicatePatient, 403, pep + "duplicate_patient", "", ""},
		{policyDenial(403, "scope_missing"), 403, national + "AUTH_004", "", ""},
		{policyDenial(400, "unsupported_parameter"), 400, national + "AUTH_004", "", ""},
		{policyDenial(404, "patient_not_found"), 404, "", "", ""},
		{policyDenial(500, "policy_undefined"), 500, pep + "policy_error", "", ""},
		{denyPolicyError, 500, pep + "policy_error", "", ""},
		{denyNotSupported, 403, pep + "interaction_not_supported", "", ""},
		{notFound("upstream_not_found"), 404, "", "", ""},
		{denyBadUpstream("upstream_error"), 502, national + "FHIR_001", "", ""},
		{denyAuditFailed, 503, pep + "audit_failed", "", "5"},
		{denyInternal, 500, pep + "internal_error", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.d.reason+fmt.Sprint(tt.status), func(t *testing.T) {
			res := p.answer(tt.d)
			if res.status != tt.status || res.out.reason != tt.d.reason {
				t.Fatalf("status %d reason %q", res.status, res.out.reason)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if got := res.header.Get("Retry-After"); got != tt.retry {
				t.Fatalf("Retry-After %q, want %q", got, tt.retry)
			}
			if tt.status == http.StatusNotFound {
				if string(res.body) != string(enforce.NotFoundBody()) {
					t.Fatalf("404 body %s is not the canonical not-found", res.body)
				}
				return
			}
			var oo outcomeBody
			if err := json.Unmarshal(res.body, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
				t.Fatalf("not an OperationOutcome: %s", res.body)
			}
			if got := oo.code(); got != tt.code {
				t.Fatalf("code %q, want %q", got, tt.code)
			}
			if strings.Contains(string(res.body), `"`+tt.d.reason+`"`) && tt.d.reason != tt.d.code.code {
				t.Fatalf("the internal reason %q leaks into the answer: %s", tt.d.reason, res.body)
			}
		})
	}
}

// A denial travels as an error through wrapping; anything else is an
// internal error, never a leak of its text.
func TestAsDenial(t *testing.T) {
	if d := asDenial(fmt.Errorf("stage: %w", denyNoToken)); d.reason != "no_token" {
		t.Fatalf("wrapped denial: %q", d.reason)
	}
	if d := asDenial(errors.New("database password is hunter2")); d.reason != "internal_error" {
		t.Fatalf("plain error: %q", d.reason)
	}
}

// An upstream 4xx keeps its status and its sanitised OperationOutcome.
func TestUpstreamRejectedKeepsSanitisedOutcome(t *testing.T) {
	upstream := []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"Patient 000000018 unknown"}]}`)
	res := (&PEP{}).answer(upstreamRejected(422, enforce.SanitizeOperationOutcome(upstream)))
	if res.status != 422 || strings.Contains(string(res.body), "000000018") || !strings.Contains(string(res.body), `"invalid"`) {
		t.Fatalf("status %d body %s", res.status, res.body)
	}
}
