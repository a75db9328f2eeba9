package fhir

import (
	"slices"
	"strings"
	"testing"
)

func TestResourceTypes(t *testing.T) {
	// The R4 4.0.1 resource-types code system has 148 codes; minus the
	// abstract Resource and DomainResource that leaves 146. The Patient
	// CompartmentDefinition lists 145 of them: all but Parameters.
	if got := len(ResourceTypes); got != 146 {
		t.Fatalf("len(ResourceTypes) = %d, want 146", got)
	}
	for _, typ := range ResourceTypes {
		if typ == "Parameters" {
			continue
		}
		if _, inDefinition := compartmentDefinitionTypes[typ]; !inDefinition {
			t.Errorf("%s missing from the compartment definition's type list", typ)
		}
	}
	if len(compartmentDefinitionTypes) != 145 {
		t.Fatalf("compartment definition lists %d types, want 145", len(compartmentDefinitionTypes))
	}
	if !slices.IsSorted(ResourceTypes) {
		t.Fatal("ResourceTypes not sorted")
	}
	if len(resourceTypeSet) != len(ResourceTypes) {
		t.Fatal("duplicate resource types")
	}
}

// compartmentDefinitionTypes is every CompartmentDefinition.resource.code of
// the R4 Patient compartment definition, an independent second listing of the
// R4 resource types.
var compartmentDefinitionTypes = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, typ := range strings.Fields(`
		Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent Basic
		Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan CareTeam CatalogEntry
		ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication
		CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage
		CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric
		DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis
		Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
		EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal GraphDefinition Group
		GuidanceResponse HealthcareService ImagingStudy Immunization ImmunizationEvaluation
		ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List Location Measure
		MeasureReport Media Medication MedicationAdministration MedicationDispense MedicationKnowledge
		MedicationRequest MedicationStatement MedicinalProduct MedicinalProductAuthorization
		MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient
		MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged
		MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition MessageHeader
		MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition
		OperationOutcome Organization OrganizationAffiliation Patient PaymentNotice PaymentReconciliation Person
		PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse
		RelatedPerson RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject
		RiskAssessment RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen
		SpecimenDefinition StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid
		SubstancePolymer SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial
		SubstanceSpecification SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport TestScript
		ValueSet VerificationResult VisionPrescription`) {
		m[typ] = struct{}{}
	}
	return m
}()

func TestIsResourceType(t *testing.T) {
	tests := []struct {
		typ  string
		want bool
	}{
		{"Observation", true},
		{"Patient", true},
		{"Parameters", true},
		{"Bundle", true},
		{"MedicinalProductUndesirableEffect", true},
		{"observation", false},
		{"OBSERVATION", false},
		{"Resource", false},
		{"DomainResource", false},
		// R5-only types are not R4.
		{"ActorDefinition", false},
		{"NutritionIntake", false},
		{"DeviceUsage", false},
		{"", false},
		{"Observation ", false},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			if got := IsResourceType(tc.typ); got != tc.want {
				t.Fatalf("IsResourceType(%q) = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

func TestIsCompartmentType(t *testing.T) {
	for _, typ := range []string{"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"} {
		if !IsCompartmentType(typ) {
			t.Errorf("IsCompartmentType(%q) = false", typ)
		}
	}
	for _, typ := range []string{"Observation", "patient", "Group", ""} {
		if IsCompartmentType(typ) {
			t.Errorf("IsCompartmentType(%q) = true", typ)
		}
	}
}
