package searchparam

import (
	"net/http"
	"strconv"
)

// Error is a refused parameter. Reason is low-cardinality (metric labels);
// Param is the parameter name as the client sent it (modifier and chain
// included, never its value), for the OperationOutcome's diagnostics.
type Error struct {
	Reason string
	Param  string
}

func (e *Error) Error() string {
	if e.Param == "" {
		return "searchparam: " + e.Reason
	}
	return "searchparam: " + e.Reason + ": " + strconv.Quote(e.Param)
}

// HTTPStatus is 400 for every rejection.
func (e *Error) HTTPStatus() int { return http.StatusBadRequest }

// Is matches on Reason, so errors.Is(err, ErrUnknownParam) holds for an
// *Error naming any parameter.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason && t.Param == ""
}

// Reasons, for errors.Is. Validate returns copies that name the parameter.
var (
	// ErrUnknownParam: not a search parameter of the type, not a supported
	// result parameter, not a configured extra.
	ErrUnknownParam = &Error{Reason: "unknown_search_param"}
	// ErrRejectedParam: a parameter the PEP refuses by design (_contained,
	// _list, _text, _content, _query, _filter, _has; see the package doc).
	ErrRejectedParam = &Error{Reason: "unsupported_search_param"}
	// ErrModifier: a modifier the parameter's type does not define.
	ErrModifier = &Error{Reason: "unsupported_modifier"}
	// ErrChain: a chain on a parameter that is not a reference, or a chain
	// link that is no parameter of the reference's target types.
	ErrChain = &Error{Reason: "invalid_chain"}
	// ErrValue: a malformed value of a result parameter (_count, _sort,
	// _include, ...) or of :missing.
	ErrValue = &Error{Reason: "invalid_param_value"}
)

func reject(kind *Error, param string) *Error {
	return &Error{Reason: kind.Reason, Param: param}
}
