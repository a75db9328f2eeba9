package caddymodule

import (
	"errors"
	"net/http"
)

// denial is a refusal decided by the PEP, returned as an error by the
// stage that decides it and answered by finish. Denials are built only from
// constants so that nothing from the request, the token, PCM or the
// upstream can be echoed back to the client (the one exception,
// upstreamRejected, carries an upstream OperationOutcome already reduced
// to severities and issue types).
type denial struct {
	status int
	// reason is the low-cardinality label of metrics, logs and the audit
	// record. It may say more than the client is told (withheld_*,
	// ntn_stale): the client sees code and text only.
	reason string
	// code is the stable code of issue.details.coding (see errorCode).
	code errorCode
	// issueType is the FHIR IssueType (http://hl7.org/fhir/issue-type).
	issueType string
	// text is shown to the client in OperationOutcome.issue.diagnostics.
	text string
	// bearerError, when set, is the RFC 6750 error code put in
	// WWW-Authenticate. A 401 without it still gets a bare Bearer challenge.
	bearerError string
	// retryAfter, in seconds, for 503 answers.
	retryAfter int
	// failClosed marks a denial caused by a failing dependency rather than
	// by the caller; finish counts it in fail_closed_total for alerting.
	failClosed bool
	// outcome replaces the PEP's own OperationOutcome (upstreamRejected).
	outcome []byte
}

func (d denial) Error() string { return "fhir_pep: request denied: " + d.reason }

// asDenial returns the denial err carries; any other error (a bug, never
// a client's doing) is an internal error.
func asDenial(err error) denial {
	var d denial
	if errors.As(err, &d) {
		return d
	}
	return denyInternal
}

// errorCode is the stable code a client finds in the OperationOutcome's
// issue.details.coding. Where the national reference adapter for data
// sources has a code for the situation, it is used with the adapter's
// system, so clients written against the adapter keep working; otherwise
// the PEP's own reason system. The README's "Error codes" table lists them
// all. No code may tell a withheld or forbidden-labelled resource from a
// missing one: those answers share the code of the answer they imitate.
type errorCode struct {
	system, code, display string
}

const (
	nationalErrorSystem = "http://ds-adapter/error-codes"
	pepErrorSystem      = "urn:hdp-il:fhir-pep:error-code"
)

var (
	codeAuthMissing     = errorCode{nationalErrorSystem, "AUTH_001", "Missing or invalid bearer token"}
	codeAuthInactive    = errorCode{nationalErrorSystem, "AUTH_002", "Token is not active"}
	codeAuthExpired     = errorCode{nationalErrorSystem, "AUTH_003", "Token expired"}
	codeAuthNotCovered  = errorCode{nationalErrorSystem, "AUTH_004", "Consent does not cover the request"}
	codeAuthCertificate = errorCode{nationalErrorSystem, "AUTH_005", "Certificate does not match the token"}
	codePCMUnavailable  = errorCode{nationalErrorSystem, "PCM_001", "PCM unreachable"}
	codeIDUnavailable   = errorCode{nationalErrorSystem, "ID_001", "Patient resolution unavailable"}
	codeFHIRUnavailable = errorCode{nationalErrorSystem, "FHIR_001", "FHIR server unavailable"}

	codeNoClientCertificate = pepCode("no_client_certificate", "No client certificate")
	codeUntrustedCert       = pepCode("untrusted_certificate", "Client certificate not trusted")
	codeInvalidRequest      = pepCode("invalid_request", "Not a valid FHIR request for this server")
	codeRequestTooLarge     = pepCode("request_too_large", "Request body too large")
	codeNotSupported        = pepCode("interaction_not_supported", "Interaction not permitted")
	codePolicyError         = pepCode("policy_error", "Request could not be authorized")
	codeAuditFailed         = pepCode("audit_failed", "Request cannot be audited")
	codeDuplicatePatient    = pepCode("duplicate_patient", "Patient not identified unambiguously")
	codeInternal            = pepCode("internal_error", "Internal error")
)

func pepCode(code, display string) errorCode { return errorCode{pepErrorSystem, code, display} }

