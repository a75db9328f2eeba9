package fhir

import (
	_ "embed"
	"strings"
)

// CompartmentEntry says how a resource type belongs to the Patient
// compartment.
//
// Params are the search parameter names listed for the type in the R4
// CompartmentDefinition (http://hl7.org/fhir/CompartmentDefinition/patient,
// version 4.0.1), in that document's order. A request narrowed to one patient
// uses them as "<param>=Patient/<id>".
//
// ParamPaths maps each of those names to the JSON element paths its FHIRPath
// expression (R4 search-parameters.json) selects, with the resource type
// prefix and any ".where(resolve() is Patient)" filter removed. A path is a
// list of JSON member names walked from the resource root; any member on the
// way may hold an array, in which case every element is followed. Every path
// ends at a Reference (all compartment parameters of R4 are reference
// parameters), whose "reference" names the patient, e.g. "Patient/123".
//
// Paths is the de-duplicated union of ParamPaths, in order of first
// appearance: the places response enforcement must look at to decide whether
// a resource is inside a patient's compartment.
//
// ByID is true only for Patient: a Patient resource is in its own compartment
// through its logical id ({def} in the CompartmentDefinition), in addition to
// Patient.link.other.
type CompartmentEntry struct {
	Params     []string
	ParamPaths map[string][][]string
	Paths      [][]string
	ByID       bool
}

// compartmentParam is one inclusion criterion of the compartment definition
// and the dotted element paths (below the resource root) it resolves to.
type compartmentParam struct {
	name  string
	paths []string
}

// patientCompartmentSource is the hand-transcribed R4 data. Sources: the
// CompartmentDefinition/patient resource of FHIR 4.0.1 (param names) and the
// expressions of the R4 search parameters with those names on each type.
var patientCompartmentSource = map[string][]compartmentParam{
	"Account":                     {{"subject", []string{"subject"}}},
	"AdverseEvent":                {{"subject", []string{"subject"}}},
	"AllergyIntolerance":          {{"patient", []string{"patient"}}, {"recorder", []string{"recorder"}}, {"asserter", []string{"asserter"}}},
	"Appointment":                 {{"actor", []string{"participant.actor"}}},
	"AppointmentResponse":         {{"actor", []string{"actor"}}},
	"AuditEvent":                  {{"patient", []string{"agent.who", "entity.what"}}},
	"Basic":                       {{"patient", []string{"subject"}}, {"author", []string{"author"}}},
	"BodyStructure":               {{"patient", []string{"patient"}}},
	"CarePlan":                    {{"patient", []string{"subject"}}, {"performer", []string{"activity.detail.performer"}}},
	"CareTeam":                    {{"patient", []string{"subject"}}, {"participant", []string{"participant.member"}}},
	"ChargeItem":                  {{"subject", []string{"subject"}}},
	"Claim":                       {{"patient", []string{"patient"}}, {"payee", []string{"payee.party"}}},
	"ClaimResponse":               {{"patient", []string{"patient"}}},
	"ClinicalImpression":          {{"subject", []string{"subject"}}},
	"Communication":               {{"subject", []string{"subject"}}, {"sender", []string{"sender"}}, {"recipient", []string{"recipient"}}},
	"CommunicationRequest":        {{"subject", []string{"subject"}}, {"sender", []string{"sender"}}, {"recipient", []string{"recipient"}}, {"requester", []string{"requester"}}},
	"Composition":                 {{"subject", []string{"subject"}}, {"author", []string{"author"}}, {"attester", []string{"attester.party"}}},
	"Condition":                   {{"patient", []string{"subject"}}, {"asserter", []string{"asserter"}}},
	"Consent":                     {{"patient", []string{"patient"}}},
	"Coverage":                    {{"policy-holder", []string{"policyHolder"}}, {"subscriber", []string{"subscriber"}}, {"beneficiary", []string{"beneficiary"}}, {"payor", []string{"payor"}}},
	"CoverageEligibilityRequest":  {{"patient", []string{"patient"}}},
	"CoverageEligibilityResponse": {{"patient", []string{"patient"}}},
	"DetectedIssue":               {{"patient", []string{"patient"}}},
	"DeviceRequest":               {{"subject", []string{"subject"}}, {"performer", []string{"performer"}}},
	"DeviceUseStatement":          {{"subject", []string{"subject"}}},
	"DiagnosticReport":            {{"subject", []string{"subject"}}},
	"DocumentManifest":            {{"subject", []string{"subject"}}, {"author", []string{"author"}}, {"recipient", []string{"recipient"}}},
	"DocumentReference":           {{"subject", []string{"subject"}}, {"author", []string{"author"}}},
	"Encounter":                   {{"patient", []string{"subject"}}},
	"EnrollmentRequest":           {{"subject", []string{"candidate"}}},
	"EpisodeOfCare":               {{"patient", []string{"patient"}}},
	"ExplanationOfBenefit":        {{"patient", []string{"patient"}}, {"payee", []string{"payee.party"}}},
	"FamilyMemberHistory":         {{"patient", []string{"patient"}}},
	"Flag":                        {{"patient", []string{"subject"}}},
	"Goal":                        {{"patient", []string{"subject"}}},
	"Group":                       {{"member", []string{"member.entity"}}},
	"ImagingStudy":                {{"patient", []string{"subject"}}},
	"Immunization":                {{"patient", []string{"patient"}}},
	"ImmunizationEvaluation":      {{"patient", []string{"patient"}}},
	"ImmunizationRecommendation":  {{"patient", []string{"patient"}}},
	"Invoice":                     {{"subject", []string{"subject"}}, {"patient", []string{"subject"}}, {"recipient", []string{"recipient"}}},
	"List":                        {{"subject", []string{"subject"}}, {"source", []string{"source"}}},
	"MeasureReport":               {{"patient", []string{"subject"}}},
	"Media":                       {{"subject", []string{"subject"}}},
	"MedicationAdministration":    {{"patient", []string{"subject"}}, {"performer", []string{"performer.actor"}}, {"subject", []string{"subject"}}},
	"MedicationDispense":          {{"subject", []string{"subject"}}, {"patient", []string{"subject"}}, {"receiver", []string{"receiver"}}},
	"MedicationRequest":           {{"subject", []string{"subject"}}},
	"MedicationStatement":         {{"subject", []string{"subject"}}},
	"MolecularSequence":           {{"patient", []string{"patient"}}},
	"NutritionOrder":              {{"patient", []string{"patient"}}},
	"Observation":                 {{"subject", []string{"subject"}}, {"performer", []string{"performer"}}},
	"Patient":                     {{"link", []string{"link.other"}}},
	"Person":                      {{"patient", []string{"link.target"}}},
	"Procedure":                   {{"patient", []string{"subject"}}, {"performer", []string{"performer.actor"}}},
	"Provenance":                  {{"patient", []string{"target"}}},
	"QuestionnaireResponse":       {{"subject", []string{"subject"}}, {"author", []string{"author"}}},
	"RelatedPerson":               {{"patient", []string{"patient"}}},
	"RequestGroup":                {{"subject", []string{"subject"}}, {"participant", []string{"action.participant"}}},
	"ResearchSubject":             {{"individual", []string{"individual"}}},
	"RiskAssessment":              {{"subject", []string{"subject"}}},
	"Schedule":                    {{"actor", []string{"actor"}}},
	"ServiceRequest":              {{"subject", []string{"subject"}}, {"performer", []string{"performer"}}},
	"Specimen":                    {{"subject", []string{"subject"}}},
	"SupplyDelivery":              {{"patient", []string{"patient"}}},
	"SupplyRequest":               {{"subject", []string{"deliverTo"}}},
	"VisionPrescription":          {{"patient", []string{"patient"}}},
}

