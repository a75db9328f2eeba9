package enforce

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// igCompartment adds the IG's other patient-compartment types (element
// paths from the R4 Patient CompartmentDefinition) to the test subset.
func igCompartment() map[string][][]string {
	c := testCompartment()
	for typ, paths := range map[string][][]string{
		"Communication":            {{"subject"}, {"sender"}, {"recipient"}},
		"Device":                   {{"patient"}},
		"DeviceRequest":            {{"subject"}, {"performer"}},
		"DeviceUseStatement":       {{"subject"}},
		"DocumentReference":        {{"subject"}, {"author"}},
		"EpisodeOfCare":            {{"patient"}},
		"Linkage":                  {},
		"MedicationAdministration": {{"subject"}, {"performer", "actor"}},
		"MedicationDispense":       {{"subject"}, {"receiver"}},
		"MedicationRequest":        {{"subject"}},
		"MedicationStatement":      {{"subject"}},
		"ServiceRequest":           {{"subject"}, {"performer"}},
		"SupplyDelivery":           {{"patient"}},
	} {
		c[typ] = paths
	}
	return c
}

func TestIGFixtures(t *testing.T) {
	e, err := New(Config{Compartment: igCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	var all []Bucket
	for _, c := range []string{"AllergiesAndIntolerances", "LaboratoryTests", "Medications", "Organization", "Diagnoses",
		"DiagnosticImaging", "EncounterInformation", "Measurements", "Pathology", "PatientDemographics", "Practitioner"} {
		all = append(all, Bucket{HDPBucketSystem, c})
	}
	a, err := e.Access(Scope{PatientIDs: []string{"patient-with-israeli-id"}, Grants: map[string][]Bucket{"*": all}})
	if err != nil {
		t.Fatal(err)
	}
	// The IG examples mostly belong to other patients (il-hdp-patient,
	// example): every verdict is pinned.
	want := map[string]Reason{
		"CareTeam-hdp-careTeam.json":                                           ReasonOtherPatient,
		"Communication-communication-hdp-pathology.json":                       ReasonOtherPatient,
		"Condition-burnt-ear.json":                                             ReasonNone,
		"Device-hdp-device-infusion-pump.json":                                 ReasonOtherPatient,
		"DeviceUseStatement-device-use-statement-cpap.json":                    ReasonOtherPatient,
		"DocumentReference-document-reference-pathology-report.json":           ReasonOtherPatient,
		"Encounter-hdp-community-hmo-ambulatory-gp-visit.json":                 ReasonOtherPatient,
		"Encounter-hdp-hospitalization-hospital1.json":                         ReasonOtherPatient,
		"Encounter-hdp-segment-er.json":                                        ReasonOtherPatient,
		"Encounter-hdp-segment-picc.json":                                      ReasonOtherPatient,
		"Encounter-hdp-segment-ward-a.json":                                    ReasonOtherPatient,
		"Encounter-hdp-supplemental-admission-ward-a.json":                     ReasonOtherPatient,
		"EpisodeOfCare-hdp-recurring-daily-hospitalization-program1.json":      ReasonOtherPatient,
		"Linkage-ILHDPLinkageExample.json":                                     ReasonNone,
		"Location-hospital-unit.json":                                          ReasonNone,
		"Medication-amoxicillin.json":                                          ReasonNone,
		"MedicationAdministration-hdp-medication-administration-morphine.json": ReasonNone,
		"MedicationDispense-hdp-medication-dispense.json":                      ReasonOtherPatient,
		"Observation-ExampleILHDPBP.json":                                      ReasonOtherPatient,
		"Observation-blood-glucose.json":                                       ReasonOtherPatient,
		"Observation-hdp-bp-admission-ward-a.json":                             ReasonOtherPatient,
		"Observation-hdp-chief-complaint-gp-visit.json":                        ReasonOtherPatient,
		"Observation-hdp-chief-complaint-hospitalization.json":                 ReasonOtherPatient,
		"Observation-hemoglobin-lab-test.json":                                 ReasonNone,
		"Organization-hospital-unit.json":                                      ReasonNone,
		"Organization-ministry-of-health.json":                                 ReasonNone,
		"Patient-patient-with-israeli-id.json":                                 ReasonNone,
		"Patient-with-hebrew-name.json":                                        ReasonOtherPatient,
		"Practitioner-anesthesiologist-with-expertise.json":                    ReasonNone,
		"Practitioner-practitioner-md-picc.json":                               ReasonNone,
		"Practitioner-practitioner-md-ward-a.json":                             ReasonNone,
		"Practitioner-practitioner-nurse-picc.json":                            ReasonNone,
		"Practitioner-practitioner-nurse-ward-a.json":                          ReasonNone,
		"PractitionerRole-gp.json":                                             ReasonNone,
		"RelatedPerson-guardian.json":                                          ReasonNone,
		"ServiceRequest-chest-xray.json":                                       ReasonOtherPatient,
		"Specimen-hdp-specimen-pathology-biopsy-1.json":                        ReasonNone,
		"Specimen-pathology.json":                                              ReasonNone,
		"Specimen-serum-patient.json":                                          ReasonNone,
		"Specimen-specimen-pathology-biopsy-1.json":                            ReasonNone,
		"Substance-blood-sample.json":                                          ReasonNone,
		"allergyIntolerance-HDP-aspirin-intolerance.json":                      ReasonNone,
		"bp.json":                                    ReasonOtherPatient,
		"device-dispense-pump.json":                  ReasonOtherPatient,
		"device-request-pump.json":                   ReasonOtherPatient,
		"diagnostic-lab-report.json":                 ReasonNone,
		"diagnostic-pathology-study.json":            ReasonNone,
		"medication-dispense.json":                   ReasonOtherPatient,
		"medicationStatement-fluoxetine-20-mg.json":  ReasonNone,
		"metamizole-for-gangreenous-tonsolitis.json": ReasonOtherPatient,
		"morphine-hospitalization.json":              ReasonNone,
		"paracetamol.json":                           ReasonNone,
	}
	files := fixtureFiles(t)
	if len(files) != len(want) {
		t.Fatalf("%d fixtures, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			v, err := a.CheckResource(body)
			if err != nil {
				t.Fatalf("fixture does not parse: %v", err)
			}
			if w, ok := want[filepath.Base(f)]; !ok || v.Reason != w {
				t.Fatalf("got %s, want %s", v.Reason, w)
			}
		})
	}
}

// igFixturesDir is where the HDP IG's own examples are looked for: the
// project's shared fixtures beside the repository, or FIXTURES_DIR. They
// are not part of the repository; the tests on them are an extra
// conformance check (the repository's own data is examples/demodata).
func igFixturesDir() string {
	if dir := os.Getenv("FIXTURES_DIR"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "shared", "fixtures", "hdp-ig-examples")
}

// fixtureFiles returns the IG examples, or skips the test, saying so,
// when they are not there.
func fixtureFiles(t testing.TB) []string {
	dir := igFixturesDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("SKIPPED: IG conformance check: the HDP IG example fixtures are not at %s (set FIXTURES_DIR to run it)", dir)
	}
	return files
}

