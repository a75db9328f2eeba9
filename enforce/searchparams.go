package enforce

import (
	"fmt"

	"github.com/hdp-il/fhir-pep/fhir/searchparam"
)

// The search parameters the response check can verify, with the element
// paths their R4 SearchParameter expressions read. A scope constraint on a
// parameter that is not listed here for the resource's type (or that has a
// modifier, or a value form the check does not read) cannot be verified on
// the response: it holds only where the upstream applied it (see Rule).

// valueKind is how the elements of a parameter are read.
type valueKind uint8

const (
	// kindToken: code, Coding, CodeableConcept, or arrays of them.
	kindToken valueKind = iota
	// kindDate: date, dateTime, instant or Period.
	kindDate
)

// elemPath is a path of element names from the resource. When choice is
// set, the last name is the stem of a choice element ("effective" for
// effective[x]): every member named stem+<Type> is on the path.
type elemPath struct {
	names  []string
	choice bool
}

// paramDef is one search parameter of one type.
type paramDef struct {
	kind  valueKind
	paths []elemPath
}

func elem(names ...string) elemPath { return elemPath{names: names} }

// choice is a choice element such as effective[x], given by its stem.
func choiceOf(names ...string) elemPath { return elemPath{names: names, choice: true} }

func paths(p ...elemPath) []elemPath { return p }

// dateParam is a list of date elements that is not a search parameter
// (clinicalDates).
func dateParam(paths ...elemPath) *paramDef { return &paramDef{kind: kindDate, paths: paths} }

// securityParam is _security: verified on meta.security, which the checker
// reads for every resource anyway (bucket systems compared as aliases, bucket
// codes case-insensitively, as for grants).
const securityParam = "_security"

// searchParams maps a resource type to its verifiable parameters. Which
// parameters exist and their search types come from the generated R4
// registry (package fhir/searchparam), the one source of truth for
// them; paramPaths adds what the registry does not hold, the element
// paths (the expressions of the R4 SearchParameter resources).
var searchParams = deriveParams(paramPaths)

