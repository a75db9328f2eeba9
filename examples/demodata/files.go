// Package demodata generates the demo FHIR server's data: three patients
// and the organisations and practitioners they reference, modelled on the
// Israeli HDP implementation guide's profiles and information buckets, with
// the traps the end-to-end suite and the demo rely on. The output is
// deterministic and committed under examples/fhir-server/data; a test
// checks that the committed files are what Files returns.
//
//	go run ./examples/cmd/gen-demo-data     (or: make demo-data)
package demodata

import (
	"fmt"
	"sort"
	"strings"
)

// Trap is a resource (or a chain of them) built to catch a PEP that gets
// something wrong; the data README lists them.
type Trap struct {
	Name      string   // short title
	Resources []string // Type/id (or Type/id#contained)
	Catches   string   // what a correct PEP must do, and the mistake it catches
}

// Traps documents every trap in the data.
var Traps = []Trap{
	{"Two records, one national id",
		[]string{"Patient/" + Patient1, "Patient/" + Patient1Old, "Observation/p1-cholesterol", "DiagnosticReport/p1-lipid-panel"},
		"Both Patient records carry 000000018; the cholesterol result and its report belong to the old record. " +
			"Patient 1's token must see them (the PEP resolves a national id to every Patient id), and a PEP that keeps only the first id loses them."},
	{"Restricted result in a lab search",
		[]string{"Observation/p3-restricted-lab"},
		"A laboratoryTests Observation of patient 3 also labelled " + ForbiddenLabelSystem + "|V: " +
			"a lab-scoped search for patient 3 matches it upstream; it must never leave the data source."},
	{"Restricted resource on an Encounter's _include path",
		[]string{"Encounter/p1-er-2025", "Condition/p1-restricted-diagnosis"},
		"The ER visit's reasonReference is a V-labelled Condition; `Encounter?_include=Encounter:reason-reference` " +
			"(or a Condition search) would return it. It must be withheld even though it is the patient's own."},
	{"Restricted contained resource",
		[]string{"DiagnosticReport/p1-viral-load-report#viral-load"},
		"The report carries only laboratoryTests, but its contained Observation is labelled V: the whole report must be withheld " +
			"(a contained resource cannot be removed without breaking the report's references)."},
	{"Dates either side of a depth limit",
		[]string{"Observation/p1-glucose-2019", "Encounter/p1-gp-visit-2019", "Condition/p1-asthma-2019", "MedicationRequest/p1-amoxicillin-2019",
			"Observation/p1-hemoglobin", "Condition/p1-pneumonia-2025", "MedicationStatement/p1-fluoxetine-2025"},
		"Clinical dates in 2019 and in 2025: a historical depth of, say, 2024-01-01 keeps the 2025 ones and withholds the 2019 ones."},
	{"Older version in _history",
		[]string{"Encounter/p1-gp-visit"},
		"Version 1 (planned, period 2023-04-10, lastUpdated 2023) and version 2 (current, period 2025-04-10). " +
			"With a 2024 depth limit, a read returns version 2, but `_history` and `_history/1` must not reveal version 1."},
	{"Part-of chain into the past",
		[]string{"Encounter/p1-segment-ward-2025", "Encounter/p1-hospitalization-2023"},
		"A 2025 ward segment whose partOf is a hospitalization that started in 2023: `_include=Encounter:part-of` " +
			"must not bring the parent past a 2024 depth limit."},
	{"Another patient's Observation performed by our patient",
		[]string{"Observation/p2-home-glucose"},
		"Patient 2's glucose test with performer Patient/" + Patient1 + ". The R4 Patient compartment lists Observation.performer, " +
			"so a PEP that attributes by compartment membership hands patient 2's result to patient 1's token. The owner is the subject."},
	{"Our patient only as a participant",
		[]string{"CareTeam/p2-care-team", "Communication/p2-result-letter", "Coverage/p2-coverage", "Composition/p2-family-history-note"},
		"Patient 2's care team (patient 1 is a member), a letter to patient 1 about patient 2, patient 2's coverage with patient 1 as subscriber, " +
			"and a note about patient 2 authored by patient 1. All are patient 2's data; none may reach patient 1's token through " +
			"participant, recipient, subscriber or author."},
	{"Unlabelled data",
		[]string{"Observation/p1-unlabelled-weight", "Observation/p2-unlabelled-ldl", "Observation/p3-unlabelled-heart-rate"},
		"No bucket label at all: never in any bucket, so never returned."},
	{"Label spellings",
		[]string{"Observation/p1-cholesterol", "Observation/p2-potassium", "Observation/p3-ferritin", "Observation/p2-glucose", "Encounter/p1-segment-ward-2025"},
		"Bucket codes in unusual case (LaboratoryTests, LABORATORYTESTS) and in the alias system " + BucketSystemAlias + ": " +
			"the same buckets as the IG's spelling."},
}

