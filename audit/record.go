package audit

import "time"

// Outcomes of a decision, as carried in Record.Outcome.
const (
	OutcomeAllow = "allow" // the request was let through
	OutcomeDeny  = "deny"  // the caller or the request was refused
	OutcomeError = "error" // the PEP or a dependency failed; the request was refused
)

// Stages of the request path, as carried in Record.Stage: where a
// refusal was decided, so an auditor can tell a caller that was never
// trusted from one whose consent did not cover the request. There is no
// audit stage: a request refused because its record could not be written
// has no record to carry it (the failure is counted and logged).
const (
	StageRequest  = "request"  // the HTTP or FHIR request itself (malformed, too large, outside the base)
	StageTrust    = "trust"    // the client certificate against the NTN manifest
	StageToken    = "token"    // the bearer token and its PCM introspection
	StagePolicy   = "policy"   // patient resolution and the policy decision
	StageUpstream = "upstream" // the call to the FHIR server (including a FHIR-search patient lookup)
	StageResponse = "response" // the check of the upstream's answer
)

// Record is one consent-grade audit record: everything needed to answer
// "who read what about which patient, under which consent, and why was it
// allowed", and nothing that must not be stored in an audit trail (no
// tokens, no national ids, no resource contents).
//
// Every string field must be a value the PEP produced or checked: ids,
// low-cardinality reasons, references. Free text from the request or the
// upstream must never be put here.
type Record struct {
	// DecisionID is also sent to the client in X-Fhir-Pep-Decision-Id, so
	// both sides can find the same decision.
	DecisionID string
	// CorrelationID is the request's X-Correlation-ID as the PEP accepted
	// or minted it (at most 64 of [A-Za-z0-9._-]), also echoed to the
	// client and passed upstream, so a request can be followed across the
	// caller, the PEP and the FHIR server.
	CorrelationID string
	// Time is when the decision was made; Auditor.Record sets it when zero.
	Time time.Time
	// MemberID is the NTN member of the client certificate.
	MemberID string
	// Thumbprint is the x5t#S256 of the client certificate.
	Thumbprint string
	// ClientID is the PCM client_id of the token.
	ClientID string
	// ConsentRefs are the references from the token's fhirContext
	// (e.g. "Consent/123").
	ConsentRefs []string
	// ConsentID is the token's consent_id (e.g. "PCM-CONSENT-0001"), the
	// consent reference the national PCM sends.
	ConsentID string
	// AccessType is the token's access_type ("continuous", "one-time").
	AccessType string
	// SPOrganizationID is the organization the token was issued to
	// (sp_organization_id, else organization_id).
	SPOrganizationID string
	// Baskets are the information buckets the patient consented to (the
	// token's baskets claim); nil when the token has none.
	Baskets      []Basket
	Intent       string
	Interaction  string
	ResourceType string
	// Outcome is OutcomeAllow, OutcomeDeny or OutcomeError.
	Outcome string
	// Status is the HTTP status sent to the client.
	Status int
	// Reason is the low-cardinality reason label (the same as in metrics).
	Reason string
	// Stage is, for a refusal (Outcome deny or error) and for a dry-run
	// denial, the stage of the request path that refused: one of the
	// Stage* constants. Empty for an allowed request.
	Stage string
	// Returned counts the resources returned to the client.
	Returned int
	// Withheld counts the resources removed by response enforcement.
	Withheld      int
	PolicyVersion string
	// PatientHash is PatientHasher.Hash of the token's patient, never the
	// national id itself.
	PatientHash string
	// DryRun is true when the policy ran in dry-run mode: a denial was
	// recorded but not enforced.
	DryRun bool
}

// Basket is one consented information bucket of a Record: a code of an
// HDP bucket system and, when the consent bounds it, the earliest clinical
// date that may be disclosed ("YYYY-MM-DD"). Not patient data.
type Basket struct {
	System, Code, HistoricalDepth string
}

// String is "system|code", followed by ";historical_depth=YYYY-MM-DD"
// when the basket has a depth: the form of audit log lines and AuditEvent
// details.
func (b Basket) String() string {
	s := b.System + "|" + b.Code
	if b.HistoricalDepth != "" {
		s += ";historical_depth=" + b.HistoricalDepth
	}
	return s
}
