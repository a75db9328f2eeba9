package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/enforce"
)

// Reads the response check can verify go upstream as plain reads; what
// leaves is exactly what the narrowed search would have let out, and every
// refusal is the 404 of a resource that does not exist.
func TestPlainRead(t *testing.T) {
	f := newGateFixture(t)
	now := time.Now()
	const labScope = "patient/Observation.rs?_security=" + bucketSystem + "|LaboratoryTests"
	f.pcm.set("lab", activeAnswer(f.caller, now, nil))
	f.pcm.set("recent", activeAnswer(f.caller, now, func(a map[string]any) {
		a["scope"] = labScope + "&date=ge2024-01-01"
	}))
	f.pcm.set("depth", activeAnswer(f.caller, now, func(a map[string]any) {
		a["baskets"] = []any{map[string]any{"code": "laboratoryTests", "system": bucketSystem, "historical_depth": "2024-01-01"}}
	}))
	f.pcm.set("unverifiable", activeAnswer(f.caller, now, func(a map[string]any) {
		a["scope"] = labScope + "&performer=Practitioner/dr-1"
	}))
	vLabelled := observation("obs-v", "p1", "laboratoryTests")
	vLabelled["meta"].(map[string]any)["security"] = append(vLabelled["meta"].(map[string]any)["security"].([]any),
		map[string]any{"system": enforce.VLabel.System, "code": enforce.VLabel.Code})
	old := observation("obs-2020", "p1", "laboratoryTests")
	old["effectiveDateTime"] = "2020-05-01"
	recent := observation("obs-2025", "p1", "laboratoryTests")
	recent["effectiveDateTime"] = "2025-05-01"
	f.fhir.add(vLabelled, old, recent)
	notFound := string(enforce.NotFoundBody())

	tests := []struct {
		name, token, id string
		status          int
		plain           bool // the upstream call is GET /Observation/<id>, not a search
	}{
		{"own resource", "lab", "obs-lab", 200, true},
		{"another patient's resource", "lab", "obs-lab-other", 404, true},
		{"own resource with the V label", "lab", "obs-v", 404, true},
		{"own resource in a bucket not granted", "lab", "obs-imaging", 404, true},
		{"own resource without bucket", "lab", "nope", 404, true},
		{"date constraint holds", "recent", "obs-2025", 200, true},
		{"date constraint fails", "recent", "obs-2020", 404, true},
		{"resource without the constrained date", "recent", "obs-lab", 404, true},
		{"inside the historical depth", "depth", "obs-2025", 200, true},
		{"older than the historical depth", "depth", "obs-2020", 404, true},
		{"constraint the check cannot read stays a search", "unverifiable", "obs-lab", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.serve(f.request("GET", "/R4/metadata", f.caller, tt.token)) // patient resolved and cached
			f.fhir.mu.Lock()
			f.fhir.requests = nil
			f.fhir.mu.Unlock()
			w := f.serve(f.request("GET", "/R4/Observation/"+tt.id, f.caller, tt.token))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			switch tt.status {
			case 404:
				if w.Body.String() != notFound {
					t.Fatalf("404 body %s differs from a real not-found %s", w.Body, notFound)
				}
				for _, h := range []string{"ETag", "Last-Modified"} {
					if w.Header().Get(h) != "" {
						t.Fatalf("withheld read carries %s", h)
					}
				}
			case 200:
				var r map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r["id"] != tt.id {
					t.Fatalf("body %s", w.Body)
				}
			}
			calls := f.fhir.received()
			if len(calls) != 1 {
				t.Fatalf("upstream calls %q, want one", calls)
			}
			if isPlain := calls[0] == "GET /R4/Observation/"+tt.id; isPlain != tt.plain {
				t.Fatalf("upstream call %q, plain read wanted: %v", calls[0], tt.plain)
			}
			if !tt.plain && !strings.Contains(calls[0], "performer=") {
				t.Fatalf("search not narrowed by the constraint: %s", calls[0])
			}
		})
	}
}