// TestIGFixturesAcrossPatients puts every IG example in one searchset and
// filters it for two patients: no patient-compartment resource may reach
// both, and each output passes the checks on its own.
func TestIGFixturesAcrossPatients(t *testing.T) {
	e, err := New(Config{Compartment: igCompartment(), UpstreamBase: testUpstream, PublicBase: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	grants := map[string][]Bucket{"*": {{HDPBucketSystemLegacy, "laboratoryTests"}, {HDPBucketSystem, "ENCOUNTERINFORMATION"},
		{HDPBucketSystem, "medications"}, {HDPBucketSystem, "pathology"}, {HDPBucketSystem, "practitioner"}, {HDPBucketSystem, "patientDemographics"}}}
	var parts []string
	for _, f := range fixtureFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, `{"fullUrl":"`+testUpstream+`/`+filepath.Base(f)+`","resource":`+string(b)+`,"search":{"mode":"match"}}`)
	}
	body := []byte(`{"resourceType":"Bundle","type":"searchset","total":` + strconv.Itoa(len(parts)) + `,"entry":[` + strings.Join(parts, ",\n") + `]}`)
	kept := map[string][]string{}
	for _, pid := range []string{"patient-with-israeli-id", "il-hdp-patient"} {
		a, err := e.Access(Scope{PatientIDs: []string{pid}, Grants: grants})
		if err != nil {
			t.Fatal(err)
		}
		out, st, err := a.FilterBundle(body, FilterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Total *int
			Entry []struct {
				FullURL  string
				Resource json.RawMessage
			}
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		if b.Total == nil || *b.Total != len(b.Entry) || st.Returned != len(b.Entry) || st.Returned+st.WithheldCount() != len(parts) {
			t.Fatalf("%s: stats %+v, %d entries out", pid, st, len(b.Entry))
		}
		for _, en := range b.Entry {
			if v, err := a.CheckResource(en.Resource); err != nil || !v.Allowed {
				t.Fatalf("%s: %s in output fails on its own: %+v %v", pid, en.FullURL, v, err)
			}
			var r struct{ ResourceType string }
			_ = json.Unmarshal(en.Resource, &r)
			if e.compartment[r.ResourceType] != nil || r.ResourceType == "Patient" {
				kept[en.FullURL] = append(kept[en.FullURL], pid)
			}
		}
		t.Logf("%s: %d returned, withheld %v", pid, st.Returned, st.Withheld)
	}
	for url, pids := range kept {
		if len(pids) > 1 {
			t.Errorf("%s reached both patients", url)
		}
	}
	if len(kept) < 10 {
		t.Fatalf("too few patient resources kept to mean anything: %v", kept)
	}
}
