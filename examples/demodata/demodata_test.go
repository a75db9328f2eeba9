package demodata

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dataDir = "../fhir-server/data"

// TestCommittedFilesAreGenerated: the committed data is exactly what the
// generator writes, byte for byte, and nothing else.
func TestCommittedFilesAreGenerated(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			t.Errorf("%s: %v (run `make demo-data`)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run `make demo-data` and commit the result", name)
		}
	}
	committed, err := filepath.Glob(filepath.Join(dataDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range committed {
		if _, ok := files[filepath.Base(name)]; !ok {
			t.Errorf("%s is not generated: the FHIR server would load it too (run `make demo-data`)", name)
		}
	}
}

// TestDeterministic: two runs give the same bytes.
func TestDeterministic(t *testing.T) {
	a, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// decoded returns every generated resource as plain JSON values.
func decoded(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range Resources() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func key(r map[string]any) string { return r["resourceType"].(string) + "/" + r["id"].(string) }

func securityOf(r map[string]any) []map[string]any {
	meta, _ := r["meta"].(map[string]any)
	list, _ := meta["security"].([]any)
	var out []map[string]any
	for _, l := range list {
		out = append(out, l.(map[string]any))
	}
	return out
}

func restrictedLabel(r map[string]any) bool {
	return slices.ContainsFunc(securityOf(r), func(l map[string]any) bool {
		return l["system"] == ForbiddenLabelSystem && l["code"] == "V"
	})
}

// validNationalID is the Israeli id check: digits weighted 1,2,1,2...,
// two-digit products summed, total divisible by 10.
func validNationalID(id string) bool {
	if len(id) != 9 {
		return false
	}
	sum := 0
	for i, c := range id {
		if c < '0' || c > '9' {
			return false
		}
		d := int(c-'0') * (i%2 + 1)
		sum += d/10 + d%10
	}
	return sum%10 == 0
}

func TestNationalIDCheck(t *testing.T) {
	for id, want := range map[string]bool{"000000018": true, "000000026": true, "000000034": true, "000000019": false, "12345678": false} {
		if validNationalID(id) != want {
			t.Errorf("validNationalID(%s) = %v", id, !want)
		}
	}
}

// TestContent pins the properties the demo and the tests rely on.
func TestContent(t *testing.T) {
	all := decoded(t)
	byKey := map[string][]map[string]any{}
	for _, r := range all {
		byKey[key(r)] = append(byKey[key(r)], r)
	}

	t.Run("patients have valid national ids, 000000018 and at least two others", func(t *testing.T) {
		seen := map[string]bool{}
		for _, r := range all {
			if r["resourceType"] != "Patient" {
				continue
			}
			for _, id := range r["identifier"].([]any) {
				v := id.(map[string]any)["value"].(string)
				if !validNationalID(v) {
					t.Errorf("%s: national id %s has a wrong check digit", key(r), v)
				}
				seen[v] = true
			}
		}
		if !seen["000000018"] || len(seen) < 3 {
			t.Errorf("national ids %v: want 000000018 and at least two others", seen)
		}
	})

	t.Run("every bucket occurs", func(t *testing.T) {
		for _, b := range Buckets {
			if countBucket(b.Code) == 0 {
				t.Errorf("no resource in bucket %s", b.Code)
			}
		}
	})

	t.Run("restricted label: in a lab search, on an _include path, contained", func(t *testing.T) {
		lab := byKey["Observation/p3-restricted-lab"]
		if len(lab) != 1 || !restrictedLabel(lab[0]) || !slices.ContainsFunc(securityOf(lab[0]), func(l map[string]any) bool {
			return strings.EqualFold(l["code"].(string), "laboratoryTests")
		}) {
			t.Error("Observation/p3-restricted-lab: want a lab Observation labelled V")
		}
		er := byKey["Encounter/p1-er-2025"][0]
		reason := er["reasonReference"].([]any)[0].(map[string]any)["reference"].(string)
		if target := byKey[reason]; len(target) != 1 || !restrictedLabel(target[0]) {
			t.Errorf("Encounter/p1-er-2025 reasonReference %s: want a V-labelled resource", reason)
		}
		report := byKey["DiagnosticReport/p1-viral-load-report"][0]
		if restrictedLabel(report) {
			t.Error("the viral load report itself must not be labelled V (only its contained result)")
		}
		contained := report["contained"].([]any)[0].(map[string]any)
		if !restrictedLabel(contained) {
			t.Error("the viral load report's contained Observation must be labelled V")
		}
	})

	t.Run("Encounter history: version 1 dated 2023, current version 2025", func(t *testing.T) {
		versions := byKey["Encounter/p1-gp-visit"]
		if len(versions) != 2 {
			t.Fatalf("%d versions, want 2", len(versions))
		}
		for i, year := range []string{"2023", "2025"} {
			start := versions[i]["period"].(map[string]any)["start"].(string)
			if !strings.HasPrefix(start, year) {
				t.Errorf("version %d starts %s, want %s", i+1, start, year)
			}
		}
	})

	t.Run("part-of chain with a 2023 parent", func(t *testing.T) {
		seg := byKey["Encounter/p1-segment-ward-2025"][0]
		parent := byKey[seg["partOf"].(map[string]any)["reference"].(string)][0]
		if !strings.HasPrefix(parent["period"].(map[string]any)["start"].(string), "2023") {
			t.Errorf("parent %s does not start in 2023", key(parent))
		}
	})

	t.Run("our patient only as performer or participant of another patient's resources", func(t *testing.T) {
		for _, k := range []string{"Observation/p2-home-glucose", "CareTeam/p2-care-team", "Communication/p2-result-letter", "Coverage/p2-coverage", "Composition/p2-family-history-note"} {
			r := byKey[k]
			if len(r) != 1 {
				t.Errorf("%s missing", k)
				continue
			}
			b, _ := json.Marshal(r[0])
			if !strings.Contains(string(b), `"Patient/`+Patient1+`"`) || !strings.Contains(string(b), `"Patient/`+Patient2+`"`) {
				t.Errorf("%s must name patient 2 as owner and patient 1 as participant: %s", k, b)
			}
		}
	})

	t.Run("every trap names existing resources", func(t *testing.T) {
		for _, trap := range Traps {
			for _, r := range trap.Resources {
				k, _, _ := strings.Cut(r, "#")
				if len(byKey[k]) == 0 {
					t.Errorf("trap %q names %s, which is not generated", trap.Name, r)
				}
			}
		}
	})

	t.Run("every reference resolves", func(t *testing.T) {
		b, err := json.Marshal(Resources())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"reference":"([^"#][^"]*)"`).FindAllStringSubmatch(string(b), -1) {
			if len(byKey[m[1]]) == 0 {
				t.Errorf("reference %s does not resolve", m[1])
			}
		}
	})
}
