package enforce

import (
	"errors"
	"strings"
	"testing"
)

const (
	obsCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	pathology   = "Pathology"
)

func bkt(code string) Bucket { return Bucket{System: HDPBucketSystem, Code: code} }

func ruleAccess(t *testing.T, rules []Rule, depths ...Depth) *Access {
	t.Helper()
	a, err := testEnforcer(t).Access(Scope{PatientIDs: []string{ownID}, Rules: rules, Depths: depths})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// res builds an own resource of typ with the bucket labels and members.
func res(typ, id string, labels []string, members ...string) string {
	ref := `"subject":{"reference":"Patient/a"}`
	if typ == "AllergyIntolerance" {
		ref = `"patient":{"reference":"Patient/a"}`
	}
	s := `{"resourceType":"` + typ + `","id":"` + id + `",` + metaLabels(labels...) + `,` + ref
	for _, m := range members {
		s += "," + m
	}
	return s + "}"
}

func lab(members ...string) string {
	return res("Observation", "o", []string{"laboratoryTests"}, members...)
}

func TestRulesOnRead(t *testing.T) {
	labOnly := []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}}}
	tests := []struct {
		name   string
		rules  []Rule
		depths []Depth
		body   string
		want   Reason
	}{
		// A repeated parameter in one scope is AND.
		{"repeated _security, both carried",
			[]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests"), bkt(pathology)}, Constraints: []Constraint{
				{"_security", HDPBucketSystem + "|LaboratoryTests"}, {"_security", HDPBucketSystem + "|" + pathology}}}},
			nil, res("Observation", "o", []string{"laboratoryTests", "pathology"}), ReasonNone},
		{"repeated _security, one carried",
			[]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests"), bkt(pathology)}, Constraints: []Constraint{
				{"_security", HDPBucketSystem + "|LaboratoryTests"}, {"_security", HDPBucketSystem + "|" + pathology}}}},
			nil, lab(), ReasonConstraint},
		{"_security alias system and code case",
			[]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"_security", HDPBucketSystemLegacy + "|LABORATORYTESTS"}}}},
			nil, lab(), ReasonNone},
		{"_security comma items are OR",
			[]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"_security", HDPBucketSystem + "|x," + HDPBucketSystem + "|laboratoryTests"}}}},
			nil, lab(), ReasonNone},
		{"non-bucket _security label required and present",
			[]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N"}}}},
			nil, `{"resourceType":"Observation","meta":{"security":[` + label("laboratoryTests") + `,{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}]},"subject":{"reference":"Patient/a"}}`, ReasonNone},
		{"non-bucket _security label required and absent",
			[]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N"}}}},
			nil, lab(), ReasonConstraint},

		// Token constraints.
		{"category system|code", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", obsCategory + "|laboratory"}}}},
			nil, lab(`"category":[{"coding":[{"system":"` + obsCategory + `","code":"laboratory"}]}]`), ReasonNone},
		{"category code only", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", "laboratory"}}}},
			nil, lab(`"category":[{"coding":[{"system":"x","code":"vital-signs"},{"system":"` + obsCategory + `","code":"laboratory"}]}]`), ReasonNone},
		{"category other code", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", "laboratory"}}}},
			nil, lab(`"category":[{"coding":[{"system":"` + obsCategory + `","code":"vital-signs"}]}]`), ReasonConstraint},
		{"category code case differs", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", "laboratory"}}}},
			nil, lab(`"category":[{"coding":[{"code":"Laboratory"}]}]`), ReasonConstraint},
		{"category other system", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", obsCategory + "|laboratory"}}}},
			nil, lab(`"category":[{"coding":[{"system":"x","code":"laboratory"}]}]`), ReasonConstraint},
		{"category |code needs no system", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", "|laboratory"}}}},
			nil, lab(`"category":[{"coding":[{"system":"x","code":"laboratory"}]}]`), ReasonConstraint},
		{"category system| any code", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", obsCategory + "|"}}}},
			nil, lab(`"category":[{"coding":[{"system":"` + obsCategory + `","code":"x"}]}]`), ReasonNone},
		{"category missing", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", "laboratory"}}}},
			nil, lab(), ReasonConstraint},
		{"status is a code element", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"status", "final,amended"}}}},
			nil, lab(`"status":"amended"`), ReasonNone},
		{"status not in list", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"status", "final"}}}},
			nil, lab(`"status":"preliminary"`), ReasonConstraint},
		{"escaped category key and value", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"category", "laboratory"}}}},
			nil, lab(`"c\u0061tegory":[{"coding":[{"code":"l\u0061boratory"}]}]`), ReasonNone},
		{"medication[x] CodeableConcept", []Rule{{Type: "MedicationRequest", Buckets: []Bucket{bkt("Medications")}, Constraints: []Constraint{{"code", "s|1"}}}},
			nil, res("MedicationRequest", "m", []string{"medications"}, `"medicationCodeableConcept":{"coding":[{"system":"s","code":"1"}]}`), ReasonNone},
		{"medication[x] Reference is not a code", []Rule{{Type: "MedicationRequest", Buckets: []Bucket{bkt("Medications")}, Constraints: []Constraint{{"code", "s|1"}}}},
			nil, res("MedicationRequest", "m", []string{"medications"}, `"medicationReference":{"reference":"Medication/1"}`), ReasonConstraint},

		// Date constraints.
		{"Encounter period in range", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, res("Encounter", "e", []string{"encounterInformation"}, `"period":{"start":"2024-03-01T10:00:00+02:00","end":"2024-03-02"}`), ReasonNone},
		{"Encounter period before", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, res("Encounter", "e", []string{"encounterInformation"}, `"period":{"start":"2023-03-01","end":"2023-03-02"}`), ReasonConstraint},
		{"Encounter period reaching into range", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, res("Encounter", "e", []string{"encounterInformation"}, `"period":{"start":"2023-12-30","end":"2024-01-01"}`), ReasonNone},
		{"Encounter without period", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, res("Encounter", "e", []string{"encounterInformation"}), ReasonConstraint},
		{"Encounter open period", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, res("Encounter", "e", []string{"encounterInformation"}, `"period":{"start":"2020-01-01"}`), ReasonNone},
		{"Encounter malformed period start", []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, res("Encounter", "e", []string{"encounterInformation"}, `"period":{"start":"soon","end":"2025-01-01"}`), ReasonConstraint},
		{"two date constraints: a range", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"date", "ge2024-01-01"}, {"date", "lt2025"}}}},
			nil, lab(`"effectiveDateTime":"2025-02-01"`), ReasonConstraint},
		{"effective[x] Period", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, lab(`"effectivePeriod":{"start":"2024-05-01"}`), ReasonNone},
		{"effective[x] Timing cannot be read", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}}},
			nil, lab(`"effectiveTiming":{"event":["2024-05-01"]}`), ReasonConstraint},
		{"date value with a time is not verifiable", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"date", "ge2024-01-01T10:00:00Z"}}}},
			nil, lab(`"effectiveDateTime":"2025-02-01"`), ReasonConstraint},

		// Constraints the check cannot verify fail outside a narrowed search.
		{"unknown parameter", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"performer-type", "x"}}, Narrowed: true}},
			nil, lab(), ReasonConstraint},
		{"modifier", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"code:text", "x"}}, Narrowed: true}},
			nil, lab(), ReasonConstraint},

		// Union of scopes: one rule is enough.
		{"second rule lets it out", append([]Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"status", "final"}}}}, labOnly...),
			nil, lab(`"status":"preliminary"`), ReasonNone},
		{"wildcard rule with a constraint of this type", []Rule{{Type: "*", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"status", "final"}}}},
			nil, lab(`"status":"final"`), ReasonNone},
		{"bucket of no rule", labOnly, nil, res("Observation", "o", []string{"mentalHealth"}), ReasonNoBucket},

		// historical_depth.
		{"depth: on the bound", labOnly, []Depth{{bkt("laboratoryTests"), "2024-01-01"}}, lab(`"effectiveDateTime":"2024-01-01T00:10:00+02:00"`), ReasonNone},
		{"depth: before", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"effectiveDateTime":"2023-12-31"`), ReasonHistoricalDepth},
		{"depth: year only, same year", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"effectiveDateTime":"2024"`), ReasonNone},
		{"depth: year only, could be before", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-06-01"}}, lab(`"effectiveDateTime":"2024"`), ReasonHistoricalDepth},
		{"depth: no date", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(), ReasonHistoricalDepth},
		{"depth: period without start", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"effectivePeriod":{"end":"2025-01-01"}`), ReasonHistoricalDepth},
		{"depth: period start after", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"effectivePeriod":{"start":"2024-02-01"}`), ReasonNone},
		{"depth: unreadable choice", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"effectiveInstant":"2025-01-01T00:00:00Z"`), ReasonNone},
		{"depth: Timing", labOnly, []Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"effectiveTiming":{}`), ReasonHistoricalDepth},
		{"depth: other bucket without depth", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests"), bkt("Measurements")}}},
			[]Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, res("Observation", "o", []string{"laboratoryTests", "measurements"}, `"effectiveDateTime":"2001-01-01"`), ReasonNone},
		{"depth: legacy system alias", labOnly, []Depth{{Bucket{HDPBucketSystemLegacy, "laboratorytests"}, "2024-01-01"}}, lab(`"effectiveDateTime":"2023-01-01"`), ReasonHistoricalDepth},
		{"depth: Condition takes the earlier of onset and recordedDate", []Rule{{Type: "Condition", Buckets: []Bucket{bkt("Diagnoses")}}},
			[]Depth{{bkt("Diagnoses"), "2024-01-01"}}, res("Condition", "c", []string{"diagnoses"}, `"onsetDateTime":"2020-05-01"`, `"recordedDate":"2025-01-01"`), ReasonHistoricalDepth},
		{"depth: Condition with onsetString", []Rule{{Type: "Condition", Buckets: []Bucket{bkt("Diagnoses")}}},
			[]Depth{{bkt("Diagnoses"), "2024-01-01"}}, res("Condition", "c", []string{"diagnoses"}, `"onsetString":"childhood"`, `"recordedDate":"2025-01-01"`), ReasonHistoricalDepth},
		{"depth: Condition recorded after", []Rule{{Type: "Condition", Buckets: []Bucket{bkt("Diagnoses")}}},
			[]Depth{{bkt("Diagnoses"), "2024-01-01"}}, res("Condition", "c", []string{"diagnoses"}, `"recordedDate":"2025-01-01"`), ReasonNone},
		{"depth: AllergyIntolerance recordedDate", []Rule{{Type: "AllergyIntolerance", Buckets: []Bucket{bkt("Allergies")}}},
			[]Depth{{bkt("Allergies"), "2024-01-01"}}, res("AllergyIntolerance", "al", []string{"allergies"}, `"recordedDate":"2023-01-01"`), ReasonHistoricalDepth},
		{"depth: a type without clinical date", []Rule{{Type: "Practitioner", Buckets: []Bucket{bkt("Practitioner")}}},
			[]Depth{{bkt("Practitioner"), "2024-01-01"}}, `{"resourceType":"Practitioner",` + metaLabels("practitioner") + `}`, ReasonHistoricalDepth},
		{"depth: nested path (Specimen collection.collected[x])", []Rule{{Type: "Specimen", Buckets: []Bucket{bkt("LaboratoryTests")}}},
			[]Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, res("Specimen", "s", []string{"laboratoryTests"}, `"collection":{"collectedDateTime":"2023-01-01"}`), ReasonHistoricalDepth},
		{"depth: nested path after", []Rule{{Type: "Specimen", Buckets: []Bucket{bkt("LaboratoryTests")}}},
			[]Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, res("Specimen", "s", []string{"laboratoryTests"}, `"collection":{"collectedPeriod":{"start":"2024-02-01"}}`), ReasonNone},
		{"depth and constraint both", []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}, Constraints: []Constraint{{"status", "final"}}}},
			[]Depth{{bkt("LaboratoryTests"), "2024-01-01"}}, lab(`"status":"final"`, `"effectiveDateTime":"2024-02-01"`), ReasonNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ruleAccess(t, tc.rules, tc.depths...)
			v, err := a.CheckResource([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if v.Reason != tc.want || v.Allowed != (tc.want == ReasonNone) {
				t.Fatalf("verdict %+v (%s), want %s", v, v.Reason, tc.want)
			}
		})
	}
}

