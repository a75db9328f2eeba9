package demodata

// The demo's patients. Patient 1 (national id 000000018) is "our patient":
// the demo and the end-to-end suite mostly ask for her data, and the traps
// in other patients' resources point at her. Patients 2 and 3 hold the data
// the suite uses to prove that nothing of theirs reaches patient 1's token.
const (
	Patient1    = "hdp-demo-patient-1"
	Patient1Old = "hdp-demo-patient-1-old"
	Patient2    = "hdp-demo-patient-2"
	Patient3    = "hdp-demo-patient-3"

	p1 = "Patient/" + Patient1
	p2 = "Patient/" + Patient2
	p3 = "Patient/" + Patient3
)

// NationalIDs of the demo patients (all with a valid check digit).
var NationalIDs = map[string]string{
	Patient1:    "000000018",
	Patient1Old: "000000018",
	Patient2:    "000000026",
	Patient3:    "000000034",
}

func lab(code, display string) Object { return concept(loinc, code, display) }

// shared: organisations, practitioners, a location and a medication that
// every patient's resources reference (buckets organization, practitioner,
// medications).
func shared() []Object {
	return []Object{
		O("resourceType", "Organization", "id", "hospital-department",
			"meta", meta("il-hdp-organization", label("organization")),
			"identifier", []Object{O("system", "http://fhir.health.gov.il/identifier/moh-hospital-department", "value", "12345-abc12", "use", "official")},
			"active", true,
			"name", "מחלקה פנימית א׳, בית חולים לדוגמה"),
		O("resourceType", "Organization", "id", "ministry-of-health",
			"meta", meta("il-hdp-organization", label("organization")),
			"active", true,
			"name", "משרד הבריאות"),
		O("resourceType", "Location", "id", "hospital-unit",
			"meta", meta("il-hdp-location", label("organization")),
			"status", "active",
			"name", "Ward A nursing unit",
			"managingOrganization", ref("Organization/hospital-department")),
		O("resourceType", "Practitioner", "id", "practitioner-md-ward-a",
			"meta", meta("il-hdp-practitioner", label("practitioner")),
			"identifier", []Object{O("system", "http://practitioners.health.gov.il/Practitioners", "value", "1-12345")},
			"active", true,
			"name", []Object{O("family", "Cohen", "given", []string{"Yael"}, "prefix", []string{"Dr."})}),
		O("resourceType", "Practitioner", "id", "practitioner-nurse-ward-a",
			"meta", meta("il-hdp-practitioner", label("practitioner")),
			"identifier", []Object{O("system", "http://practitioners.health.gov.il/Practitioners", "value", "29-54321")},
			"active", true,
			"name", []Object{O("family", "Peretz", "given", []string{"Shira"})}),
		O("resourceType", "Medication", "id", "amoxicillin",
			"meta", meta("il-hdp-medication", label("medications")),
			"code", concept("http://www.whocc.no/atc", "J01CA04", "Amoxicillin 500mg capsule")),
	}
}