// The denials of the request path. Each reason has its own text (issue
// #15: a client should learn what to fix), written about the token, the
// request or the service, never about the patient's data. The deliberate
// exceptions, which share one answer: every 404 (one canonical not-found
// body, so a withheld or forbidden-labelled resource looks missing),
// ntn_stale (answered as an untrusted certificate), the forbidden-label
// 400 (generic, see forbidden.go) and the unusable upstream answers (see
// reasonTexts). The detailed cause goes to logs, metrics and the audit
// record through reason.
var (
	denyOutsideBase = denial{
		status: http.StatusNotFound, issueType: "not-found", reason: "outside_base_path",
	}
	denyNoClientCertificate = denial{
		status: http.StatusUnauthorized, issueType: "security", code: codeNoClientCertificate,
		text: "A client certificate is required.", bearerError: "invalid_token",
		reason: "no_client_certificate",
	}
	denyUntrustedCertificate = denial{
		status: http.StatusForbidden, issueType: "forbidden", code: codeUntrustedCert,
		text: "The client certificate is not trusted.", reason: "untrusted_certificate",
	}
	// denyNTNStale answers like an untrusted certificate: without a fresh
	// manifest nobody is trusted. The reason tells operators why.
	denyNTNStale = denial{
		status: http.StatusForbidden, issueType: "forbidden", code: codeUntrustedCert,
		text: "The client certificate is not trusted.", reason: "ntn_stale", failClosed: true,
	}
	denyNoToken = denial{
		status: http.StatusUnauthorized, issueType: "login", code: codeAuthMissing,
		text: "A bearer access token is required.", reason: "no_token",
	}
	denyMalformedAuthorization = denial{
		status: http.StatusBadRequest, issueType: "invalid", code: codeAuthMissing,
		text: "The Authorization header is malformed.", bearerError: "invalid_request",
		reason: "malformed_authorization",
	}
	denyTokenTwice = denial{
		status: http.StatusBadRequest, issueType: "invalid", code: codeAuthMissing,
		text:        "The access token must be sent exactly once, in the Authorization header.",
		bearerError: "invalid_request", reason: "token_sent_twice",
	}
	denyPCMUnavailable = denial{
		status: http.StatusServiceUnavailable, issueType: "transient", code: codePCMUnavailable,
		text: "The authorization service is temporarily unavailable.", reason: "pcm_unavailable",
		retryAfter: 5, failClosed: true,
	}
	denyBodyTooLarge = denial{
		status: http.StatusRequestEntityTooLarge, issueType: "too-costly", code: codeRequestTooLarge,
		text: "The request body is too large.", reason: "request_too_large",
	}
	denyPatientLookupFailed = denial{
		status: http.StatusBadGateway, issueType: "transient", code: codeIDUnavailable,
		text: "The FHIR server is temporarily unavailable.", reason: "patient_lookup_failed",
		failClosed: true,
	}
	// denyPatientResolveUnavailable: the national resolve service failed
	// (5xx, timeout, malformed answer); never read as "no data here".
	denyPatientResolveUnavailable = denial{
		status: http.StatusServiceUnavailable, issueType: "transient", code: codeIDUnavailable,
		text: "Patient resolution is temporarily unavailable.", reason: "patient_resolve_unavailable",
		retryAfter: 5, failClosed: true,
	}
	// denyDuplicatePatient: more than one active Patient carries the
	// token's national id (the resolve service's 409
	// duplicate_active_patient, or several Patients where the upstream
	// assertion must name one). Picking one could disclose another
	// person's record.
	denyDuplicatePatient = denial{
		status: http.StatusForbidden, issueType: "forbidden", code: codeDuplicatePatient,
		text: "The patient cannot be identified unambiguously at this data source.", reason: "duplicate_active_patient",
	}
	denyPolicyError = denial{
		status: http.StatusInternalServerError, issueType: "exception", code: codePolicyError,
		text: "The request could not be authorized.", reason: "policy_error", failClosed: true,
	}
	denyNotSupported = denial{
		status: http.StatusForbidden, issueType: "forbidden", code: codeNotSupported,
		text: "This interaction is not permitted.", reason: "interaction_not_supported",
	}
	denyAuditFailed = denial{
		status: http.StatusServiceUnavailable, issueType: "transient", code: codeAuditFailed,
		text: "The request cannot be audited at the moment.", reason: "audit_failed",
		retryAfter: 5, failClosed: true,
	}
	denyInternal = denial{
		status: http.StatusInternalServerError, issueType: "exception", code: codeInternal,
		text: "The request could not be processed.", reason: "internal_error", failClosed: true,
	}
)