// paramPaths gives the element paths of the token and date parameters
// the check reads, by type and code.
var paramPaths = map[string]map[string][]elemPath{
	"Observation": {
		"category": paths(elem("category")),
		"code":     paths(elem("code")),
		"status":   paths(elem("status")),
		"date":     paths(choiceOf("effective")),
	},
	"Condition": {
		"category":            paths(elem("category")),
		"code":                paths(elem("code")),
		"clinical-status":     paths(elem("clinicalStatus")),
		"verification-status": paths(elem("verificationStatus")),
		"severity":            paths(elem("severity")),
		"onset-date":          paths(choiceOf("onset")),
		"recorded-date":       paths(elem("recordedDate")),
		"abatement-date":      paths(choiceOf("abatement")),
	},
	"Encounter": {
		"class":  paths(elem("class")),
		"type":   paths(elem("type")),
		"status": paths(elem("status")),
		"date":   paths(elem("period")),
	},
	"DiagnosticReport": {
		"category": paths(elem("category")),
		"code":     paths(elem("code")),
		"status":   paths(elem("status")),
		"date":     paths(choiceOf("effective")),
		"issued":   paths(elem("issued")),
	},
	"Procedure": {
		"category": paths(elem("category")),
		"code":     paths(elem("code")),
		"status":   paths(elem("status")),
		"date":     paths(choiceOf("performed")),
	},
	"MedicationRequest": {
		"category":   paths(elem("category")),
		"code":       paths(choiceOf("medication")),
		"status":     paths(elem("status")),
		"intent":     paths(elem("intent")),
		"authoredon": paths(elem("authoredOn")),
	},
	"MedicationStatement": {
		"category":  paths(elem("category")),
		"code":      paths(choiceOf("medication")),
		"status":    paths(elem("status")),
		"effective": paths(choiceOf("effective")),
	},
	"MedicationAdministration": {
		"code":           paths(choiceOf("medication")),
		"status":         paths(elem("status")),
		"effective-time": paths(choiceOf("effective")),
	},
	"MedicationDispense": {
		"code":           paths(choiceOf("medication")),
		"status":         paths(elem("status")),
		"whenhandedover": paths(elem("whenHandedOver")),
	},
	"AllergyIntolerance": {
		"category":            paths(elem("category")),
		"clinical-status":     paths(elem("clinicalStatus")),
		"verification-status": paths(elem("verificationStatus")),
		"code":                paths(elem("code")),
		"type":                paths(elem("type")),
		"criticality":         paths(elem("criticality")),
		"date":                paths(elem("recordedDate")),
	},
	"Immunization": {
		"status":       paths(elem("status")),
		"vaccine-code": paths(elem("vaccineCode")),
		"date":         paths(choiceOf("occurrence")),
	},
	"DocumentReference": {
		"category": paths(elem("category")),
		"type":     paths(elem("type")),
		"status":   paths(elem("status")),
		"date":     paths(elem("date")),
		"period":   paths(elem("context", "period")),
	},
	"ServiceRequest": {
		"category": paths(elem("category")),
		"code":     paths(elem("code")),
		"status":   paths(elem("status")),
		"intent":   paths(elem("intent")),
		"authored": paths(elem("authoredOn")),
	},
	"CarePlan": {
		"category": paths(elem("category")),
		"status":   paths(elem("status")),
		"intent":   paths(elem("intent")),
		"date":     paths(elem("period")),
	},
	"CareTeam":              {"category": paths(elem("category")), "status": paths(elem("status")), "date": paths(elem("period"))},
	"ClinicalImpression":    {"status": paths(elem("status")), "date": paths(elem("date"))},
	"Composition":           {"category": paths(elem("category")), "type": paths(elem("type")), "status": paths(elem("status")), "date": paths(elem("date"))},
	"Consent":               {"category": paths(elem("category")), "status": paths(elem("status")), "date": paths(elem("dateTime"))},
	"EpisodeOfCare":         {"status": paths(elem("status")), "type": paths(elem("type")), "date": paths(elem("period"))},
	"FamilyMemberHistory":   {"status": paths(elem("status")), "date": paths(elem("date"))},
	"Flag":                  {"category": paths(elem("category")), "date": paths(elem("period"))},
	"List":                  {"code": paths(elem("code")), "status": paths(elem("status")), "date": paths(elem("date"))},
	"RiskAssessment":        {"date": paths(choiceOf("occurrence"))},
	"SupplyRequest":         {"category": paths(elem("category")), "status": paths(elem("status")), "date": paths(elem("authoredOn"))},
	"DeviceRequest":         {"code": paths(choiceOf("code")), "status": paths(elem("status")), "intent": paths(elem("intent")), "authored-on": paths(elem("authoredOn"))},
	"Specimen":              {"type": paths(elem("type")), "status": paths(elem("status")), "collected": paths(choiceOf("collection", "collected"))},
	"ImagingStudy":          {"status": paths(elem("status")), "started": paths(elem("started"))},
	"Communication":         {"category": paths(elem("category")), "status": paths(elem("status")), "sent": paths(elem("sent"))},
	"CommunicationRequest":  {"category": paths(elem("category")), "status": paths(elem("status")), "authored": paths(elem("authoredOn"))},
	"QuestionnaireResponse": {"status": paths(elem("status")), "authored": paths(elem("authored"))},
	"NutritionOrder":        {"status": paths(elem("status")), "datetime": paths(elem("dateTime"))},
	"Appointment":           {"status": paths(elem("status")), "date": paths(elem("start"))},
	"Goal":                  {"category": paths(elem("category")), "start-date": paths(choiceOf("start"))},
	"DetectedIssue":         {"code": paths(elem("code")), "identified": paths(choiceOf("identified"))},
}

// deriveParams joins paramPaths with the R4 registry: a parameter's
// kind is its registry type. A code the registry does not know for the
// type, or of another search type, is a programming error caught when
// the package loads (and by every test of it): a table that drifted from
// the registry would make the check read a constraint the upstream
// interprets differently.
func deriveParams(paths map[string]map[string][]elemPath) map[string]map[string]*paramDef {
	out := make(map[string]map[string]*paramDef, len(paths))
	for typ, params := range paths {
		defs := make(map[string]*paramDef, len(params))
		for code, ps := range params {
			kind, ok := beyondR4[typ+"."+code]
			if !ok {
				var err error
				if kind, err = registryKind(typ, code); err != nil {
					panic(err)
				}
			}
			defs[code] = &paramDef{kind: kind, paths: ps}
		}
		out[typ] = defs
	}
	return out
}

// beyondR4 are the parameters of paramPaths that R4 does not define,
// with their kinds. The check reads their elements, which R4 has, so a
// scope constraint on them is verified on the response rather than left
// to an upstream that may not know the parameter. A test keeps each one
// absent from the registry: once the registry has it, its type comes
// from there.
var beyondR4 = map[string]valueKind{
	"Flag.category": kindToken, // R5's Flag-category; R4 has the element only
}

// registryKind is the valueKind of an R4 search parameter of a type.
func registryKind(typ, code string) (valueKind, error) {
	p, ok := searchparam.Lookup(typ, code)
	switch {
	case !ok:
		return 0, fmt.Errorf("enforce: %s has no R4 search parameter %q", typ, code)
	case p.Type == searchparam.Token:
		return kindToken, nil
	case p.Type == searchparam.Date:
		return kindDate, nil
	}
	return 0, fmt.Errorf("enforce: %s.%s is a %s parameter, not token or date", typ, code, p.Type)
}

