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
	ce.Write(logFields(r)...)
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

func logFields(r Record) []zap.Field {
	refs := r.ConsentRefs
	if refs == nil {
		refs = []string{}
	}
	return []zap.Field{
		zap.String("decision_id", r.DecisionID),
		zap.String("correlation_id", r.CorrelationID),
		zap.String("time", r.Time.UTC().Format(recordedLayout)),
		zap.String("member_id", r.MemberID),
		zap.String("thumbprint", r.Thumbprint),
		zap.String("client_id", r.ClientID),
		zap.Strings("consent_refs", refs),
		zap.String("consent_id", r.ConsentID),
		zap.String("access_type", r.AccessType),
		zap.String("sp_organization_id", r.SPOrganizationID),
		zap.Strings("baskets", basketStrings(r.Baskets)),
		zap.String("intent", r.Intent),
		zap.String("interaction", r.Interaction),
		zap.String("resource_type", r.ResourceType),
		zap.String("outcome", r.Outcome),
		zap.Int("status", r.Status),
		zap.String("reason", r.Reason),
		zap.String("stage", r.Stage),
		zap.Int("returned", r.Returned),
		zap.Int("withheld", r.Withheld),
		zap.String("policy_version", r.PolicyVersion),
		zap.String("patient_hash", r.PatientHash),
		zap.Bool("dry_run", r.DryRun),
	}
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