// invalidToken is the 401 for a token that PCM or the claim checks
// reject. reason is the validation reason (introspection.ValidationError);
// the client learns invalid_token and the national code that fits.
func invalidToken(reason string) denial {
	code := codeAuthInactive
	switch reason {
	case "expired":
		code = codeAuthExpired
	case "certificate_mismatch", "unbound_token":
		code = codeAuthCertificate
	}
	return denial{
		status: http.StatusUnauthorized, issueType: "login", code: code,
		text:        reasonText(reason, "The access token is invalid, expired or not meant for this data source."),
		bearerError: "invalid_token", reason: reason,
	}
}

// denyBadRequest answers a request the FHIR parser refuses (non-canonical
// path, unknown type, bad parameter...). reason is the parser's
// low-cardinality reason code.
func denyBadRequest(reason string) denial {
	return denial{
		status: http.StatusBadRequest, issueType: "invalid", code: codeInvalidRequest,
		text: reasonText(reason, "The request is not a valid FHIR request for this server."), reason: reason,
	}
}

// policyDenial maps a policy deny to an answer. The status comes from the
// policy (400-599, checked by the engine); the text stays generic.
func policyDenial(status int, reason string) denial {
	d := denial{
		status: status, issueType: "forbidden", code: codeAuthNotCovered,
		text: reasonText(reason, "The request is outside the consented access."), reason: reason,
	}
	switch {
	case status == http.StatusNotFound:
		d.issueType, d.text = "not-found", ""
	case status == http.StatusBadRequest:
		d.issueType, d.text = "invalid", reasonText(reason, "The request is not permitted in this form.")
	case status >= 500:
		d.issueType, d.text, d.code = "exception", "The request could not be authorized.", codePolicyError
	}
	return d
}

// notFound is a 404 decided before anything could be withheld (the
// patient has no data here, an id that cannot exist, the upstream's own
// not-found). Every 404 has the same body (see answer).
func notFound(reason string) denial {
	return denial{status: http.StatusNotFound, issueType: "not-found", reason: reason}
}

// denyBadUpstream refuses an upstream answer the PEP cannot use (5xx,
// not JSON, too large, unparseable). Build it with PEP.badUpstream, which
// counts it.
func denyBadUpstream(reason string) denial {
	return denial{
		status: http.StatusBadGateway, issueType: "exception", code: codeFHIRUnavailable,
		text: reasonText(reason, "The FHIR server's answer could not be used."), reason: reason,
	}
}

// upstreamRejected keeps the status of an upstream 4xx (other than 404 and
// 410) with its OperationOutcome reduced to severities and issue types.
func upstreamRejected(status int, sanitized []byte) denial {
	return denial{status: status, reason: "upstream_rejected", outcome: sanitized}
}