// clinicalDates maps a type to the elements that hold its clinical date, for
// historical_depth: the R4 shared search parameter clinical-date ("date":
// AllergyIntolerance.recordedDate, CarePlan.period, ... Observation.effective,
// Procedure.performed, ...) and, for types it does not cover, the date
// parameter that plays its part (MedicationRequest.authoredOn, ...). A
// Condition has both onset and recordedDate; its clinical date is the
// earlier of the two. A type missing here has no clinical date: under a
// bound, it is withheld.
var clinicalDates = map[string]*paramDef{
	"AllergyIntolerance":       dateParam(elem("recordedDate")),
	"CarePlan":                 dateParam(elem("period")),
	"CareTeam":                 dateParam(elem("period")),
	"ClinicalImpression":       dateParam(elem("date")),
	"Composition":              dateParam(elem("date")),
	"Condition":                dateParam(choiceOf("onset"), elem("recordedDate")),
	"Consent":                  dateParam(elem("dateTime")),
	"DiagnosticReport":         dateParam(choiceOf("effective")),
	"Encounter":                dateParam(elem("period")),
	"EpisodeOfCare":            dateParam(elem("period")),
	"FamilyMemberHistory":      dateParam(elem("date")),
	"Flag":                     dateParam(elem("period")),
	"Immunization":             dateParam(choiceOf("occurrence")),
	"List":                     dateParam(elem("date")),
	"Observation":              dateParam(choiceOf("effective")),
	"Procedure":                dateParam(choiceOf("performed")),
	"RiskAssessment":           dateParam(choiceOf("occurrence")),
	"SupplyRequest":            dateParam(elem("authoredOn")),
	"MedicationRequest":        dateParam(elem("authoredOn")),
	"MedicationStatement":      dateParam(choiceOf("effective")),
	"MedicationAdministration": dateParam(choiceOf("effective")),
	"MedicationDispense":       dateParam(elem("whenHandedOver")),
	"ServiceRequest":           dateParam(elem("authoredOn")),
	"DeviceRequest":            dateParam(elem("authoredOn")),
	"DocumentReference":        dateParam(elem("date")),
	"Specimen":                 dateParam(choiceOf("collection", "collected")),
	"ImagingStudy":             dateParam(elem("started")),
	"Communication":            dateParam(elem("sent")),
	"CommunicationRequest":     dateParam(elem("authoredOn")),
	"QuestionnaireResponse":    dateParam(elem("authored")),
	"NutritionOrder":           dateParam(elem("dateTime")),
	"Appointment":              dateParam(elem("start")),
	"Goal":                     dateParam(choiceOf("start")),
	"DetectedIssue":            dateParam(choiceOf("identified")),
}

// ClinicalDateParams returns, per resource type, the search parameter whose
// "ge" narrows a search to a historical_depth: one that reads only elements
// of the type's clinical date, so it never removes a resource the response
// check would let through, except one that lacks that element. The policy's
// data (clinical_date/data.json) must agree; a test checks it.
func ClinicalDateParams() map[string]string {
	out := make(map[string]string, len(clinicalDateParams))
	for k, v := range clinicalDateParams {
		out[k] = v
	}
	return out
}

var clinicalDateParams = map[string]string{
	"AllergyIntolerance":       "date",
	"CarePlan":                 "date",
	"CareTeam":                 "date",
	"ClinicalImpression":       "date",
	"Composition":              "date",
	"Condition":                "recorded-date",
	"Consent":                  "date",
	"DiagnosticReport":         "date",
	"Encounter":                "date",
	"EpisodeOfCare":            "date",
	"FamilyMemberHistory":      "date",
	"Flag":                     "date",
	"Immunization":             "date",
	"List":                     "date",
	"Observation":              "date",
	"Procedure":                "date",
	"RiskAssessment":           "date",
	"SupplyRequest":            "date",
	"MedicationRequest":        "authoredon",
	"MedicationStatement":      "effective",
	"MedicationAdministration": "effective-time",
	"MedicationDispense":       "whenhandedover",
	"ServiceRequest":           "authored",
	"DeviceRequest":            "authored-on",
	"DocumentReference":        "date",
	"Specimen":                 "collected",
	"ImagingStudy":             "started",
	"Communication":            "sent",
	"CommunicationRequest":     "authored",
	"QuestionnaireResponse":    "authored",
	"NutritionOrder":           "datetime",
	"Appointment":              "date",
	"Goal":                     "start-date",
	"DetectedIssue":            "identified",
}