// patient1 is our patient: every bucket, dates either side of a 2024
// depth limit, and the traps that sit in her own record.
func patient1() []Object {
	seg := "Encounter/p1-segment-ward-2025"
	er := "Encounter/p1-er-2025"
	visit2019 := "Encounter/p1-gp-visit-2019"
	return []Object{
		patient(Patient1, "000000018", "תמר", "כהן", "Tamar", "Cohen", "female", "1955-04-17"),
		// A second record with the same national id (an old registration
		// never merged): the PEP must treat both ids as the patient's.
		patient(Patient1Old, "000000018", "תמר", "כהן", "Tamar", "Cohen", "female", "1955-04-17"),

		// Encounter history: version 1 dated 2023, version 2 (current)
		// dated 2025. The loader turns a repeated id into a new version.
		encounter(encounterSpec{id: "p1-gp-visit", patient: p1, profile: "il-hdp-encounter-community-hmo-ambulatory",
			class: "AMB", classDisplay: "ambulatory", typ: "GP visit", status: "planned",
			start: "2023-04-10T09:00:00+03:00", end: "2023-04-10T09:20:00+03:00",
			lastUpdated: "2023-04-01T08:00:00Z", labels: []Object{label("encounterInformation")}}),
		encounter(encounterSpec{id: "p1-gp-visit", patient: p1, profile: "il-hdp-encounter-community-hmo-ambulatory",
			class: "AMB", classDisplay: "ambulatory", typ: "GP visit",
			start: "2025-04-10T09:00:00+03:00", end: "2025-04-10T09:20:00+03:00",
			lastUpdated: "2025-04-10T10:00:00Z", labels: []Object{label("encounterInformation")}}),
		encounter(encounterSpec{id: "p1-gp-visit-2019", patient: p1, profile: "il-hdp-encounter-community-hmo-ambulatory",
			class: "AMB", classDisplay: "ambulatory", typ: "GP visit",
			start: "2019-05-14T10:00:00+03:00", end: "2019-05-14T10:15:00+03:00",
			labels: []Object{label("encounterInformation")}}),
		// Part-of chain: a 2025 ward segment of a hospitalization that
		// began in 2023.
		encounter(encounterSpec{id: "p1-hospitalization-2023", patient: p1, profile: "il-hdp-encounter-hospitalization",
			class: "IMP", classDisplay: "inpatient encounter", typ: "Rehabilitation hospitalization",
			start: "2023-11-20T14:00:00+02:00", end: "2025-01-15T12:00:00+02:00",
			labels: []Object{label("encounterInformation")}}),
		encounter(encounterSpec{id: "p1-segment-ward-2025", patient: p1, profile: "il-hdp-encounter-inpatient-care-segment",
			class: "IMP", classDisplay: "inpatient encounter", typ: "Inpatient care segment, ward A",
			start: "2025-01-02T08:00:00+02:00", end: "2025-01-15T12:00:00+02:00",
			partOf: "Encounter/p1-hospitalization-2023", location: "Location/hospital-unit",
			labels: []Object{aliasLabel("encounterInformation")}}),
		// The ER visit's reason is a restricted (V) Condition: reachable
		// with _include=Encounter:reason-reference.
		encounter(encounterSpec{id: "p1-er-2025", patient: p1, profile: "il-hdp-encounter-inpatient-care-segment",
			class: "EMER", classDisplay: "emergency", typ: "Emergency department visit",
			start: "2025-02-03T07:45:00+02:00", end: "2025-02-03T13:10:00+02:00",
			reason: "Condition/p1-restricted-diagnosis",
			labels: []Object{label("encounterInformation")}}),

		observation(observationSpec{id: "p1-hemoglobin", patient: p1, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("718-7", "Hemoglobin [Mass/volume] in Blood"), date: "2025-02-03T08:30:00+02:00", encounter: er,
			value: quantity(12.4, "g/dL"), labels: []Object{label("laboratoryTests")}}),
		observation(observationSpec{id: "p1-glucose-2019", patient: p1, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2339-0", "Glucose [Mass/volume] in Blood"), date: "2019-05-14T08:00:00+03:00", encounter: visit2019,
			value: quantity(96, "mg/dL"), labels: []Object{label("laboratoryTests")}}),
		observation(observationSpec{id: "p1-cholesterol", patient: "Patient/" + Patient1Old, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma"), date: "2024-11-05T14:30:00Z",
			value: quantity(182, "mg/dL"), labels: []Object{oddLabel("LaboratoryTests")}}),
		observation(observationSpec{id: "p1-bp", patient: p1, profile: "il-hdp-bp", category: "vital-signs",
			code: lab("85354-9", "Blood pressure panel"), date: "2025-01-05T07:00:00+02:00", encounter: seg,
			performers: []string{"Practitioner/practitioner-nurse-ward-a"}, labels: []Object{label("measurements")}}),
		observation(observationSpec{id: "p1-chief-complaint", patient: p1, profile: "il-hdp-patient-reported-chief-complaint", category: "survey",
			code: lab("10154-3", "Chief complaint Narrative - Reported"), date: "2025-02-03T07:50:00+02:00", encounter: er,
			value: "Shortness of breath since yesterday", labels: []Object{label("encounterInformation")}}),
		observation(observationSpec{id: "p1-unlabelled-weight", patient: p1, category: "vital-signs",
			code: lab("29463-7", "Body weight"), date: "2025-01-05T07:00:00+02:00", encounter: seg,
			performers: []string{"Practitioner/practitioner-nurse-ward-a"}, value: quantity(68, "kg")}),

		condition("p1-asthma-2019", p1, "195967001", "Asthma", "2019-05-14", "2019-05-14", visit2019, label("diagnoses")),
		condition("p1-pneumonia-2025", p1, "385093006", "Community acquired pneumonia", "2025-01-02", "2025-01-02", seg, label("diagnoses")),
		condition("p1-restricted-diagnosis", p1, "86406008", "Human immunodeficiency virus infection", "2025-02-03", "2025-02-03", er,
			label("diagnoses"), restricted),

		O("resourceType", "AllergyIntolerance", "id", "p1-aspirin-intolerance",
			"meta", meta("il-hdp-allergy-intolerance", label("allergiesAndIntolerances")),
			"clinicalStatus", O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code", "active")}),
			"type", "intolerance",
			"category", []string{"medication"},
			"code", concept(snomed, "387458008", "Aspirin"),
			"patient", ref(p1),
			"recordedDate", "2025-01-03"),
		O("resourceType", "MedicationRequest", "id", "p1-amoxicillin-2019",
			"meta", meta("il-hdp-medication-request", label("medications")),
			"status", "completed",
			"intent", "order",
			"medicationReference", ref("Medication/amoxicillin"),
			"subject", ref(p1),
			"encounter", ref(visit2019),
			"authoredOn", "2019-05-14",
			"requester", ref("Practitioner/practitioner-md-ward-a")),
		O("resourceType", "MedicationStatement", "id", "p1-fluoxetine-2025",
			"meta", meta("il-hdp-medication-statement", label("medications")),
			"status", "active",
			"medicationCodeableConcept", concept("http://www.whocc.no/atc", "N06AB03", "Fluoxetine 20 mg"),
			"subject", ref(p1),
			"effectivePeriod", O("start", "2025-02-10"),
			"dateAsserted", "2025-02-10"),

		labReport("p1-lipid-panel", "Patient/"+Patient1Old, "57698-3", "Lipid panel with direct LDL - Serum or Plasma",
			"2024-11-05T15:00:00Z", "", []string{"Observation/p1-cholesterol"}, label("laboratoryTests")),
		// A lab report that is not restricted itself but contains a
		// restricted result.
		labReport("p1-viral-load-report", p1, "25836-8", "HIV 1 RNA panel", "2025-02-04T10:00:00+02:00", er,
			[]string{"#viral-load"}, label("laboratoryTests")).
			With("contained", []Object{O(
				"resourceType", "Observation",
				"id", "viral-load",
				"meta", meta("", label("laboratoryTests"), restricted),
				"status", "final",
				"code", lab("20447-9", "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma"),
				"subject", ref(p1),
				"effectiveDateTime", "2025-02-04T08:00:00+02:00",
				"valueString", "not detected",
			)}),
		O("resourceType", "Specimen", "id", "p1-biopsy",
			"meta", meta("il-hdp-specimen-pathology", label("pathology")),
			"status", "available",
			"type", concept(snomed, "122737001", "Tissue specimen from lung"),
			"subject", ref(p1),
			"collection", O("collectedDateTime", "2025-01-08T11:00:00+02:00")),
		O("resourceType", "DiagnosticReport", "id", "p1-pathology-biopsy",
			"meta", meta("il-hdp-diagnostic-report", label("pathology")),
			"status", "final",
			"category", []Object{O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/v2-0074", "code", "SP", "display", "Surgical Pathology")})},
			"code", concept(loinc, "60567-5", "Comprehensive pathology report panel"),
			"subject", ref(p1),
			"encounter", ref(seg),
			"effectiveDateTime", "2025-01-10T12:00:00+02:00",
			"specimen", refs("Specimen/p1-biopsy"),
			"conclusion", "No malignancy."),
		O("resourceType", "ServiceRequest", "id", "p1-chest-xray",
			"meta", meta("il-hdp-service-request", label("diagnosticImaging")),
			"status", "completed",
			"intent", "order",
			"code", concept(snomed, "399208008", "Plain chest X-ray"),
			"subject", ref(p1),
			"encounter", ref(seg),
			"authoredOn", "2025-01-02T09:00:00+02:00",
			"requester", ref("Practitioner/practitioner-md-ward-a")),
	}
}

// patient2 is another patient (000000026), David Levi, whose mother is
// patient 1: several of his resources name her, as performer, care team
// member, recipient, subscriber or author, without being hers.
func patient2() []Object {
	gp23, gp24, er := "Encounter/p2-gp-visit-2023", "Encounter/p2-gp-visit-2024", "Encounter/p2-er-2025"
	return []Object{
		patient(Patient2, "000000026", "דוד", "לוי", "David", "Levi", "male", "1980-02-14"),
		encounter(encounterSpec{id: "p2-gp-visit-2023", patient: p2, class: "AMB", classDisplay: "ambulatory", typ: "GP visit",
			start: "2023-06-05T09:00:00+03:00", end: "2023-06-05T09:20:00+03:00", labels: []Object{label("encounterInformation")}}),
		encounter(encounterSpec{id: "p2-gp-visit-2024", patient: p2, class: "AMB", classDisplay: "ambulatory", typ: "GP visit",
			start: "2024-05-02T10:00:00+03:00", end: "2024-05-02T10:15:00+03:00", labels: []Object{aliasLabel("encounterInformation")}}),
		encounter(encounterSpec{id: "p2-er-2025", patient: p2, class: "EMER", classDisplay: "emergency", typ: "Emergency department visit",
			start: "2025-03-10T07:45:00+02:00", end: "2025-03-10T13:10:00+02:00", labels: []Object{label("encounterInformation")}}),

		observation(observationSpec{id: "p2-hemoglobin", patient: p2, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("718-7", "Hemoglobin [Mass/volume] in Blood"), date: "2025-03-10T08:30:00+02:00", encounter: er,
			value: quantity(13.9, "g/dL"), labels: []Object{label("laboratoryTests")}}),
		observation(observationSpec{id: "p2-glucose", patient: p2, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2339-0", "Glucose [Mass/volume] in Blood"), date: "2023-06-01T08:00:00+03:00",
			value: quantity(102, "mg/dL"), labels: []Object{aliasLabel("laboratoryTests")}}),
		observation(observationSpec{id: "p2-potassium", patient: p2, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2823-3", "Potassium [Moles/volume] in Serum or Plasma"), date: "2024-07-20T08:10:00+03:00",
			value: quantity(4.2, "mmol/L"), labels: []Object{oddLabel("LaboratoryTests")}}),
		observation(observationSpec{id: "p2-ki67", patient: p2, category: "laboratory",
			code: text("Ki-67 proliferation index"), date: "2024-09-10T12:00:00+03:00",
			value: "15% of tumour cells", labels: []Object{label("laboratoryTests"), label("pathology")}}),
		observation(observationSpec{id: "p2-bp", patient: p2, profile: "il-hdp-bp", category: "vital-signs",
			code: lab("85354-9", "Blood pressure panel"), date: "2024-05-02T10:05:00+03:00", encounter: gp24,
			labels: []Object{label("measurements")}}),
		observation(observationSpec{id: "p2-unlabelled-ldl", patient: p2, category: "laboratory",
			code: lab("2089-1", "Cholesterol in LDL [Mass/volume] in Serum or Plasma"), date: "2024-08-01T08:00:00+03:00",
			value: quantity(131, "mg/dL")}),
		// Attribution trap: David's home glucose test, performed by his
		// mother (patient 1). Observation's Patient compartment includes
		// performer, yet this is not her data.
		observation(observationSpec{id: "p2-home-glucose", patient: p2, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2339-0", "Glucose [Mass/volume] in Blood"), date: "2025-04-01T07:30:00+03:00",
			performers: []string{p1}, value: quantity(98, "mg/dL"), labels: []Object{label("laboratoryTests")}}),

		condition("p2-type-2-diabetes", p2, "44054006", "Diabetes mellitus type 2", "2023-06-05", "2023-06-05", gp23, label("diagnoses")),
		condition("p2-hypertension", p2, "38341003", "Hypertensive disorder", "2024-05-02", "2024-05-02", gp24, aliasLabel("diagnoses")),
		labReport("p2-cbc", p2, "58410-2", "CBC panel - Blood by Automated count", "2025-03-10T09:00:00+02:00", er,
			[]string{"Observation/p2-hemoglobin"}, label("laboratoryTests")),
		O("resourceType", "AllergyIntolerance", "id", "p2-penicillin-allergy",
			"meta", meta("il-hdp-allergy-intolerance", label("allergiesAndIntolerances")),
			"clinicalStatus", O("coding", []Object{O("system", "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code", "active")}),
			"category", []string{"medication"},
			"criticality", "high",
			"code", concept(snomed, "764146007", "Penicillin"),
			"patient", ref(p2),
			"recordedDate", "2023-06-05"),
		O("resourceType", "MedicationStatement", "id", "p2-metformin",
			"meta", meta("il-hdp-medication-statement", label("medications")),
			"status", "active",
			"medicationCodeableConcept", concept("http://www.whocc.no/atc", "A10BA02", "Metformin 850 mg"),
			"subject", ref(p2),
			"effectivePeriod", O("start", "2023-06-05"),
			"dateAsserted", "2024-05-02"),

		// Patient 1 appears in these only as a participant.
		O("resourceType", "CareTeam", "id", "p2-care-team",
			"meta", meta("il-hdp-care-team", label("practitioner")),
			"status", "active",
			"name", "David Levi diabetes care team",
			"subject", ref(p2),
			"participant", []Object{
				O("role", []Object{text("responsiblePerson")}, "member", ref(p1)),
				O("role", []Object{text("physician")}, "member", ref("Practitioner/practitioner-md-ward-a")),
			},
			"managingOrganization", refs("Organization/hospital-department")),
		O("resourceType", "Communication", "id", "p2-result-letter",
			"meta", meta("il-hdp-communication-pathology", label("pathology")),
			"status", "completed",
			"subject", ref(p2),
			"recipient", refs(p1),
			"sender", ref("Practitioner/practitioner-md-ward-a"),
			"sent", "2024-09-12T10:00:00+03:00",
			"payload", []Object{O("contentString", "Ki-67 result for David Levi is available.")}),
		O("resourceType", "Coverage", "id", "p2-coverage",
			"meta", meta("", label("patientDemographics")),
			"status", "active",
			"subscriber", ref(p1),
			"beneficiary", ref(p2),
			"relationship", concept("http://terminology.hl7.org/CodeSystem/subscriber-relationship", "child", "Child"),
			"payor", refs("Organization/ministry-of-health")),
		O("resourceType", "Composition", "id", "p2-family-history-note",
			"meta", meta("", label("encounterInformation")),
			"status", "final",
			"type", concept(loinc, "10157-6", "History of family member diseases Narrative"),
			"subject", ref(p2),
			"encounter", ref(er),
			"date", "2025-03-10T12:00:00+02:00",
			"author", refs(p1),
			"title", "Family history reported by the patient's mother"),
	}
}

// patient3 is a third patient (000000034), whose lab results include a
// restricted (V) one.
func patient3() []Object {
	gp, hosp := "Encounter/p3-gp-visit-2021", "Encounter/p3-hospitalization-2024"
	return []Object{
		patient(Patient3, "000000034", "נועה", "מזרחי", "Noa", "Mizrahi", "female", "1995-11-03"),
		encounter(encounterSpec{id: "p3-gp-visit-2021", patient: p3, class: "AMB", classDisplay: "ambulatory", typ: "GP visit",
			start: "2021-01-05T11:00:00+02:00", end: "2021-01-05T11:20:00+02:00", labels: []Object{aliasLabel("encounterInformation")}}),
		encounter(encounterSpec{id: "p3-hospitalization-2024", patient: p3, profile: "il-hdp-encounter-hospitalization",
			class: "IMP", classDisplay: "inpatient encounter", typ: "Internal medicine hospitalization",
			start: "2024-09-14T22:30:00+03:00", end: "2024-09-17T12:00:00+03:00", labels: []Object{label("encounterInformation")}}),
		observation(observationSpec{id: "p3-creatinine", patient: p3, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"), date: "2024-09-15T06:30:00+03:00", encounter: hosp,
			value: quantity(0.8, "mg/dL"), labels: []Object{label("laboratoryTests")}}),
		observation(observationSpec{id: "p3-tsh", patient: p3, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma"), date: "2021-01-05T08:00:00+02:00", encounter: gp,
			value: quantity(2.1, "m[IU]/L"), labels: []Object{aliasLabel("laboratoryTests")}}),
		observation(observationSpec{id: "p3-ferritin", patient: p3, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("2276-4", "Ferritin [Mass/volume] in Serum or Plasma"), date: "2025-01-20T08:00:00+02:00",
			value: quantity(35, "ng/mL"), labels: []Object{oddLabel("LABORATORYTESTS")}}),
		// In the lab search result set of patient 3, labelled V.
		observation(observationSpec{id: "p3-restricted-lab", patient: p3, profile: "il-hdp-observation-lab", category: "laboratory",
			code: lab("20447-9", "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma"), date: "2024-09-16T06:30:00+03:00", encounter: hosp,
			value: "not detected", labels: []Object{label("laboratoryTests"), restricted}}),
		observation(observationSpec{id: "p3-weight", patient: p3, category: "vital-signs",
			code: lab("29463-7", "Body weight"), date: "2024-09-15T07:00:00+03:00", encounter: hosp,
			value: quantity(61.5, "kg"), labels: []Object{label("measurements")}}),
		observation(observationSpec{id: "p3-unlabelled-heart-rate", patient: p3, category: "vital-signs",
			code: lab("8867-4", "Heart rate"), date: "2024-09-15T07:00:00+03:00", encounter: hosp,
			value: quantity(72, "/min")}),
		condition("p3-asthma", p3, "195967001", "Asthma", "2012-01-01", "2019-04-01", "", label("diagnoses")),
		labReport("p3-renal-panel", p3, "24362-6", "Renal function panel - Serum or Plasma", "2024-09-15T09:00:00+03:00", hosp,
			[]string{"Observation/p3-creatinine"}, label("laboratoryTests")),
		O("resourceType", "ServiceRequest", "id", "p3-chest-ct",
			"meta", meta("il-hdp-service-request", label("diagnosticImaging")),
			"status", "completed",
			"intent", "order",
			"code", concept(snomed, "169069000", "Computed tomography of chest"),
			"subject", ref(p3),
			"encounter", ref(hosp),
			"authoredOn", "2024-09-14T23:00:00+03:00",
			"requester", ref("Practitioner/practitioner-md-ward-a")),
	}
}