// file is one generated data file.
type file struct {
	name, id, title string
	resources       func() []Object
}

var dataFiles = []file{
	{"organizations-and-practitioners.json", "demo-shared", "Organisations, practitioners, a location and a medication", shared},
	{"patient-1.json", "demo-patient-1", "Patient 1, national id 000000018 (our patient; two Patient records)", patient1},
	{"patient-2.json", "demo-patient-2", "Patient 2, national id 000000026 (patient 1's son)", patient2},
	{"patient-3.json", "demo-patient-3", "Patient 3, national id 000000034", patient3},
}

// Files returns the generated files by name: one collection Bundle per
// patient (and one for the shared resources) plus README.md.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range dataFiles {
		var entries []Object
		for _, r := range f.resources() {
			entries = append(entries, O("resource", r))
		}
		b, err := encodeFile(O("resourceType", "Bundle", "id", f.id, "type", "collection", "entry", entries))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		out[f.name] = b
	}
	out["README.md"] = []byte(readme())
	return out, nil
}

// Resources returns every generated resource, in file order (a resource
// with several versions appears once per version).
func Resources() []Object {
	var all []Object
	for _, f := range dataFiles {
		all = append(all, f.resources()...)
	}
	return all
}

func readme() string {
	var b strings.Builder
	b.WriteString(`# Demo FHIR data

Generated by ` + "`go run ./examples/cmd/gen-demo-data`" + ` (` + "`make demo-data`" + `) from
[examples/demodata](../../demodata); do not edit these files by hand. A test
(` + "`go test ./examples/demodata/`" + `) fails when they differ from what the
generator writes.

The resources are modelled on the Israeli HDP implementation guide's
profiles (` + "`meta.profile`" + `) and carry its information buckets in
` + "`meta.security`" + ` (system ` + "`" + BucketSystem + "`" + `). The Node FHIR
server loads every ` + "`*.json`" + ` file here in name order; a resource id that
occurs again becomes the next version of that resource.

| file | content |
| --- | --- |
`)
	for _, f := range dataFiles {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f.name, f.title)
	}
	b.WriteString("\n## Patients\n\n| Patient id | national id |\n| --- | --- |\n")
	ids := make([]string, 0, len(NationalIDs))
	for id := range NationalIDs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "| `%s` | %s |\n", id, NationalIDs[id])
	}
	b.WriteString("\n## Buckets\n\nEvery bucket occurs at least once:\n\n| code | display | resources |\n| --- | --- | --- |\n")
	for _, bk := range Buckets {
		fmt.Fprintf(&b, "| `%s` | %s | %d |\n", bk.Code, bk.Display, countBucket(bk.Code))
	}
	b.WriteString("\n## Traps\n\nWhat each one is for; the ids are the ones to ask for.\n")
	for _, t := range Traps {
		fmt.Fprintf(&b, "\n### %s\n\n", t.Name)
		for _, r := range t.Resources {
			fmt.Fprintf(&b, "- `%s`\n", r)
		}
		fmt.Fprintf(&b, "\n%s\n", t.Catches)
	}
	return b.String()
}

// countBucket counts the resources (top-level, current and older versions)
// labelled with a bucket in any spelling.
func countBucket(code string) int {
	n := 0
	for _, r := range Resources() {
		for _, l := range labels(r) {
			if strings.EqualFold(l.Get("code").(string), code) && l.Get("system") != ForbiddenLabelSystem {
				n++
				break
			}
		}
	}
	return n
}

// labels returns a resource's meta.security codings.
func labels(r Object) []Object {
	m, _ := r.Get("meta").(Object)
	ls, _ := m.Get("security").([]Object)
	return ls
}
