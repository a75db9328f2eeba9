package audit_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hdp-il/fhir-pep/audit"
)

// A handler builds one Auditor per config: a log sink on the audit logger
// (plus, when configured, an AuditEventSink) and hooks that feed its
// metrics. The patient is recorded as a keyed hash.
func ExampleAuditor() {
	// In Caddy: ctx.Logger().Named("audit"). Here: JSON to stdout, no
	// timestamp so the output is stable.
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = ""
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(os.Stdout), zapcore.InfoLevel)).
		Named(audit.LoggerName)

	key := make([]byte, 32) // in production: read from a key file
	hasher, err := audit.NewPatientHasher(key)
	if err != nil {
		panic(err)
	}
	auditor, err := audit.NewAuditor(audit.AuditorConfig{
		Sinks:    []audit.NamedSink{{Name: audit.SinkLog, Sink: audit.NewLogSink(logger)}},
		Required: true,
		Now:      func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
		Hooks: audit.Hooks{
			OnWritten: func(sink string) { fmt.Println("written:", sink) },
			OnFailed:  func(sink, reason string) { fmt.Println("failed:", sink, reason) },
			OnDropped: func(sink string) { fmt.Println("dropped:", sink) },
		},
	})
	if err != nil {
		panic(err)
	}
	err = auditor.Record(context.Background(), audit.Record{
		DecisionID:  "4f1c",
		MemberID:    "org-sp-hospital-a",
		ConsentRefs: []string{"Consent/123"},
		Interaction: "read",
		Outcome:     audit.OutcomeDeny,
		Status:      403,
		Reason:      "scope_denied",
		Stage:       audit.StagePolicy,
		PatientHash: hasher.Hash("http://fhir.health.gov.il/identifier/il-national-id", "000000018"),
	})
	fmt.Println("record error:", err)
	// Output:
	// {"level":"info","logger":"http.handlers.fhir_pep.audit","msg":"decision","decision_id":"4f1c","correlation_id":"","time":"2026-11-22T10:00:00.000Z","member_id":"org-sp-hospital-a","thumbprint":"","client_id":"","consent_refs":["Consent/123"],"consent_id":"","access_type":"","sp_organization_id":"","baskets":[],"intent":"","interaction":"read","resource_type":"","outcome":"deny","status":403,"reason":"scope_denied","stage":"policy","returned":0,"withheld":0,"policy_version":"","patient_hash":"4yFR9UdotPE3wIwG7sNU844lsrta7qfQXfjx-CR1YZ4","dry_run":false}
	// written: log
	// record error: <nil>
}
