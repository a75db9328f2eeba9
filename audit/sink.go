package audit

import "context"

// Sink stores audit records.
//
// Write is called on the request path: it must not block on the network.
// A synchronous sink returns only once the record is stored (or failed);
// an asynchronous one returns once the record is accepted into its queue
// and implements AsyncSink to report the delivery later.
//
// Close flushes what the sink still holds and releases it; it returns
// when done or when ctx ends, whichever is first. Write after Close fails.
type Sink interface {
	Write(ctx context.Context, r Record) error
	Close(ctx context.Context) error
}

// AsyncSink is a Sink whose Write only accepts a record. The Auditor calls
// OnDelivery once, before its first Write; the sink then calls report
// exactly once for every record it accepted: with nil when the record was
// delivered, or with the final error (an *Error with a Reason) when it
// gave up.
type AsyncSink interface {
	Sink
	OnDelivery(report func(error))
}
