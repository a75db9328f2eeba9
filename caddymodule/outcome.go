package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hdp-il/fhir-pep/enforce"
)

// denial is a fully decided refusal: the status, the OperationOutcome issue
// code and a fixed, client-safe text. Denials are built only from constants
// so that nothing from the request, the token, PCM or the upstream can be
// echoed back to the client.
type denial struct {
	status int
	// issueCode is the FHIR IssueType (http://hl7.org/fhir/issue-type).
	issueCode string
	// text is shown to the client in OperationOutcome.issue.diagnostics.
	text string
	// bearerError, when set, is the RFC 6750 error code put in
	// WWW-Authenticate. A 401 without it still gets a bare Bearer challenge.
	bearerError string
	// reason is the low-cardinality label used in metrics, logs and audit.
	reason string
	// retryAfter, in seconds, for 503 answers.
	retryAfter int
}

// The denials the token gate can produce. Texts are deliberately generic:
// the detailed cause goes to logs and metrics through reason.
var (
	denyNoToken = denial{
		status: http.StatusUnauthorized, issueCode: "login",
		text: "A bearer access token is required.", reason: "no_token",
	}
	denyMalformedAuthorization = denial{
		status: http.StatusBadRequest, issueCode: "invalid",
		text: "The Authorization header is malformed.", bearerError: "invalid_request",
		reason: "malformed_authorization",
	}
	denyTokenTwice = denial{
		status: http.StatusBadRequest, issueCode: "invalid",
		text:        "The access token must be sent exactly once, in the Authorization header.",
		bearerError: "invalid_request", reason: "token_sent_twice",
	}
	denyNoClientCertificate = denial{
		status: http.StatusUnauthorized, issueCode: "security",
		text: "A client certificate is required.", bearerError: "invalid_token",
		reason: "no_client_certificate",
	}
	denyUntrustedCertificate = denial{
		status: http.StatusForbidden, issueCode: "forbidden",
		text: "The client certificate is not trusted.", reason: "untrusted_certificate",
	}
	denyPCMUnavailable = denial{
		status: http.StatusServiceUnavailable, issueCode: "transient",
		text: "The authorization service is temporarily unavailable.", reason: "pcm_unavailable",
		retryAfter: 5,
	}
	denyBodyTooLarge = denial{
		status: http.StatusRequestEntityTooLarge, issueCode: "too-costly",
		text: "The request body is too large.", reason: "request_too_large",
	}
	denyOutsideBase = denial{
		status: http.StatusNotFound, issueCode: "not-found",
		text: "Not found.", reason: "outside_base_path",
	}
	denyInternal = denial{
		status: http.StatusInternalServerError, issueCode: "exception",
		text: "The request could not be processed.", reason: "internal_error",
	}
)

var (
	denyPolicyError = denial{
		status: http.StatusInternalServerError, issueCode: "exception",
		text: "The request could not be authorized.", reason: "policy_error",
	}
	denyNotSupported = denial{
		status: http.StatusForbidden, issueCode: "forbidden",
		text: "This interaction is not permitted.", reason: "interaction_not_supported",
	}
)

// denyBadRequest answers a request the FHIR parser refuses (non-canonical
// path, unknown type, bad parameter...). reason is the parser's
// low-cardinality reason code.
func denyBadRequest(reason string) denial {
	return denial{
		status: http.StatusBadRequest, issueCode: "invalid",
		text: "The request is not a valid FHIR request for this server.", reason: reason,
	}
}

// denyUpstreamUnavailable is a fail-closed answer when the FHIR server
// could not be asked what the decision needs (the patient lookup).
func denyUpstreamUnavailable(reason string) denial {
	return denial{
		status: http.StatusBadGateway, issueCode: "transient",
		text: "The FHIR server is temporarily unavailable.", reason: reason,
	}
}

// policyDenial maps a policy deny to an answer. The status comes from the
// policy (400-599, checked by the engine); the text stays generic.
func policyDenial(status int, reason string) denial {
	d := denial{status: status, issueCode: "forbidden", text: "The request is outside the consented access.", reason: reason}
	switch {
	case status == http.StatusNotFound:
		d.issueCode, d.text = "not-found", ""
	case status == http.StatusBadRequest:
		d.issueCode, d.text = "invalid", "The request is not permitted in this form."
	case status >= 500:
		d.issueCode, d.text = "exception", "The request could not be authorized."
	}
	return d
}

// invalidToken builds the 401 for a token that PCM or our checks reject.
// The reason is for metrics; the client only learns "invalid_token".
func invalidToken(reason string) denial {
	return denial{
		status: http.StatusUnauthorized, issueCode: "login",
		text:        "The access token is invalid, expired or not meant for this data source.",
		bearerError: "invalid_token", reason: reason,
	}
}

// writeDenial writes d as a FHIR OperationOutcome. realm is quoted into the
// RFC 6750 challenge; it comes from configuration, never from the request.
func writeDenial(w http.ResponseWriter, realm string, d denial) {
	h := w.Header()
	h.Set("Content-Type", "application/fhir+json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if d.status == http.StatusUnauthorized || d.bearerError != "" {
		h.Set("WWW-Authenticate", bearerChallenge(realm, d.bearerError))
	}
	if d.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(d.retryAfter))
	}
	body := operationOutcome("error", d.issueCode, d.text)
	if d.status == http.StatusNotFound {
		// Every 404 of the PEP is byte-identical to a real not-found, so a
		// withheld resource cannot be told from a missing one.
		body = enforce.NotFoundBody()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(d.status)
	_, _ = w.Write(body)
}

// bearerChallenge renders an RFC 6750 section 3 challenge. Per the RFC, a
// request without any authentication information gets no error attribute.
func bearerChallenge(realm, bearerError string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteEscape(realm))
	b.WriteByte('"')
	if bearerError != "" {
		b.WriteString(`, error="`)
		b.WriteString(bearerError)
		b.WriteByte('"')
	}
	return b.String()
}

func quoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// operationOutcome renders a one-issue OperationOutcome. The inputs are
// constants of this package, but they are still JSON-encoded so that a future
// careless caller cannot produce invalid JSON.
func operationOutcome(severity, code, diagnostics string) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceType":"OperationOutcome","issue":[{"severity":`)
	b.WriteString(jsonString(severity))
	b.WriteString(`,"code":`)
	b.WriteString(jsonString(code))
	if diagnostics != "" {
		b.WriteString(`,"diagnostics":`)
		b.WriteString(jsonString(diagnostics))
	}
	b.WriteString(`}]}`)
	return []byte(b.String())
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		// json.Marshal of a string cannot fail; keep the output valid anyway.
		return `""`
	}
	return string(b)
}
