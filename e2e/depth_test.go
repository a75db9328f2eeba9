package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestHistoricalDepth: with baskets whose historical_depth is 2024-01-01,
// nothing clinically older leaves, whichever path reaches it: a read, the
// vread and history of an older version, an _include of a parent that
// started in 2023, a search (the demo's traps, examples/demodata).
func TestHistoricalDepth(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	var m minted
	s.admin(t, s.pcmAdmin+"/admin/tokens", map[string]any{
		"patient": "000000018",
		"scope": "patient/Encounter.rs?_security=" + bucketSystem + "|EncounterInformation " +
			"patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests",
		"member": "hospital-a",
		"baskets": []map[string]string{
			{"system": bucketSystem, "code": "encounterInformation", "historical_depth": "2024-01-01"},
			{"system": bucketSystem, "code": "laboratoryTests", "historical_depth": "2024-01-01"},
		},
	}, http.StatusCreated, &m)
	s.remember(m.Token)
	tok := m.Token

	s.expectStatus(t, c, tok, "/Encounter/p1-gp-visit", http.StatusOK)
	s.expectStatus(t, c, tok, "/Encounter/p1-gp-visit/_history/1", http.StatusNotFound)
	s.expectStatus(t, c, tok, "/Encounter/p1-gp-visit-2019", http.StatusNotFound)
	s.expectStatus(t, c, tok, "/Observation/p1-glucose-2019", http.StatusNotFound)

	type dated struct {
		ResourceType      string `json:"resourceType"`
		ID                string `json:"id"`
		EffectiveDateTime string `json:"effectiveDateTime"`
		Period            struct {
			Start string `json:"start"`
		} `json:"period"`
	}
	for _, target := range []string{
		"/Encounter/p1-gp-visit/_history",
		"/Encounter?_id=p1-segment-ward-2025&_include=Encounter:part-of",
		"/Encounter?_count=100",
		"/Observation?_count=100",
	} {
		r := s.expectStatus(t, c, tok, target, http.StatusOK)
		var b struct {
			Entry []struct {
				Resource dated `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		for _, e := range b.Entry {
			date := e.Resource.Period.Start + e.Resource.EffectiveDateTime
			if e.Resource.ResourceType != "OperationOutcome" && date < "2024" {
				t.Fatalf("%s returned %s/%s dated %q, before the depth 2024-01-01", target, e.Resource.ResourceType, e.Resource.ID, date)
			}
		}
		if strings.Contains(target, "segment") && !strings.Contains(string(r.body), "p1-segment-ward-2025") {
			t.Fatalf("the 2025 segment is within the depth: %.300s", r.body)
		}
	}
}
