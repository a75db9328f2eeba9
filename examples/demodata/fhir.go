package demodata

// Code systems and the IG's information buckets.
const (
	// BucketSystem is the HDP IG's information-bucket code system.
	BucketSystem = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	// BucketSystemAlias is the spelling some national seeds use; data
	// sources hold both, so the demo data does too.
	BucketSystemAlias = "http://fhir.health.gov.il/cs/hdp-information-buckets"
	// ForbiddenLabelSystem with code V marks data that must never leave a
	// data source through the portability network.
	ForbiddenLabelSystem = "http://fhir.health.gov.il/cs/il-core-main-security-label"
	// NationalIDSystem is the Israeli national id identifier system.
	NationalIDSystem = "http://fhir.health.gov.il/identifier/il-national-id"

	profileBase = "http://hdp.fhir.health.gov.il/StructureDefinition/"
	loinc       = "http://loinc.org"
	snomed      = "http://snomed.info/sct"
	actCode     = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	obsCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	ucum        = "http://unitsofmeasure.org"
)

// Buckets are the IG's information-bucket codes, each with the display
// the IG examples use.
var Buckets = []struct{ Code, Display string }{
	{"patientDemographics", "דמוגרפיה"},
	{"encounterInformation", "מידע על מפגשים"},
	{"laboratoryTests", "בדיקות מעבדה"},
	{"measurements", "מדדים"},
	{"diagnoses", "אבחנות"},
	{"allergiesAndIntolerances", "אלרגיות ורגישויות"},
	{"medications", "תרופות"},
	{"pathology", "פתולוגיה"},
	{"diagnosticImaging", "דימות"},
	{"practitioner", "מטפל"},
	{"organization", "יחידה ארגונית"},
}

func bucketDisplay(code string) string {
	for _, b := range Buckets {
		if b.Code == code {
			return b.Display
		}
	}
	panic("demodata: unknown bucket " + code)
}

// label is a bucket label in the IG's system.
func label(code string) Object {
	return O("system", BucketSystem, "code", code, "display", bucketDisplay(code))
}

// aliasLabel is a bucket label in the alias system.
func aliasLabel(code string) Object {
	return O("system", BucketSystemAlias, "code", code, "display", bucketDisplay(code))
}

// oddLabel is a bucket label with unusual casing and no display, as found
// in real data: bucket codes compare case-insensitively.
func oddLabel(code string) Object {
	return O("system", BucketSystem, "code", code)
}

// restricted is the forbidden label.
var restricted = O("system", ForbiddenLabelSystem, "code", "V", "display", "very restricted")

// meta is a resource's meta: its security labels and, when given, an IG
// profile.
func meta(profile string, labels ...Object) Object {
	var profiles []string
	if profile != "" {
		profiles = []string{profileBase + profile}
	}
	return O("security", labels, "profile", profiles)
}

func ref(reference string) Object { return O("reference", reference) }

func refs(references ...string) []Object {
	out := make([]Object, len(references))
	for i, r := range references {
		out[i] = ref(r)
	}
	return out
}

func coding(system, code, display string) Object {
	return O("system", system, "code", code, "display", display)
}

func concept(system, code, display string) Object {
	return O("coding", []Object{coding(system, code, display)}, "text", display)
}

func text(s string) Object { return O("text", s) }

func quantity(value float64, unit string) Object {
	return O("value", value, "unit", unit, "system", ucum, "code", unit)
}

func patient(id, nationalID, heGiven, heFamily, enGiven, enFamily, gender, birthDate string) Object {
	return O(
		"resourceType", "Patient",
		"id", id,
		"meta", meta("il-hdp-patient", label("patientDemographics")),
		"identifier", []Object{O("system", NationalIDSystem, "value", nationalID)},
		"active", true,
		"name", []Object{
			O("use", "official", "family", heFamily, "given", []string{heGiven}, "text", heGiven+" "+heFamily),
			O("family", enFamily, "given", []string{enGiven}, "text", enGiven+" "+enFamily),
		},
		"gender", gender,
		"birthDate", birthDate,
	)
}

