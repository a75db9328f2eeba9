package audit

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Sink names for the metrics label "sink" (Hooks); an Auditor may use any
// other non-empty, distinct names.
const (
	SinkLog        = "log"
	SinkAuditEvent = "audit_event"
)

// ErrNotRecorded is in the chain of the error Auditor.Record returns when
// Required is set and a sink did not take the record.
var ErrNotRecorded = errors.New("audit: record not taken by every sink")

// Hooks receive the Auditor's counts, one call per record and sink. They
// are how metrics are wired in (this package imports no metrics library)
// and must be cheap and safe for concurrent use. Nil hooks are skipped.
type Hooks struct {
	// OnWritten: a synchronous sink wrote the record, or an asynchronous
	// one delivered it.
	OnWritten func(sink string)
	// OnFailed: the sink failed to write or deliver the record; reason is
	// one of the Reason* constants (ReasonOther for foreign errors).
	OnFailed func(sink, reason string)
	// OnDropped: an asynchronous sink's queue was full.
	OnDropped func(sink string)
}

// NamedSink is a sink with the name it is counted under.
type NamedSink struct {
	Name string
	Sink Sink
}

// AuditorConfig configures NewAuditor.
type AuditorConfig struct {
	// Sinks receive every record, in order. At least one.
	Sinks []NamedSink
	// Required makes Record fail when any sink does not take the record,
	// so the caller can refuse the request (fail closed).
	Required bool
	Hooks    Hooks
	// Logger is the operational logger for sink failures (not the audit
	// log itself). Default: no logging.
	Logger *zap.Logger
	// Now stamps records that have no Time. Default time.Now.
	Now func() time.Time
}

// Auditor fans each decision's Record out to its sinks and counts what
// happened through Hooks.
//
// What counts as success for Required: a synchronous sink (LogSink) must
// have written the record; an asynchronous sink (AuditEventSink) must have
// accepted it into its queue. A delivery that fails later is counted
// (OnFailed) and logged by the sink, but cannot retroactively fail the
// request it belongs to, which has already been answered.
type Auditor struct {
	sinks    []NamedSink
	async    []bool
	required bool
	hooks    Hooks
	logger   *zap.Logger
	now      func() time.Time
}

// NewAuditor checks cfg and registers the delivery reports of the
// asynchronous sinks.
func NewAuditor(cfg AuditorConfig) (*Auditor, error) {
	if len(cfg.Sinks) == 0 {
		return nil, errors.New("audit: an auditor needs at least one sink")
	}
	seen := make(map[string]bool, len(cfg.Sinks))
	for _, s := range cfg.Sinks {
		if s.Name == "" || s.Sink == nil {
			return nil, errors.New("audit: every sink needs a name and a value")
		}
		if seen[s.Name] {
			return nil, errors.New("audit: duplicate sink name " + s.Name)
		}
		seen[s.Name] = true
	}
	a := &Auditor{
		sinks:    append([]NamedSink(nil), cfg.Sinks...),
		async:    make([]bool, len(cfg.Sinks)),
		required: cfg.Required,
		hooks:    cfg.Hooks,
		logger:   cfg.Logger,
		now:      cfg.Now,
	}
	if a.logger == nil {
		a.logger = zap.NewNop()
	}
	if a.now == nil {
		a.now = time.Now
	}
	for i, s := range a.sinks {
		if as, ok := s.Sink.(AsyncSink); ok {
			a.async[i] = true
			name := s.Name
			as.OnDelivery(func(err error) {
				if err == nil {
					a.written(name)
				} else {
					a.failed(name, ReasonOf(err))
				}
			})
		}
	}
	return a, nil
}

// Required reports whether Record fails when a sink does not take a record.
func (a *Auditor) Required() bool { return a.required }

// Record writes r to every sink (stamping Time if it is zero). With
// Required, it returns an error wrapping ErrNotRecorded and each sink's
// error when any sink failed or dropped the record; without, it returns
// nil and the failures are only counted and logged.
func (a *Auditor) Record(ctx context.Context, r Record) error {
	if r.Time.IsZero() {
		r.Time = a.now()
	}
	var errs []error
	for i, s := range a.sinks {
		err := s.Sink.Write(ctx, r)
		switch {
		case err == nil:
			if !a.async[i] {
				a.written(s.Name)
			}
			continue
		case errors.Is(err, ErrQueueFull):
			if a.hooks.OnDropped != nil {
				a.hooks.OnDropped(s.Name)
			}
		default:
			a.failed(s.Name, ReasonOf(err))
		}
		if ce := a.logger.Check(zapcore.WarnLevel, "audit record not taken"); ce != nil {
			ce.Write(zap.String("sink", s.Name), zap.String("decision_id", r.DecisionID),
				zap.String("reason", ReasonOf(err)), zap.Bool("required", a.required), zap.Error(err))
		}
		errs = append(errs, err)
	}
	if a.required && len(errs) > 0 {
		return errors.Join(append([]error{ErrNotRecorded}, errs...)...)
	}
	return nil
}

// Close closes every sink (flushing asynchronous queues until ctx ends)
// and joins their errors.
func (a *Auditor) Close(ctx context.Context) error {
	var errs []error
	for _, s := range a.sinks {
		if err := s.Sink.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *Auditor) written(sink string) {
	if a.hooks.OnWritten != nil {
		a.hooks.OnWritten(sink)
	}
}

func (a *Auditor) failed(sink, reason string) {
	if a.hooks.OnFailed != nil {
		a.hooks.OnFailed(sink, reason)
	}
}
