package policy

import (
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/topdown"
)

// Errors returned with a deny decision. None of their messages carries input
// values: they name a field or an OPA error code and location, nothing more.
var (
	// ErrNoPolicies: the policy directory holds no .rego file (a wrong path).
	ErrNoPolicies = errors.New("policy: no .rego files found")
	// ErrUndefined: data.fhir.pep.decision is undefined for this input (or
	// the policy set has no decision rule at all).
	ErrUndefined = errors.New("policy: decision is undefined")
	// ErrMultiple: the query produced more than one result.
	ErrMultiple = errors.New("policy: decision has multiple results")
	// ErrMistyped: the decision is not shaped as the contract says.
	ErrMistyped = errors.New("policy: decision is mistyped")
	// ErrInput: there is no input to evaluate: Eval was given nil (what
	// Input.Value returns when the token holds a value with no JSON form),
	// or EvalInput a nil Input or such a token.
	ErrInput = errors.New("policy: no input")
	// ErrEval: evaluation failed (conflicting rule values, a built-in error,
	// cancellation). Returned wrapped in an *EvalError.
	ErrEval = errors.New("policy: evaluation failed")
)

// EvalError reports a failed evaluation by OPA error code and policy
// location. The OPA message stays out of Error() because built-in errors may
// quote input values; Unwrap still reaches it for tools that need it.
type EvalError struct {
	Code     string // e.g. "eval_conflict_error", "eval_builtin_error", "eval_cancel_error"
	Location string // "file:row" of the failing expression, when OPA knows it
	cause    error
}

func (e *EvalError) Error() string {
	msg := ErrEval.Error()
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Location != "" {
		msg += " at " + e.Location
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrEval) true and exposes OPA's own error.
func (e *EvalError) Unwrap() []error { return []error{ErrEval, e.cause} }

func newEvalError(err error) *EvalError {
	e := &EvalError{cause: err}
	var te *topdown.Error
	if errors.As(err, &te) {
		e.Code = te.Code
		if te.Location != nil {
			e.Location = fmt.Sprintf("%s:%d", te.Location.File, te.Location.Row)
		}
	}
	return e
}

// mistyped builds an ErrMistyped naming the offending field (never its value).
func mistyped(field, want string) error {
	return fmt.Errorf("%w: %s must be %s", ErrMistyped, field, want)
}
