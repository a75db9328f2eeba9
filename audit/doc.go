// Package audit writes one consent-grade audit record per PEP decision.
//
// A Record says who asked (NTN member, certificate thumbprint, PCM
// client), under which consent (the token's fhirContext references and
// intent), for what (interaction and resource type), about whom (a keyed
// hash of the patient, never the national id), what was decided (outcome,
// HTTP status, reason, policy version, dry run) and what left (resources
// returned and withheld). It never carries tokens, national ids or
// resource contents.
//
// # Patient hash
//
// PatientHasher computes base64url(HMAC-SHA256(key, system|value)) with
// a key of at least 32 bytes that the caller loads from a file. National
// ids have only 10^9 values, so an unkeyed hash would be reversible by
// brute force; the keyed hash links records of one patient only for whoever
// holds the key. Rotating the key unlinks old records from new ones.
//
// # Sinks
//
//   - LogSink (NewLogSink) writes one structured line per record, at INFO,
//     with message "decision", on the logger it is given. Give it the
//     logger named LoggerName ("http.handlers.fhir_pep.audit": the
//     handler's ctx.Logger().Named("audit")) and route that name to its own
//     file with Caddy's log include/exclude. It is synchronous, and it
//     reports a line that a log core failed to write, or that no core
//     accepted, as a failure.
//   - AuditEventSink (NewAuditEventSink) converts each record to a FHIR R4
//     AuditEvent (AuditEventProfile.Encode documents the mapping) and
//     POSTs it to <endpoint>/AuditEvent as application/fhir+json from a
//     bounded queue (default 10000) served by a few workers, with a
//     per-attempt timeout and retries with backoff on transport errors,
//     timeouts, 5xx and 429. A full queue drops the record.
//
// # Auditor and fail-closed auditing
//
// Auditor fans a record out to named sinks and reports, per sink, written,
// failed (with a Reason* label) and dropped through Hooks, which the caller
// wires to its metrics (caddy_fhir_pep_audit_records_total{sink,result}).
//
// With Required set (the handler's audit_required), Record returns an
// error when any sink did not take the record, and the handler refuses the
// request. "Taken" means written for the synchronous log sink, and
// accepted into the queue for the asynchronous AuditEvent sink. A later
// delivery failure of an accepted record is counted (OnFailed) and logged,
// but cannot fail the request retroactively: it has been answered. So
// Required guarantees that every answered request is in the local audit
// log, and that the AuditEvent repository was not knowingly skipped; an
// operator who needs the repository to be complete alerts on failures.
//
// Close (on Caddy Cleanup) flushes the queue until its context ends;
// records still queued then are reported as failed with ReasonShutdown.
package audit
