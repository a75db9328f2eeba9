package caddymodule

import (
	"strings"

	"github.com/hdp-il/fhir-pep/audit"
)

// stageOf is the stage audited for an answer (audit.Record.Stage): empty
// for an allowed request, else where the path refused. serve records on
// the exchange the stage it is running; a refusal caused by the FHIR
// server is the upstream stage wherever it happened, because the same
// upstream serves the FHIR-search patient lookup (policy stage) and the
// narrowed calls (response stage), and the FHIR server failing must not
// read as a policy or response decision. A dry-run denial is let through,
// but its record still says the policy refused.
func (x *exchange) stageOf(err error, status int) string {
	switch {
	case x.dryRun:
		return audit.StagePolicy
	case err == nil && status < 400:
		return ""
	case err != nil && fromUpstream(asDenial(err)):
		return audit.StageUpstream
	case x.stage == "":
		// Nothing ran yet: checkHTTP's verdict on the request.
		return audit.StageRequest
	}
	return x.stage
}

// fromUpstream tells the denials caused by the FHIR server's answer or
// its absence: every unusable answer (denyBadUpstream, FHIR_001), the
// upstream's own refusals and not-found (reasons upstream_*), and a
// FHIR-search patient lookup that failed. Told by reason and code, which
// are the denial's stable identity (metrics and the README's error table
// use them too).
func fromUpstream(d denial) bool {
	return d.code == codeFHIRUnavailable ||
		strings.HasPrefix(d.reason, "upstream_") ||
		d.reason == denyPatientLookupFailed.reason
}
