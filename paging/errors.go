package paging

import "net/http"

// Error is a paging rejection. Reason is low-cardinality and safe for
// metric labels and client answers: it never contains any part of a link,
// token or patient id. Status is the HTTP status the PEP answers with.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "paging: " + e.Reason }

// HTTPStatus is the status code the client is answered with.
func (e *Error) HTTPStatus() int { return e.Status }

// The errors Unseal, Verify, Open and SealedValue return, never wrapped: both errors.Is and ==
// work.
var (
	// ErrInvalid: the page link is not one this PEP sealed, or was altered:
	// undecodable, too long, unknown version or key id, failed
	// authentication, malformed content, or extra query parameters.
	ErrInvalid = &Error{Status: http.StatusBadRequest, Reason: "paging_link_invalid"}
	// ErrBindingMismatch: the link is authentic but was issued for another
	// token, client certificate, patient or decision.
	ErrBindingMismatch = &Error{Status: http.StatusForbidden, Reason: "paging_link_binding"}
	// ErrExpired: the link is authentic and bound to this request but older
	// than the TTL.
	ErrExpired = &Error{Status: http.StatusGone, Reason: "paging_link_expired"}
)

// The errors Seal returns. They are the PEP's problem, not the client's: the
// caller should refuse the upstream answer (502) rather than drop the link
// silently, which would truncate the result without the client knowing.
var (
	// ErrNotUpstream: the link is not under the configured upstream base
	// (another host, scheme, port or path), or is no valid URL.
	ErrNotUpstream = &Error{Status: http.StatusBadGateway, Reason: "paging_link_not_upstream"}
	// ErrLinkTooLong: the link is longer than MaxLinkLen.
	ErrLinkTooLong = &Error{Status: http.StatusBadGateway, Reason: "paging_link_too_long"}
	// ErrOrigin: the origin request given to Seal is longer than
	// MaxOriginLen or not a path and query relative to the public base.
	ErrOrigin = &Error{Status: http.StatusInternalServerError, Reason: "paging_origin_invalid"}
)
