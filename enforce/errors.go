package enforce

import "errors"

// Errors returned for bodies that cannot be checked. None of them carries any
// part of the body, so they are safe to log and to map to a 502 answer.
var (
	// ErrTooLarge: the body is longer than Config.MaxBytes.
	ErrTooLarge = errors.New("enforce: upstream body too large")
	// ErrTooDeep: arrays and objects nest deeper than Config.MaxDepth.
	ErrTooDeep = errors.New("enforce: upstream body nested too deeply")
	// ErrSyntax: the body is not strict JSON (RFC 8259, UTF-8, no lone surrogates).
	ErrSyntax = errors.New("enforce: upstream body is not valid JSON")
	// ErrDuplicateKey: an object anywhere in the body has two keys that are equal
	// or equal under the case folding encoding/json applies to struct fields.
	ErrDuplicateKey = errors.New("enforce: upstream body has a duplicate JSON key")
	// ErrInvalidBundle: FilterBundle got something other than a Bundle of a
	// supported type, or a Bundle whose entry or link element is not an array.
	ErrInvalidBundle = errors.New("enforce: upstream body is not a supported Bundle")
	// ErrForbiddenLabel: a resource somewhere in the body (a read, a Bundle
	// entry of any search mode, a contained resource) carries a forbidden
	// label (Config.ForbiddenLabels). Nothing of the body may be sent: the
	// handler answers a read with the 404 of a resource that does not exist
	// and any other answer with a generic 400 that does not say why.
	ErrForbiddenLabel = errors.New("enforce: upstream body holds a resource with a forbidden label")
	// ErrLinks wraps the error of FilterOptions.Links, or says that what it
	// returned is not a JSON array of links.
	ErrLinks = errors.New("enforce: Bundle.link could not be rewritten")
	// errEditOverlap is an internal consistency failure; it fails closed.
	errEditOverlap = errors.New("enforce: internal error building the filtered body")
)
