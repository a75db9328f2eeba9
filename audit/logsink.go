package audit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LoggerName is the name of the logger the log sink should write to.
// Caddy routes a named logger with its log config, for example:
//
//	{
//		log audit {
//			output file /var/log/fhir-pep/audit.log
//			format json
//			include http.handlers.fhir_pep.audit
//		}
//		log default {
//			exclude http.handlers.fhir_pep.audit
//		}
//	}
//
// In the handler's Provision, ctx.Logger().Named("audit") has this name.
const LoggerName = "http.handlers.fhir_pep.audit"

// LogMessage is the message of every audit log line.
const LogMessage = "decision"

// LogSink writes one structured log line per record. It is synchronous:
// Write returns once every log core that accepted the line wrote it.
type LogSink struct {
	core   zapcore.Core
	name   string
	closed atomic.Bool
	once   sync.Once
}

// NewLogSink returns a sink that logs records at INFO on logger.
func NewLogSink(logger *zap.Logger) *LogSink {
	return &LogSink{core: logger.Core(), name: logger.Name()}
}

// Write logs r with the fields decision_id, correlation_id, time, member_id, thumbprint,
// client_id, consent_refs, consent_id, access_type, sp_organization_id,
// baskets (Basket.String each), intent, interaction, resource_type,
// outcome, status, reason, stage, returned, withheld, policy_version,
// patient_hash and dry_run. Every field is always present, so the schema never changes
// with the record. time is the record's Time in UTC with milliseconds
// (the AuditEvent's recorded); the entry's own timestamp is the same
// instant, in whatever format the log encoder uses.
//
// It goes to the core directly rather than through zap.Logger.Info,
// because Logger swallows write errors: an audit trail must know when a
// line was lost. A line that no core accepts (level, include/exclude
// rules, sampling) is a failure too: it was recorded nowhere.
func (s *LogSink) Write(_ context.Context, r Record) error {
	if s.closed.Load() {
		return &Error{Reason: ReasonClosed}
	}
	ent := zapcore.Entry{
		Level:      zapcore.InfoLevel,
		Time:       r.Time,
		LoggerName: s.name,
		Message:    LogMessage,
	}
	ce := s.core.Check(ent, nil)
	if ce == nil {
		return &Error{Reason: ReasonLogDisabled}
	}
	var capture errorCapture
	ce.ErrorOutput = &capture
	ce.Write(zap.Inline(logRecord{&r}))
	if capture.failed {
		return &Error{Reason: ReasonLogWrite, Err: errors.New("log core write failed")}
	}
	return nil
}

// Close syncs the log cores. Later Writes fail with ReasonClosed.
func (s *LogSink) Close(context.Context) error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		err = s.core.Sync()
	})
	if err != nil {
		return &Error{Reason: ReasonLogWrite, Err: err}
	}
	return nil
}

// logRecord adds a record's fields to the log entry, in the schema's
// order, straight into the encoder: one inline marshaler instead of a
// slice of 23 boxed fields, because the line is written on every request.
// The fields stay top-level members of the line (zap.Inline), and Caddy's
// filter encoder still sees each one by name.
type logRecord struct{ r *Record }

func (l logRecord) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	r := l.r
	enc.AddString("decision_id", r.DecisionID)
	enc.AddString("correlation_id", r.CorrelationID)
	// A string, not AddByteString: Caddy's filter encoder would see bytes
	// as a binary field and could write it as base64.
	enc.AddString("time", r.Time.UTC().Format(recordedLayout))
	enc.AddString("member_id", r.MemberID)
	enc.AddString("thumbprint", r.Thumbprint)
	enc.AddString("client_id", r.ClientID)
	if err := enc.AddArray("consent_refs", stringArray(r.ConsentRefs)); err != nil {
		return err
	}
	enc.AddString("consent_id", r.ConsentID)
	enc.AddString("access_type", r.AccessType)
	enc.AddString("sp_organization_id", r.SPOrganizationID)
	if err := enc.AddArray("baskets", basketArray(r.Baskets)); err != nil {
		return err
	}
	enc.AddString("intent", r.Intent)
	enc.AddString("interaction", r.Interaction)
	enc.AddString("resource_type", r.ResourceType)
	enc.AddString("outcome", r.Outcome)
	enc.AddInt64("status", int64(r.Status))
	enc.AddString("reason", r.Reason)
	enc.AddString("stage", r.Stage)
	enc.AddInt64("returned", int64(r.Returned))
	enc.AddInt64("withheld", int64(r.Withheld))
	enc.AddString("policy_version", r.PolicyVersion)
	enc.AddString("patient_hash", r.PatientHash)
	enc.AddBool("dry_run", r.DryRun)
	return nil
}

// stringArray is a JSON array of strings; nil is [] (the schema never
// changes with the record).
type stringArray []string

func (a stringArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, s := range a {
		enc.AppendString(s)
	}
	return nil
}

// basketArray is the baskets as Basket.String each.
type basketArray []Basket

func (a basketArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, b := range a {
		enc.AppendString(b.String())
	}
	return nil
}

// errorCapture is the CheckedEntry's ErrorOutput: zap reports core write
// errors there instead of returning them. The text itself is discarded
// (it may repeat the entry); only the fact of a failure matters.
type errorCapture struct{ failed bool }

func (c *errorCapture) Write(p []byte) (int, error) {
	c.failed = true
	return len(p), nil
}

func (c *errorCapture) Sync() error { return nil }
