package caddymodule

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hdp-il/fhir-pep/audit"
	"go.uber.org/zap"
)

// AuditConfig configures the consent-grade audit trail: one record per
// decision, to the logger http.handlers.fhir_pep.audit (route it with
// Caddy's log config) and optionally as FHIR AuditEvents to an endpoint.
type AuditConfig struct {
	// PatientHashKey is a file holding the HMAC key (at least 32 bytes)
	// with which the patient's national id is hashed in audit records.
	// Without it records carry no patient reference at all.
	PatientHashKey string `json:"patient_hash_key,omitempty"`
	// Required makes requests fail closed (503) when their audit record
	// cannot be written (log sink) or queued (AuditEvent sink).
	Required bool `json:"required,omitempty"`
	// AuditEventEndpoint is a FHIR base URL; records are POSTed to
	// <endpoint>/AuditEvent asynchronously through a bounded queue.
	AuditEventEndpoint string `json:"audit_event_endpoint,omitempty"`
	// AuditEventCA, AuditEventClientCert and AuditEventClientKey set the
	// TLS of the AuditEvent endpoint (CA to trust, optional mTLS identity).
	AuditEventCA         string `json:"audit_event_ca,omitempty"`
	AuditEventClientCert string `json:"audit_event_client_cert,omitempty"`
	AuditEventClientKey  string `json:"audit_event_client_key,omitempty"`
	// QueueSize bounds the AuditEvent queue. Default: 10000.
	QueueSize int `json:"queue_size,omitempty"`
	// DataSourceMemberID is this data source's NTN member id, recorded as
	// the responding agent of AuditEvents.
	DataSourceMemberID string `json:"data_source_member_id,omitempty"`
}

// provisionAudit builds the auditor. The log sink is always on: every
// decision leaves a record even without an audit block.
func (p *PEP) provisionAudit() error {
	cfg := p.Audit
	if cfg == nil {
		cfg = new(AuditConfig)
	}
	if cfg.PatientHashKey != "" {
		key, err := os.ReadFile(cfg.PatientHashKey)
		if err != nil {
			return fmt.Errorf("fhir_pep: audit patient_hash_key: %w", err)
		}
		p.patientHasher, err = audit.NewPatientHasher(bytes.TrimSpace(key))
		if err != nil {
			return fmt.Errorf("fhir_pep: audit patient_hash_key: %w", err)
		}
	} else {
		p.logger.Warn("audit records carry no patient reference: set audit { patient_hash_key <file> }")
	}
	sinks := []audit.NamedSink{{Name: audit.SinkLog, Sink: audit.NewLogSink(p.logger.Named("audit"))}}
	if cfg.AuditEventEndpoint != "" {
		client, err := auditHTTPClient(cfg)
		if err != nil {
			return fmt.Errorf("fhir_pep: audit: %w", err)
		}
		sink, err := audit.NewAuditEventSink(audit.AuditEventConfig{
			Endpoint:  cfg.AuditEventEndpoint,
			Client:    client,
			QueueSize: cfg.QueueSize,
			Profile:   audit.AuditEventProfile{DataSourceMemberID: cfg.DataSourceMemberID, Site: p.Resource},
			Logger:    p.logger.Named("audit_event"),
		})
		if err != nil {
			return fmt.Errorf("fhir_pep: audit: %w", err)
		}
		sinks = append(sinks, audit.NamedSink{Name: audit.SinkAuditEvent, Sink: sink})
	}
	m := p.metrics
	a, err := audit.NewAuditor(audit.AuditorConfig{
		Sinks:    sinks,
		Required: cfg.Required,
		Logger:   p.logger,
		Now:      p.now,
		Hooks: audit.Hooks{
			OnWritten: func(s string) { m.auditRecords.WithLabelValues(s, "written").Inc() },
			OnFailed:  func(s, _ string) { m.auditRecords.WithLabelValues(s, "failed").Inc() },
			OnDropped: func(s string) { m.auditRecords.WithLabelValues(s, "dropped").Inc() },
		},
	})
	if err != nil {
		return fmt.Errorf("fhir_pep: audit: %w", err)
	}
	p.auditor = a
	return nil
}

func auditHTTPClient(cfg *AuditConfig) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.AuditEventCA != "" {
		pem, err := os.ReadFile(cfg.AuditEventCA)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("audit_event_ca holds no PEM certificate")
		}
	}
	if cfg.AuditEventClientCert != "" || cfg.AuditEventClientKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.AuditEventClientCert, cfg.AuditEventClientKey)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tc, Proxy: nil, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// record writes the audit record of one decision. The error matters only under
// audit required: finish then answers 503 before anything is sent.
func (p *PEP) record(x *exchange, res result) error {
	if err := p.auditor.Record(x.r.Context(), p.auditRecord(x, res)); err != nil && p.auditor.Required() {
		return err
	}
	return nil
}

// auditRecord is the record of one decision. The patient appears only as
// a keyed hash.
func (p *PEP) auditRecord(x *exchange, res result) audit.Record {
	rec := audit.Record{
		DecisionID:    x.decisionID,
		CorrelationID: x.correlationID,
		Time:          p.now(),
		Status:        res.status,
		Reason:        res.out.reason,
		Stage:         x.deniedStage,
		Returned:      res.out.returned,
		Withheld:      res.out.withheld,
		PolicyVersion: p.engine.Version(),
		DryRun:        x.dryRun,
	}
	switch {
	case res.status >= 500:
		rec.Outcome = audit.OutcomeError
	case res.status >= 400:
		rec.Outcome = audit.OutcomeDeny
	default:
		rec.Outcome = audit.OutcomeAllow
	}
	if x.req != nil {
		rec.Interaction, rec.ResourceType = string(x.req.Interaction), x.req.ResourceType
	}
	if subj := x.subject; subj != nil {
		rec.MemberID, rec.Thumbprint = subj.MemberID, subj.Thumbprint
		if c := subj.Claims; c != nil {
			rec.ClientID, rec.Intent = c.ClientID, c.Intent
			rec.ConsentID, rec.AccessType, rec.SPOrganizationID = c.ConsentID, c.AccessType, c.CallerOrganization()
			rec.Baskets = auditBaskets(c.Baskets)
			for ref := range c.ContextReferences() {
				if strings.Contains(ref, "/") {
					rec.ConsentRefs = append(rec.ConsentRefs, ref)
				}
			}
			if p.patientHasher != nil {
				rec.PatientHash = p.patientHasher.Hash(c.PatientSystem, c.PatientValue)
			}
		}
	}
	return rec
}

func (p *PEP) closeAuditorLogged() {
	if err := p.closeAuditor(); err != nil {
		p.logger.Warn("audit queue not fully drained", zap.Error(err))
	}
}

// closeAuditor drains the AuditEvent queue for a bounded time.
func (p *PEP) closeAuditor() error {
	if p.auditor == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.auditor.Close(ctx)
}