// PatientCompartment holds, for every resource type that can be in the R4
// Patient compartment, how it gets there. Types absent from the map are never
// in the Patient compartment (Medication, Organization, Practitioner, ...).
//
// Treat the map and its slices as read-only: it is shared by all requests.
var PatientCompartment = buildPatientCompartment(patientCompartmentSource)

func buildPatientCompartment(src map[string][]compartmentParam) map[string]CompartmentEntry {
	out := make(map[string]CompartmentEntry, len(src))
	for typ, params := range src {
		e := CompartmentEntry{
			Params:     make([]string, 0, len(params)),
			ParamPaths: make(map[string][][]string, len(params)),
			ByID:       typ == "Patient",
		}
		seen := map[string]bool{}
		for _, p := range params {
			e.Params = append(e.Params, p.name)
			for _, dotted := range p.paths {
				path := strings.Split(dotted, ".")
				e.ParamPaths[p.name] = append(e.ParamPaths[p.name], path)
				if !seen[dotted] {
					seen[dotted] = true
					e.Paths = append(e.Paths, path)
				}
			}
		}
		out[typ] = e
	}
	return out
}

//go:embed compartment_patient.json
var patientCompartmentJSON []byte

// PatientCompartmentJSON returns the same data as PatientCompartment, as the
// JSON document fhir/compartment_patient.json (a copy; callers may keep it).
// Its shape is:
//
//	{"fhirVersion": "4.0.1", "compartment": "Patient", "source": [...],
//	 "resources": {"Observation": {"byId": false, "params": [
//	     {"name": "subject", "paths": ["subject"]},
//	     {"name": "performer", "paths": ["performer"]}]}, ...}}
//
// Paths are dotted here (split on "." to get CompartmentEntry paths). The
// policy team copies parameter names from it; a test keeps it equal to the Go
// data.
func PatientCompartmentJSON() []byte {
	return append([]byte(nil), patientCompartmentJSON...)
}
