package caddymodule

import (
	"strings"
	"testing"
	"time"
)

// TestForbiddenLabelsConfigured: a configured label is excluded upstream
// and refused on the response like V, and V stays on the list.
func TestForbiddenLabelsConfigured(t *testing.T) {
	const extra = "http://example.org/labels|secret"
	f := newGateFixture(t, func(p *PEP) { p.ForbiddenLabels = []string{extra} })
	f.fhir.add(withLabel(observation("obs-secret", "p1", "laboratoryTests"), extra))
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	w := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab"))
	if w.Code != 400 || strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "obs-") {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	calls := f.fhir.received()
	last := calls[len(calls)-1]
	for _, want := range []string{"_security:not=" + vLabel, "_security:not=" + extra} {
		if !strings.Contains(last, want) {
			t.Fatalf("upstream search without %s: %s", want, last)
		}
	}
	if r := auditReason(t, f, w); r != "forbidden_label" {
		t.Fatalf("audit reason %q", r)
	}
}
