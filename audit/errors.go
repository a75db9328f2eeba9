package audit

import (
	"errors"
	"fmt"
)

// Reasons a sink failed to take or deliver a record. They are short,
// fixed labels meant for metrics (Hooks.OnFailed) and logs.
const (
	ReasonQueueFull   = "queue_full"   // the async queue was full; the record was dropped
	ReasonClosed      = "closed"       // Write after Close
	ReasonShutdown    = "shutdown"     // Close's deadline passed before the record was delivered
	ReasonLogWrite    = "log_write"    // a log core failed to write the record
	ReasonLogDisabled = "log_disabled" // no log core accepted the record (level, filter, sampling)
	ReasonEncode      = "encode"       // the AuditEvent could not be encoded
	ReasonTransport   = "transport"    // connection, TLS or I/O failure, after retries
	ReasonTimeout     = "timeout"      // the per-request timeout expired, after retries
	ReasonServerError = "server_error" // 5xx or 429 from the audit server, after retries
	ReasonRejected    = "rejected"     // another non-2xx status; not retried
	ReasonOther       = "other"        // an error from a sink that does not use this package's Error
)

// ErrQueueFull is returned by an asynchronous sink's Write when its queue
// is full. The Auditor counts it as dropped.
var ErrQueueFull = &Error{Reason: ReasonQueueFull}

// Error is a sink failure with a low-cardinality Reason. Its message
// never holds record contents beyond what Err says (HTTP status codes,
// transport errors).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "audit: " + e.Reason
	}
	return fmt.Sprintf("audit: %s: %v", e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrQueueFull) (and other reason-only sentinels)
// match any *Error with the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Err == nil && t.Reason == e.Reason
}

// ReasonOf returns the Reason of the first *Error in err's chain,
// ReasonOther for any other error, and "" for nil.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonOther
}