// encounterSpec describes an Encounter; class is a v3 ActCode.
type encounterSpec struct {
	id, patient, profile, class, classDisplay, typ string
	start, end                                     string
	status                                         string
	partOf, reason, location                       string
	lastUpdated                                    string
	labels                                         []Object
}

func encounter(s encounterSpec) Object {
	status := s.status
	if status == "" {
		status = "finished"
	}
	m := meta(s.profile, s.labels...)
	if s.lastUpdated != "" {
		m = O("lastUpdated", s.lastUpdated).append(m...)
	}
	var locations []Object
	if s.location != "" {
		locations = []Object{O("location", ref(s.location), "status", "completed")}
	}
	var reasons []Object
	if s.reason != "" {
		reasons = refs(s.reason)
	}
	var partOf any
	if s.partOf != "" {
		partOf = ref(s.partOf)
	}
	return O(
		"resourceType", "Encounter",
		"id", s.id,
		"meta", m,
		"status", status,
		"class", coding(actCode, s.class, s.classDisplay),
		"type", []Object{text(s.typ)},
		"subject", ref(s.patient),
		"participant", []Object{O("individual", ref("Practitioner/practitioner-md-ward-a"))},
		"period", O("start", s.start, "end", s.end),
		"reasonReference", reasons,
		"location", locations,
		"serviceProvider", ref("Organization/hospital-department"),
		"partOf", partOf,
	)
}

func (o Object) append(ms ...member) Object { return append(o, ms...) }

// observationSpec describes an Observation. value is a quantity Object or
// a string.
type observationSpec struct {
	id, patient, profile, category string
	code                           Object
	date, encounter                string
	performers                     []string
	value                          any
	labels                         []Object
}

func observation(s observationSpec) Object {
	var encounter any
	if s.encounter != "" {
		encounter = ref(s.encounter)
	}
	performers := s.performers
	if performers == nil {
		performers = []string{"Practitioner/practitioner-md-ward-a"}
	}
	var valueKey string
	switch s.value.(type) {
	case Object:
		valueKey = "valueQuantity"
	case string:
		valueKey = "valueString"
	case nil:
		valueKey = "valueString"
	default:
		panic("demodata: unsupported Observation value")
	}
	return O(
		"resourceType", "Observation",
		"id", s.id,
		"meta", meta(s.profile, s.labels...),
		"status", "final",
		"category", []Object{O("coding", []Object{O("system", obsCategory, "code", s.category)})},
		"code", s.code,
		"subject", ref(s.patient),
		"effectiveDateTime", s.date,
		"encounter", encounter,
		"performer", refs(performers...),
		valueKey, s.value,
	)
}

func condition(id, patient, code, display, onset, recorded, encounter string, labels ...Object) Object {
	var enc any
	if encounter != "" {
		enc = ref(encounter)
	}
	return O(
		"resourceType", "Condition",
		"id", id,
		"meta", meta("il-hdp-condition", labels...),
		"clinicalStatus", O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/condition-clinical", "code", "active")}),
		"verificationStatus", O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code", "confirmed")}),
		"category", []Object{O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/condition-category", "code", "problem-list-item")})},
		"code", concept(snomed, code, display),
		"subject", ref(patient),
		"onsetDateTime", onset,
		"recordedDate", recorded,
		"encounter", enc,
	)
}

func labReport(id, patient, code, display, date, encounter string, results []string, labels ...Object) Object {
	var enc any
	if encounter != "" {
		enc = ref(encounter)
	}
	return O(
		"resourceType", "DiagnosticReport",
		"id", id,
		"meta", meta("il-hdp-diagnostic-report", labels...),
		"status", "final",
		"category", []Object{O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/v2-0074", "code", "LAB")})},
		"code", concept(loinc, code, display),
		"subject", ref(patient),
		"encounter", enc,
		"effectiveDateTime", date,
		"issued", date,
		"result", refs(results...),
	)
}
