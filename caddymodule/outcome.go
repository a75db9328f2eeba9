package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
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