// TestRulesOnEveryPath: what a narrowed search's match entries may trust,
// includes, history and vread may not.
func TestRulesOnEveryPath(t *testing.T) {
	enc := func(id, start string) string {
		return res("Encounter", id, []string{"encounterInformation"}, `"period":{"start":"`+start+`","end":"`+start+`"}`)
	}
	dated := []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"date", "ge2024-01-01"}}, Narrowed: true}}
	unverifiable := []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"participant-type", "ATND"}}, Narrowed: true}}
	notNarrowed := []Rule{{Type: "Encounter", Buckets: []Bucket{bkt("EncounterInformation")}, Constraints: []Constraint{{"participant-type", "ATND"}}}}
	tests := []struct {
		name     string
		rules    []Rule
		body     string
		narrowed string
		kept     []string
	}{
		{"_include of an old Encounter", dated,
			bundle("searchset", entries(ent("Encounter/new", enc("new", "2024-05-01"), "match"), ent("Encounter/old", enc("old", "2023-05-01"), "include"))),
			"Encounter", []string{`"new"`}},
		{"match entry outside the date is withheld too (verifiable)", dated,
			bundle("searchset", entries(ent("Encounter/old", enc("old", "2023-05-01"), "match"))), "Encounter", nil},
		{"history of old versions", dated,
			bundle("history", entries(ent("Encounter/e/_history/2", enc("e2", "2024-05-01"), ""), ent("Encounter/e/_history/1", enc("e1", "2023-05-01"), ""))),
			"", []string{`"e2"`}},
		{"unverifiable constraint: match entries of the narrowed search pass", unverifiable,
			bundle("searchset", entries(ent("Encounter/m", enc("m", "2023-05-01"), "match"), ent("Encounter/i", enc("i", "2024-05-01"), "include"))),
			"Encounter", []string{`"m"`}},
		{"unverifiable constraint: without search mode, still a match", unverifiable,
			bundle("searchset", entries(ent("Encounter/m", enc("m", "2023-05-01"), ""))), "Encounter", []string{`"m"`}},
		{"unverifiable constraint: another narrowed type trusts nothing", unverifiable,
			bundle("searchset", entries(ent("Encounter/m", enc("m", "2023-05-01"), "match"))), "Observation", nil},
		{"unverifiable constraint: history trusts nothing", unverifiable,
			bundle("history", entries(ent("Encounter/m", enc("m", "2023-05-01"), ""))), "Encounter", nil},
		{"unverifiable constraint: rule not narrowed", notNarrowed,
			bundle("searchset", entries(ent("Encounter/m", enc("m", "2023-05-01"), "match"))), "Encounter", nil},
		{"unverifiable constraint: contained failure still withholds", unverifiable,
			bundle("searchset", entries(ent("Encounter/m", res("Encounter", "m", []string{"encounterInformation"}, `"contained":[{"resourceType":"Patient"}]`), "match"))), "Encounter", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ruleAccess(t, tc.rules)
			out, _, err := a.FilterBundle([]byte(tc.body), FilterOptions{NarrowedType: tc.narrowed})
			if err != nil {
				t.Fatal(err)
			}
			got := string(out)
			n := strings.Count(got, `"resourceType":"Encounter"`)
			if n != len(tc.kept) {
				t.Fatalf("kept %d, want %v: %s", n, tc.kept, got)
			}
			for _, id := range tc.kept {
				if !strings.Contains(got, `"id":`+id) {
					t.Fatalf("missing %s: %s", id, got)
				}
			}
		})
	}
	// vread of an old version: CheckResource never trusts.
	a := ruleAccess(t, unverifiable)
	if v, err := a.CheckResource([]byte(enc("e1", "2024-05-01"))); err != nil || v.Allowed || v.Reason != ReasonConstraint {
		t.Fatalf("vread with an unverifiable constraint: %+v %v", v, err)
	}
	a = ruleAccess(t, dated)
	if v, err := a.CheckResource([]byte(enc("e1", "2023-05-01"))); err != nil || v.Allowed || v.Reason != ReasonConstraint {
		t.Fatalf("vread of a 2023 version under date=ge2024-01-01: %+v %v", v, err)
	}
}

