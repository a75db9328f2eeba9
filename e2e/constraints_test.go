package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// encounterPeriod is the start of an Encounter's period.
type encounterPeriod struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Period       struct {
		Start string `json:"start"`
	} `json:"period"`
}

// TestScopeDateConstraintOnEveryPath: a scope limited to Encounters that
// start after 2023 (date=sa2023-12-31) holds on a vread and the history of
// an older version and on an _include of an older parent, not only on
// searches (the demo's traps "Older version in _history" and "Part-of chain
// into the past", examples/demodata). sa, not ge: under FHIR date search a
// period that reaches into 2024 matches ge2024-01-01, and the 2023 parent
// hospitalization lasts until 2025.
func TestScopeDateConstraintOnEveryPath(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	// The traps exist upstream.
	var v1 encounterPeriod
	if err := json.Unmarshal(s.upstream(t, "/Encounter/p1-gp-visit/_history/1"), &v1); err != nil || !strings.HasPrefix(v1.Period.Start, "2023") {
		t.Fatalf("test data: Encounter/p1-gp-visit version 1 should start in 2023: %+v %v", v1, err)
	}
	if !strings.Contains(string(s.upstream(t, "/Encounter?_id=p1-segment-ward-2025&_include=Encounter:part-of")), "p1-hospitalization-2023") {
		t.Fatal("test data: Encounter/p1-segment-ward-2025 should include its 2023 parent")
	}

	scope := "patient/Encounter.rs?_security=" + bucketSystem + "|EncounterInformation&date=sa2023-12-31"
	tok := s.mint(t, grant{Patient: "000000018", Scope: scope, Member: "hospital-a"}).Token
	notFound := s.expectStatus(t, c, tok, "/Encounter/p1-nonexistent", http.StatusNotFound)

	read := s.expectStatus(t, c, tok, "/Encounter/p1-gp-visit", http.StatusOK)
	var cur encounterPeriod
	if err := json.Unmarshal(read.body, &cur); err != nil || cur.Period.Start < "2024" {
		t.Fatalf("current version: %+v %v", cur, err)
	}
	vread := s.expectStatus(t, c, tok, "/Encounter/p1-gp-visit/_history/1", http.StatusNotFound)
	if string(vread.body) != string(notFound.body) {
		t.Fatalf("the vread of a 2023 version differs from a real not-found: %s", vread.body)
	}
	checkAll := func(target string, body []byte) {
		t.Helper()
		var b struct {
			Entry []struct {
				Resource encounterPeriod `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		for _, e := range b.Entry {
			if e.Resource.ResourceType == "Encounter" && e.Resource.Period.Start < "2024" {
				t.Fatalf("%s returned Encounter/%s starting %s, outside date=sa2023-12-31", target, e.Resource.ID, e.Resource.Period.Start)
			}
		}
	}
	for _, target := range []string{
		"/Encounter/p1-gp-visit/_history",
		"/Encounter?_id=p1-segment-ward-2025&_include=Encounter:part-of",
		"/Encounter?_count=100",
	} {
		r := s.expectStatus(t, c, tok, target, http.StatusOK)
		checkAll(target, r.body)
	}
	if r := s.get(t, c, tok, "/Encounter?_id=p1-segment-ward-2025&_include=Encounter:part-of"); !strings.Contains(string(r.body), "p1-segment-ward-2025") {
		t.Fatalf("the 2025 segment itself is within the scope: %.400s", r.body)
	}
}
