package audit

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Default identifier systems of AuditEventProfile. They are this
// project's own canonical URIs (nothing national defines them); override
// them when the audit repository expects others.
const (
	DefaultMemberSystem      = "https://github.com/hdp-il/fhir-pep/identifier/ntn-member-id"
	DefaultPatientHashSystem = "https://github.com/hdp-il/fhir-pep/identifier/patient-hmac-sha256"
	DefaultDecisionSystem    = "https://github.com/hdp-il/fhir-pep/identifier/decision-id"
	DefaultConsentSystem     = "https://github.com/hdp-il/fhir-pep/identifier/pcm-consent-id"
	DefaultObserver          = "fhir-pep"
)

// Code systems used in the AuditEvent (FHIR R4 bindings).
const (
	systemAuditEventType = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemInteraction    = "http://hl7.org/fhir/restful-interaction"
	systemDICOM          = "http://dicom.nema.org/resources/ontology/DCM"
	systemSourceType     = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemEntityType     = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole     = "http://terminology.hl7.org/CodeSystem/object-role"
	systemResourceTypes  = "http://hl7.org/fhir/resource-types"
)

// recordedLayout is a FHIR instant with milliseconds (always UTC here).
const recordedLayout = "2006-01-02T15:04:05.000Z07:00"

// AuditEventProfile says how this data source appears in its AuditEvents.
type AuditEventProfile struct {
	// DataSourceMemberID is this data source's own NTN member id; it
	// identifies the data-source agent and the observer.
	DataSourceMemberID string
	// DataSourceName is the display of the data-source agent.
	DataSourceName string
	// Observer is the display of source.observer; default DefaultObserver.
	Observer string
	// Site is source.site (e.g. the PEP's host name); optional.
	Site string

	// Identifier systems; empty means the Default* constant.
	MemberSystem      string
	PatientHashSystem string
	DecisionSystem    string
	// ConsentSystem is the identifier system of PCM consent ids
	// (Record.ConsentID).
	ConsentSystem string
}

func (p AuditEventProfile) withDefaults() AuditEventProfile {
	if p.Observer == "" {
		p.Observer = DefaultObserver
	}
	if p.MemberSystem == "" {
		p.MemberSystem = DefaultMemberSystem
	}
	if p.PatientHashSystem == "" {
		p.PatientHashSystem = DefaultPatientHashSystem
	}
	if p.DecisionSystem == "" {
		p.DecisionSystem = DefaultDecisionSystem
	}
	if p.ConsentSystem == "" {
		p.ConsentSystem = DefaultConsentSystem
	}
	return p
}

// Encode renders r as a FHIR R4 AuditEvent (compact JSON):
//
//   - type rest, subtype the RESTful interaction (a compartment search is
//     "search"; an unknown or empty interaction has no subtype), action
//     C/R/U/D/E from the interaction (searches, operations, batches and
//     requests refused before the interaction was known are E);
//   - recorded = r.Time in UTC, millisecond precision; outcome 0 (allow),
//     4 (deny) or 8 (error, and anything unexpected); outcomeDesc = reason;
//   - purposeOfEvent.text = the token's intent;
//   - agent[0]: the requesting member (DICOM Source Role ID, who.identifier
//     = its NTN member id, altId = the PCM client_id, requestor true);
//     agent[1]: this data source (Destination Role ID, requestor false);
//   - source: site, observer (this data source), type Application Server;
//   - entity: the patient as an identifier-only reference carrying the
//     keyed hash (role Patient), each consent reference (role Security
//     Resource), the consent_id (what.identifier in ConsentSystem, type
//     Consent, role Security Resource), and the decision (what.identifier
//     = the decision id) whose detail holds reason, stage (of a
//     refusal), correlation_id (X-Correlation-ID, to follow the request
//     to the caller and the FHIR server), status, interaction,
//     resource_type, returned, withheld, policy_version, dry_run,
//     client_thumbprint, access_type, sp_organization_id and one "basket"
//     per consented bucket (Basket.String).
//
// Empty optional values are left out; returned and withheld are always
// present. Nothing else from the request is included.
func (p AuditEventProfile) Encode(r Record) ([]byte, error) {
	return json.Marshal(p.auditEvent(r))
}

