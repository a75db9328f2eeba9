package audit

import (
	"context"
	"errors"
)

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

// Multi returns a Sink that writes every record to each of sinks in order
// and joins their errors; Close closes them all.
//
// An Auditor counts a Multi as one sink, and does not see the deliveries
// of asynchronous sinks inside it (they still log their own failures). To
// count each sink separately, give them to the Auditor one by one.
func Multi(sinks ...Sink) Sink {
	return multiSink(append([]Sink(nil), sinks...))
}

type multiSink []Sink

func (m multiSink) Write(ctx context.Context, r Record) error {
	var errs []error
	for _, s := range m {
		if err := s.Write(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m multiSink) Close(ctx context.Context) error {
	var errs []error
	for _, s := range m {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