func TestScopeRejects(t *testing.T) {
	e := testEnforcer(t)
	bad := []Scope{
		{Rules: []Rule{{Type: "observation"}}},
		{Rules: []Rule{{Type: "Observation", Buckets: []Bucket{{System: "s"}}}}},
		{Rules: []Rule{{Type: "Observation", Constraints: []Constraint{{Name: "date"}}}}},
		{Depths: []Depth{{Bucket: bkt("x"), Since: "2024"}}},
		{Depths: []Depth{{Bucket: bkt("x"), Since: "2024-13-01"}}},
		{Depths: []Depth{{Bucket: Bucket{Code: "x"}, Since: "2024-01-01"}}},
	}
	for i, sc := range bad {
		if _, err := e.Access(sc); err == nil {
			t.Errorf("%d: accepted %+v", i, sc)
		}
	}
	// Two depths for one bucket: the later, stricter one holds.
	a, err := e.Access(Scope{PatientIDs: []string{ownID},
		Rules:  []Rule{{Type: "Observation", Buckets: []Bucket{bkt("LaboratoryTests")}}},
		Depths: []Depth{{bkt("LaboratoryTests"), "2024-01-01"}, {bkt("laboratorytests"), "2020-01-01"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := a.CheckResource([]byte(lab(`"effectiveDateTime":"2022-01-01"`))); v.Allowed {
		t.Fatal("the earlier of two depths was used")
	}
	if _, err := a.CheckResource([]byte(lab(`"status":"final","status":"x"`))); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate keys while reading facts: %v", err)
	}
}
