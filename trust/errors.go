package trust

import (
	"errors"
	"fmt"
)

// Reason is a short, low-cardinality label for why a manifest, a refresh
// or a client certificate was rejected. Reasons are safe to use as metric
// label values and to show to operators; they never carry certificate
// contents, URLs or member data.
type Reason string

// Reasons for rejecting a manifest or a refresh attempt.
const (
	// ReasonFormat: not a compact JWS, or a header that is not valid JSON.
	ReasonFormat Reason = "format"
	// ReasonHeader: protected header with a wrong typ, a missing x5c, or a
	// parameter this profile does not allow (jwk, jku, x5u, crit, ...).
	ReasonHeader Reason = "header"
	// ReasonAlgorithm: alg outside the allow list (ES256, ES384, PS256, RS256).
	ReasonAlgorithm Reason = "algorithm"
	// ReasonChain: the x5c chain does not lead to a configured trust anchor,
	// or one of its certificates is expired, not yet valid or malformed.
	ReasonChain Reason = "chain"
	// ReasonSignature: the JWS signature does not verify with the x5c leaf key.
	ReasonSignature Reason = "signature"
	// ReasonSchema: the payload breaks the manifest schema.
	ReasonSchema Reason = "schema"
	// ReasonExpired: the manifest's expires_at has passed.
	ReasonExpired Reason = "expired"
	// ReasonRollback: the manifest's version is lower than the last accepted one.
	ReasonRollback Reason = "rollback"
	// ReasonVersionConflict: same version as the last accepted manifest but
	// a different payload. NTN must bump the version on every change.
	ReasonVersionConflict Reason = "version_conflict"
	// ReasonFetch: network or I/O error while fetching.
	ReasonFetch Reason = "fetch"
	// ReasonHTTPStatus: the NTN server answered with a status other than 200.
	ReasonHTTPStatus Reason = "http_status"
	// ReasonAPIResponse: the api_url answer is not {"url": "<https URL>"}.
	ReasonAPIResponse Reason = "api_response"
	// ReasonTooLarge: a response or file exceeded the size limit.
	ReasonTooLarge Reason = "too_large"
	// ReasonTimeout: the fetch did not finish within the timeout.
	ReasonTimeout Reason = "timeout"
	// ReasonCanceled: the fetch was canceled (shutdown).
	ReasonCanceled Reason = "canceled"
	// ReasonState: the state file in state_dir is unreadable or inconsistent,
	// or could not be written.
	ReasonState Reason = "state"
)

// Reasons for rejecting a client certificate.
const (
	// ReasonNoManifest: no manifest has been accepted yet, so nobody is trusted.
	ReasonNoManifest Reason = "no_manifest"
	// ReasonStale: the manifest is past expires_at, or the last successful
	// refresh is older than max_staleness.
	ReasonStale Reason = "stale"
	// ReasonNoCertificate: the peer presented no certificate.
	ReasonNoCertificate Reason = "no_certificate"
	// ReasonBadCertificate: the peer's certificate does not parse.
	ReasonBadCertificate Reason = "bad_certificate"
	// ReasonUnknownCertificate: neither pinned nor issued by a member CA.
	ReasonUnknownCertificate Reason = "unknown_certificate"
	// ReasonMemberInactive: the certificate belongs to a suspended or removed member.
	ReasonMemberInactive Reason = "member_inactive"
	// ReasonAmbiguousMember: the certificate matches more than one active
	// member, so its identity is not clear and it is refused.
	ReasonAmbiguousMember Reason = "ambiguous_member"
	// ReasonNotYetValid: the certificate's NotBefore is in the future.
	ReasonNotYetValid Reason = "not_yet_valid"
)

// RefreshReasons lists every reason a refresh can fail with, so that
// metrics can export each of them from the start (as zero).
var RefreshReasons = []Reason{
	ReasonFormat, ReasonHeader, ReasonAlgorithm, ReasonChain, ReasonSignature,
	ReasonSchema, ReasonExpired, ReasonRollback, ReasonVersionConflict,
	ReasonFetch, ReasonHTTPStatus, ReasonAPIResponse, ReasonTooLarge,
	ReasonTimeout, ReasonCanceled, ReasonState,
}

// LeafReasons lists every reason a client certificate can be rejected with.
var LeafReasons = []Reason{
	ReasonNoManifest, ReasonStale, ReasonNoCertificate, ReasonBadCertificate,
	ReasonUnknownCertificate, ReasonMemberInactive, ReasonAmbiguousMember,
	ReasonExpired, ReasonNotYetValid, ReasonChain,
}

// Error is the error type of this package. Reason is meant for metrics and
// decisions; Err holds detail for logs.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "ntn: " + string(e.Reason)
	}
	return fmt.Sprintf("ntn: %s: %v", e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *Error in err's chain, or ""
// when err is nil or not from this package.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func newError(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

func wrapError(reason Reason, err error) *Error {
	var e *Error
	if errors.As(err, &e) && e.Reason == reason {
		return e
	}
	return &Error{Reason: reason, Err: err}
}
