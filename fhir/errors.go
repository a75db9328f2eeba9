package fhir

// Error is a request rejection with a low-cardinality reason. Reasons are
// safe to use as metric labels and to show to clients: they never contain
// any part of the request (ids, parameter values, bodies).
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "fhir: " + e.Reason }

// The rejections ParseRequest, ParseQuery and ParseBundleEntries return. They
// are returned as is (never wrapped), so both errors.Is and == work.
var (
	// ErrNonCanonicalPath: the path is not in the one accepted form (see the
	// package documentation): percent-encoding, dot or empty segments, ";",
	// "\", control or non-ASCII bytes.
	ErrNonCanonicalPath = &Error{Reason: "non_canonical_path"}
	// ErrUnknownResourceType: a segment in resource type position is not an
	// R4 resource type (matching is case-sensitive).
	ErrUnknownResourceType = &Error{Reason: "unknown_resource_type"}
	// ErrInvalidID: a logical or version id breaks [A-Za-z0-9\-\.]{1,64}.
	ErrInvalidID = &Error{Reason: "invalid_id"}
	// ErrInvalidOperation: an operation segment is not "$" followed by a
	// valid operation name.
	ErrInvalidOperation = &Error{Reason: "invalid_operation"}
	// ErrUnsupportedRequest: the method and path shape together are no FHIR
	// RESTful interaction this package models.
	ErrUnsupportedRequest = &Error{Reason: "unsupported_request"}
	// ErrInvalidQuery: the query string (or form body) is malformed: ";" used
	// as separator, empty or "="-less pairs, bad or double percent-encoding,
	// control characters, invalid UTF-8, bad "\" escapes, too many parameters.
	ErrInvalidQuery = &Error{Reason: "invalid_query"}
	// ErrInvalidParamName: a parameter name, modifier or chain is not
	// syntactically valid.
	ErrInvalidParamName = &Error{Reason: "invalid_param_name"}
	// ErrUnsupportedMediaType: a body that must be a form (POST _search) or
	// FHIR JSON (batch/transaction) has another Content-Type.
	ErrUnsupportedMediaType = &Error{Reason: "unsupported_media_type"}
	// ErrInvalidBody: a body where none is allowed (GET, DELETE), or a
	// batch/transaction body that is not a valid JSON Bundle of type batch or
	// transaction.
	ErrInvalidBody = &Error{Reason: "invalid_body"}
)
