package enforce

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

func tokenParam(paths ...elemPath) *paramDef { return &paramDef{kind: kindToken, paths: paths} }

func dateParam(paths ...elemPath) *paramDef { return &paramDef{kind: kindDate, paths: paths} }

// securityParam is _security: verified on meta.security, which the checker
// reads for every resource anyway (bucket systems compared as aliases, bucket
// codes case-insensitively, as for grants).
const securityParam = "_security"

// searchParams maps a resource type to its verifiable parameters (R4,
// expressions of the SearchParameter resources of the same code).
var searchParams = map[string]map[string]*paramDef{
	"Observation": {
		"category": tokenParam(elem("category")),
		"code":     tokenParam(elem("code")),
		"status":   tokenParam(elem("status")),
		"date":     dateParam(choiceOf("effective")),
	},
	"Condition": {
		"category":            tokenParam(elem("category")),
		"code":                tokenParam(elem("code")),
		"clinical-status":     tokenParam(elem("clinicalStatus")),
		"verification-status": tokenParam(elem("verificationStatus")),
		"severity":            tokenParam(elem("severity")),
		"onset-date":          dateParam(choiceOf("onset")),
		"recorded-date":       dateParam(elem("recordedDate")),
		"abatement-date":      dateParam(choiceOf("abatement")),
	},
	"Encounter": {
		"class":  tokenParam(elem("class")),
		"type":   tokenParam(elem("type")),
		"status": tokenParam(elem("status")),
		"date":   dateParam(elem("period")),
	},
	"DiagnosticReport": {
		"category": tokenParam(elem("category")),
		"code":     tokenParam(elem("code")),
		"status":   tokenParam(elem("status")),
		"date":     dateParam(choiceOf("effective")),
		"issued":   dateParam(elem("issued")),
	},
	"Procedure": {
		"category": tokenParam(elem("category")),
		"code":     tokenParam(elem("code")),
		"status":   tokenParam(elem("status")),
		"date":     dateParam(choiceOf("performed")),
	},
	"MedicationRequest": {
		"category":   tokenParam(elem("category")),
		"code":       tokenParam(choiceOf("medication")),
		"status":     tokenParam(elem("status")),
		"intent":     tokenParam(elem("intent")),
		"authoredon": dateParam(elem("authoredOn")),
	},
	"MedicationStatement": {
		"category":  tokenParam(elem("category")),
		"code":      tokenParam(choiceOf("medication")),
		"status":    tokenParam(elem("status")),
		"effective": dateParam(choiceOf("effective")),
	},
	"MedicationAdministration": {
		"code":           tokenParam(choiceOf("medication")),
		"status":         tokenParam(elem("status")),
		"effective-time": dateParam(choiceOf("effective")),
	},
	"MedicationDispense": {
		"code":           tokenParam(choiceOf("medication")),
		"status":         tokenParam(elem("status")),
		"whenhandedover": dateParam(elem("whenHandedOver")),
	},
	"AllergyIntolerance": {
		"category":            tokenParam(elem("category")),
		"clinical-status":     tokenParam(elem("clinicalStatus")),
		"verification-status": tokenParam(elem("verificationStatus")),
		"code":                tokenParam(elem("code")),
		"type":                tokenParam(elem("type")),
		"criticality":         tokenParam(elem("criticality")),
		"date":                dateParam(elem("recordedDate")),
	},
	"Immunization": {
		"status":       tokenParam(elem("status")),
		"vaccine-code": tokenParam(elem("vaccineCode")),
		"date":         dateParam(choiceOf("occurrence")),
	},
	"DocumentReference": {
		"category": tokenParam(elem("category")),
		"type":     tokenParam(elem("type")),
		"status":   tokenParam(elem("status")),
		"date":     dateParam(elem("date")),
		"period":   dateParam(elem("context", "period")),
	},
	"ServiceRequest": {
		"category": tokenParam(elem("category")),
		"code":     tokenParam(elem("code")),
		"status":   tokenParam(elem("status")),
		"intent":   tokenParam(elem("intent")),
		"authored": dateParam(elem("authoredOn")),
	},
	"CarePlan": {
		"category": tokenParam(elem("category")),
		"status":   tokenParam(elem("status")),
		"intent":   tokenParam(elem("intent")),
		"date":     dateParam(elem("period")),
	},
	"CareTeam":              {"category": tokenParam(elem("category")), "status": tokenParam(elem("status")), "date": dateParam(elem("period"))},
	"ClinicalImpression":    {"status": tokenParam(elem("status")), "date": dateParam(elem("date"))},
	"Composition":           {"category": tokenParam(elem("category")), "type": tokenParam(elem("type")), "status": tokenParam(elem("status")), "date": dateParam(elem("date"))},
	"Consent":               {"category": tokenParam(elem("category")), "status": tokenParam(elem("status")), "date": dateParam(elem("dateTime"))},
	"EpisodeOfCare":         {"status": tokenParam(elem("status")), "type": tokenParam(elem("type")), "date": dateParam(elem("period"))},
	"FamilyMemberHistory":   {"status": tokenParam(elem("status")), "date": dateParam(elem("date"))},
	"Flag":                  {"category": tokenParam(elem("category")), "date": dateParam(elem("period"))},
	"List":                  {"code": tokenParam(elem("code")), "status": tokenParam(elem("status")), "date": dateParam(elem("date"))},
	"RiskAssessment":        {"date": dateParam(choiceOf("occurrence"))},
	"SupplyRequest":         {"category": tokenParam(elem("category")), "status": tokenParam(elem("status")), "date": dateParam(elem("authoredOn"))},
	"DeviceRequest":         {"code": tokenParam(choiceOf("code")), "status": tokenParam(elem("status")), "intent": tokenParam(elem("intent")), "authored-on": dateParam(elem("authoredOn"))},
	"Specimen":              {"type": tokenParam(elem("type")), "status": tokenParam(elem("status")), "collected": dateParam(choiceOf("collection", "collected"))},
	"ImagingStudy":          {"status": tokenParam(elem("status")), "started": dateParam(elem("started"))},
	"Communication":         {"category": tokenParam(elem("category")), "status": tokenParam(elem("status")), "sent": dateParam(elem("sent"))},
	"CommunicationRequest":  {"category": tokenParam(elem("category")), "status": tokenParam(elem("status")), "authored": dateParam(elem("authoredOn"))},
	"QuestionnaireResponse": {"status": tokenParam(elem("status")), "authored": dateParam(elem("authored"))},
	"NutritionOrder":        {"status": tokenParam(elem("status")), "datetime": dateParam(elem("dateTime"))},
	"Appointment":           {"status": tokenParam(elem("status")), "date": dateParam(elem("start"))},
	"Goal":                  {"category": tokenParam(elem("category")), "start-date": dateParam(choiceOf("start"))},
	"DetectedIssue":         {"code": tokenParam(elem("code")), "identified": dateParam(choiceOf("identified"))},
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