// reasonTexts are the client texts of the reasons that share a constructor
// (invalidToken, policyDenial, denyBadRequest, denyBadUpstream). A reason
// not listed (a custom policy's, or a new one) gets its family's generic
// text. No text may depend on what the upstream holds for the patient.
//
// Deliberately absent, so they share their family's text: the upstream
// answers that could not be used (invalid_upstream_body,
// upstream_not_json, upstream_encoded_body, upstream_unexpected_status,
// upstream_not_capabilities). The client can do nothing different about
// any of them, and invalid_upstream_body can come from a resource the PEP
// could not check, so telling them apart would describe the patient's data.
var reasonTexts = map[string]string{
	// Token checks (introspection.Validate, introspection.ClaimError).
	"inactive":                    "The access token is not active.",
	"expired":                     "The access token has expired.",
	"not_yet_valid":               "The access token is not valid yet.",
	"issued_in_future":            "The access token's issue time is in the future.",
	"issuer_mismatch":             "The access token was not issued by the expected authorization server.",
	"audience_mismatch":           "The access token is not meant for this data source.",
	"certificate_mismatch":        "The token is bound to another client certificate.",
	"unbound_token":               "The access token is not bound to a client certificate.",
	"patient_system_not_accepted": "The token's patient identifier system is not accepted by this data source.",
	"no_consent":                  "The access token carries no consent reference.",
	"incomplete_claims":           "The access token lacks claims this data source requires.",
	"invalid_patient":             "The token's patient claim is not a valid patient identifier.",
	"invalid_baskets":             "The token's baskets claim is malformed.",
	"invalid_consent":             "The token's consent reference is malformed.",
	"invalid_cnf":                 "The token's certificate binding (cnf) is malformed.",
	"invalid_nbf":                 "The token's not-before time (nbf) is malformed.",
	"invalid_claim":               "A claim of the access token is malformed.",

	// Policy denials (policies/fhir/pep). Statuses come from the policy.
	"scope_missing":               "The token's consent does not include this resource type and interaction.",
	"scope_context_not_allowed":   "Only patient-context scopes are honoured by this data source.",
	"bucket_missing":              "The token's consent does not include an information bucket of this resource type.",
	"bucket_not_granted":          "The _security parameter names an information bucket the token does not grant.",
	"patient_missing":             "The access token names no patient.",
	"other_patient":               "The request names a patient other than the token's.",
	"type_not_supported":          "This resource type cannot be served within a patient's consent.",
	"type_not_in_compartment":     "This resource type is not in the patient compartment.",
	"compartment_not_supported":   "Only the Patient compartment is served.",
	"interaction_not_allowed":     "This interaction is not permitted by this data source.",
	"interaction_unknown":         "The interaction is not recognised.",
	"operation_not_allowed":       "This operation is not permitted by this data source.",
	"nested_batch_not_allowed":    "A batch or transaction may not contain another one.",
	"batch_entry_denied":          "An entry of the batch is not permitted.",
	"batch_empty":                 "The batch has no entries.",
	"batch_too_large":             "The batch has too many entries.",
	"format_not_supported":        "Only FHIR JSON is served (_format or Accept).",
	"type_missing":                "The request names no resource type.",
	"id_missing":                  "The request names no resource id.",
	"has_param_not_allowed":       "Reverse chaining (_has) is not permitted.",
	"chained_param_not_allowed":   "Chained search parameters are not permitted.",
	"param_not_allowed":           "A search parameter of the request is not permitted.",
	"ambiguous_scope_constraints": "The token's scope constraints cannot be applied to this request unambiguously.",

	// FHIR request parser (fhir.Error) and body checks.
	"non_canonical_path":     "The request path is not in canonical form.",
	"unknown_resource_type":  "The resource type is not a FHIR R4 resource type.",
	"invalid_id":             "The resource id is not a valid FHIR id.",
	"invalid_operation":      "The operation name is not valid.",
	"unsupported_request":    "This kind of request is not supported.",
	"invalid_query":          "The query string is malformed.",
	"invalid_param_name":     "A search parameter name is malformed.",
	"unsupported_media_type": "The request body's media type is not supported.",
	"invalid_body":           "The request body is malformed.",
	"unreadable_body":        "The request body could not be read.",
	"body_not_allowed":       "A GET or HEAD request may not carry a body.",

	// Upstream failures that say nothing about the answer's content.
	"upstream_unreachable":        "The FHIR server could not be reached.",
	"upstream_error":              "The FHIR server failed to answer.",
	"upstream_response_too_large": "The FHIR server's answer is larger than this data source serves.",
}

// reasonText is the client text of reason, or fallback for a reason
// without one of its own.
func reasonText(reason, fallback string) string {
	if t, ok := reasonTexts[reason]; ok {
		return t
	}
	return fallback
}
