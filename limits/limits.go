// Package limits caps the size of a request before the policy runs: the
// number of search parameters, of comma-separated items, and of header
// fields. Policy evaluation costs grow with every parameter and every item
// (a 1 MiB POST _search of 20,000 _security items cost 0.5-0.7 s of policy
// time each), so a client's excess is refused up front, cheaply, with a
// client error instead of a policy error.
//
// Count only what the client sent: run CheckParams before the PEP adds its
// own parameters (patient ids, bucket codes, the V label exclusion).
package limits

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/hdp-il/fhir-pep/fhir"
)

// Defaults. Real clients send a handful of parameters; a search on 100
// codes at once is generous.
const (
	DefaultMaxParams         = 50
	DefaultMaxValuesPerParam = 100
	DefaultMaxValues         = 200
	DefaultMaxHeaderFields   = 100
)

// Config holds the limits; zero fields take the defaults.
type Config struct {
	// MaxParams bounds the parameters of a query string and POST _search
	// form body together.
	MaxParams int `json:"max_params,omitempty"`
	// MaxValuesPerParam bounds the comma-separated items of one parameter.
	MaxValuesPerParam int `json:"max_values_per_param,omitempty"`
	// MaxValues bounds the items of all parameters together.
	MaxValues int `json:"max_values,omitempty"`
	// MaxHeaderFields bounds the request's header field lines.
	MaxHeaderFields int `json:"max_header_fields,omitempty"`
}

// Error is a refused request. Reason is low-cardinality; Limit is the
// configured bound, safe to tell the client.
type Error struct {
	Status int
	Reason string
	Limit  int
}

func (e *Error) Error() string {
	return "limits: " + e.Reason + " (limit " + strconv.Itoa(e.Limit) + ")"
}

// HTTPStatus is the status the client is answered with.
func (e *Error) HTTPStatus() int { return e.Status }

// Is matches on Reason, so errors.Is(err, ErrTooManyParams) holds whatever
// the limit.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Reasons, for errors.Is. The checks return copies carrying the limit.
var (
	ErrTooManyParams       = &Error{Status: http.StatusBadRequest, Reason: "too_many_params"}
	ErrTooManyValues       = &Error{Status: http.StatusBadRequest, Reason: "too_many_values"}
	ErrTooManyHeaderFields = &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "too_many_header_fields"}
)

// Validate refuses negative limits and a per-parameter bound above the
// total (a configuration mistake that would make one of them dead).
func (c Config) Validate() error {
	for name, v := range map[string]int{
		"max_params": c.MaxParams, "max_values_per_param": c.MaxValuesPerParam,
		"max_values": c.MaxValues, "max_header_fields": c.MaxHeaderFields,
	} {
		if v < 0 {
			return fmt.Errorf("limits: %s must not be negative", name)
		}
	}
	d := c.WithDefaults()
	if d.MaxValuesPerParam > d.MaxValues {
		return fmt.Errorf("limits: max_values_per_param %d above max_values %d", d.MaxValuesPerParam, d.MaxValues)
	}
	if d.MaxParams > fhir.MaxParams {
		return fmt.Errorf("limits: max_params %d above the parser's bound %d", d.MaxParams, fhir.MaxParams)
	}
	return nil
}

// WithDefaults fills zero fields with the defaults.
func (c Config) WithDefaults() Config {
	if c.MaxParams == 0 {
		c.MaxParams = DefaultMaxParams
	}
	if c.MaxValuesPerParam == 0 {
		c.MaxValuesPerParam = DefaultMaxValuesPerParam
	}
	if c.MaxValues == 0 {
		c.MaxValues = DefaultMaxValues
	}
	if c.MaxHeaderFields == 0 {
		c.MaxHeaderFields = DefaultMaxHeaderFields
	}
	return c
}

// CheckParams refuses more parameters, or more comma-separated items per
// parameter or in total, than the limits (400). Call it on the client's
// parameters, before the policy, with a Config that went through
// WithDefaults (zero limits are read as the defaults here too).
func (c Config) CheckParams(params []fhir.Param) error {
	c = c.WithDefaults()
	if len(params) > c.MaxParams {
		return &Error{Status: ErrTooManyParams.Status, Reason: ErrTooManyParams.Reason, Limit: c.MaxParams}
	}
	total := 0
	for _, p := range params {
		n := len(p.Values)
		if n > c.MaxValuesPerParam {
			return &Error{Status: ErrTooManyValues.Status, Reason: ErrTooManyValues.Reason, Limit: c.MaxValuesPerParam}
		}
		total += n
		if total > c.MaxValues {
			return &Error{Status: ErrTooManyValues.Status, Reason: ErrTooManyValues.Reason, Limit: c.MaxValues}
		}
	}
	return nil
}

// CheckHeader refuses a request with more header field lines than the
// limit (431, RFC 6585). Repeated fields count once per line: Go's server
// keeps each line as one value of its key.
func (c Config) CheckHeader(h http.Header) error {
	c = c.WithDefaults()
	n := 0
	for _, vs := range h {
		n += len(vs)
		if n > c.MaxHeaderFields {
			return &Error{Status: ErrTooManyHeaderFields.Status, Reason: ErrTooManyHeaderFields.Reason, Limit: c.MaxHeaderFields}
		}
	}
	return nil
}