func (p AuditEventProfile) auditEvent(r Record) auditEvent {
	p = p.withDefaults()
	ev := auditEvent{
		ResourceType: "AuditEvent",
		Type:         coding{System: systemAuditEventType, Code: "rest", Display: "RESTful Operation"},
		Action:       actionOf(r.Interaction),
		Recorded:     r.Time.UTC().Format(recordedLayout),
		Outcome:      outcomeCode(r.Outcome),
		OutcomeDesc:  r.Reason,
	}
	if code, ok := subtypeOf(r.Interaction); ok {
		ev.Subtype = []coding{{System: systemInteraction, Code: code, Display: code}}
	}
	if r.Intent != "" {
		ev.PurposeOfEvent = []codeableConcept{{Text: r.Intent}}
	}

	requester := agent{
		Type:      &codeableConcept{Coding: []coding{{System: systemDICOM, Code: "110153", Display: "Source Role ID"}}},
		AltID:     r.ClientID,
		Requestor: true,
	}
	if r.MemberID != "" {
		requester.Who = &reference{Identifier: &identifier{System: p.MemberSystem, Value: r.MemberID}}
	}
	ev.Agent = []agent{requester, {
		Type:      &codeableConcept{Coding: []coding{{System: systemDICOM, Code: "110152", Display: "Destination Role ID"}}},
		Who:       p.self(p.DataSourceName),
		Requestor: false,
	}}

	ev.Source = source{
		Site:     p.Site,
		Observer: *p.self(p.Observer),
		Type:     []coding{{System: systemSourceType, Code: "4", Display: "Application Server"}},
	}

	if r.PatientHash != "" {
		ev.Entity = append(ev.Entity, entity{
			What: &reference{Identifier: &identifier{System: p.PatientHashSystem, Value: r.PatientHash}},
			Type: &coding{System: systemEntityType, Code: "1", Display: "Person"},
			Role: &coding{System: systemObjectRole, Code: "1", Display: "Patient"},
		})
	}
	for _, ref := range r.ConsentRefs {
		if ref == "" {
			continue
		}
		ev.Entity = append(ev.Entity, entity{
			What: &reference{Reference: ref},
			Type: referenceType(ref),
			Role: &coding{System: systemObjectRole, Code: "13", Display: "Security Resource"},
		})
	}
	if r.ConsentID != "" {
		ev.Entity = append(ev.Entity, entity{
			What: &reference{Identifier: &identifier{System: p.ConsentSystem, Value: r.ConsentID}},
			Type: &coding{System: systemResourceTypes, Code: "Consent", Display: "Consent"},
			Role: &coding{System: systemObjectRole, Code: "13", Display: "Security Resource"},
		})
	}
	decision := entity{
		Type:   &coding{System: systemEntityType, Code: "2", Display: "System Object"},
		Detail: decisionDetails(r),
	}
	if r.DecisionID != "" {
		decision.What = &reference{Identifier: &identifier{System: p.DecisionSystem, Value: r.DecisionID}}
	}
	ev.Entity = append(ev.Entity, decision)
	return ev
}

// self is a reference to this data source with display, or nil when
// there is neither a member id nor a display.
func (p AuditEventProfile) self(display string) *reference {
	if p.DataSourceMemberID == "" && display == "" {
		return nil
	}
	ref := &reference{Display: display}
	if p.DataSourceMemberID != "" {
		ref.Identifier = &identifier{System: p.MemberSystem, Value: p.DataSourceMemberID}
	}
	return ref
}

func decisionDetails(r Record) []entityDetail {
	var d []entityDetail
	add := func(typ, value string) {
		if value != "" {
			d = append(d, entityDetail{Type: typ, ValueString: value})
		}
	}
	add("reason", r.Reason)
	add("stage", r.Stage)
	add("correlation_id", r.CorrelationID)
	if r.Status != 0 {
		add("status", strconv.Itoa(r.Status))
	}
	add("interaction", r.Interaction)
	add("resource_type", r.ResourceType)
	add("returned", strconv.Itoa(r.Returned))
	add("withheld", strconv.Itoa(r.Withheld))
	add("policy_version", r.PolicyVersion)
	if r.DryRun {
		add("dry_run", "true")
	}
	add("client_thumbprint", r.Thumbprint)
	add("access_type", r.AccessType)
	add("sp_organization_id", r.SPOrganizationID)
	for _, b := range r.Baskets {
		add("basket", b.String())
	}
	return d
}

// actionOf maps a RESTful interaction to AuditEvent.action. Searches are
// E (a query is executed), as in IHE BALP.
func actionOf(interaction string) string {
	switch interaction {
	case "create":
		return "C"
	case "read", "vread", "history-instance", "history-type", "history-system", "capabilities":
		return "R"
	case "update", "patch":
		return "U"
	case "delete":
		return "D"
	default:
		return "E"
	}
}

// subtypeOf maps an interaction to a code of the R4 restful-interaction
// code system, which has no compartment search: that is its parent code
// "search".
func subtypeOf(interaction string) (string, bool) {
	switch interaction {
	case "read", "vread", "update", "patch", "delete",
		"history-instance", "history-type", "history-system",
		"create", "search-type", "search-system",
		"capabilities", "transaction", "batch", "operation":
		return interaction, true
	case "search-compartment":
		return "search", true
	default:
		return "", false
	}
}

// outcomeCode maps Record.Outcome to AuditEvent.outcome. Anything
// unexpected is a serious failure: it must stand out in the trail.
func outcomeCode(outcome string) string {
	switch outcome {
	case OutcomeAllow:
		return "0"
	case OutcomeDeny:
		return "4"
	default:
		return "8"
	}
}

// referenceType types a consent entity by the resource type in its
// reference ("Consent/1", "https://pcm.example/fhir/Consent/1"), or as a
// generic system object when the reference has no recognisable type.
func referenceType(ref string) *coding {
	parts := strings.Split(strings.TrimRight(ref, "/"), "/")
	if len(parts) >= 2 {
		t := parts[len(parts)-2]
		if isResourceTypeName(t) {
			return &coding{System: systemResourceTypes, Code: t, Display: t}
		}
	}
	return &coding{System: systemEntityType, Code: "2", Display: "System Object"}
}

func isResourceTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// The AuditEvent subset this package writes. Field order is the order of
// the R4 definition, so the JSON reads like the spec.
type auditEvent struct {
	ResourceType   string            `json:"resourceType"`
	Type           coding            `json:"type"`
	Subtype        []coding          `json:"subtype,omitempty"`
	Action         string            `json:"action"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []agent           `json:"agent"`
	Source         source            `json:"source"`
	Entity         []entity          `json:"entity"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type agent struct {
	Type      *codeableConcept `json:"type,omitempty"`
	Who       *reference       `json:"who,omitempty"`
	AltID     string           `json:"altId,omitempty"`
	Requestor bool             `json:"requestor"`
}

type source struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []coding  `json:"type"`
}

type entity struct {
	What   *reference     `json:"what,omitempty"`
	Type   *coding        `json:"type,omitempty"`
	Role   *coding        `json:"role,omitempty"`
	Detail []entityDetail `json:"detail,omitempty"`
}

type entityDetail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}
