package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// vLabel marks data that must never leave the data source.
const vLabel = "http://fhir.health.gov.il/cs/il-core-main-security-label|V"

func hasLabel(r resource, label string) bool {
	return slices.ContainsFunc(r.Meta.Security, func(c coding) bool { return c.System+"|"+c.Code == label })
}

// TestForbiddenLabel: the demo's V-labelled traps (examples/demodata) never
// leave, whichever path reaches them. Each case first checks upstream that
// the trap is there.
func TestForbiddenLabel(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")

	// Patient 3's restricted lab result matches a lab search upstream.
	p3 := s.patientIDs(t, "000000034")
	if !slices.ContainsFunc(s.upstreamSearch(t, "Observation", url.Values{"subject": {"Patient/" + p3[0]}}),
		func(r resource) bool { return r.ID == "p3-restricted-lab" && hasLabel(r, vLabel) }) {
		t.Fatal("test data: no V-labelled lab Observation p3-restricted-lab upstream")
	}
	lab := s.labToken(t, "hospital-a", "000000034")
	r := s.expectStatus(t, c, lab, "/Observation?_count=100", http.StatusOK)
	for _, res := range decodeBundle(t, r.body).resources() {
		if hasLabel(res, vLabel) {
			t.Fatalf("search returned %s/%s labelled V", res.ResourceType, res.ID)
		}
	}
	notFound := s.expectStatus(t, c, lab, "/Observation/p3-nonexistent", http.StatusNotFound)
	read := s.expectStatus(t, c, lab, "/Observation/p3-restricted-lab", http.StatusNotFound)
	if string(read.body) != string(notFound.body) {
		t.Fatalf("the read of a V-labelled resource differs from a real not-found:\n%s\n%s", read.body, notFound.body)
	}

	// The ER visit's reasonReference is a V-labelled Condition: an
	// _include brings it along unless the upstream filters includes too.
	scope := "patient/Encounter.rs?_security=" + bucketSystem + "|EncounterInformation patient/Condition.rs?_security=" + bucketSystem + "|Diagnoses"
	tok := s.mint(t, grant{Patient: "000000018", Scope: scope, Member: "hospital-a"}).Token
	upstream := string(s.upstream(t, "/Encounter?_include=Encounter:reason-reference&_security:not="+url.QueryEscape(vLabel)))
	if !strings.Contains(upstream, "p1-er-2025") {
		t.Fatal("test data: Encounter/p1-er-2025 missing upstream")
	}
	before := s.denials(t, "forbidden_label")
	target := "/Encounter?_include=Encounter:reason-reference&_count=100"
	if strings.Contains(upstream, "p1-restricted-diagnosis") {
		// The upstream lets the include through: the PEP refuses the whole
		// answer, with a 400 that does not say why.
		t.Log("the upstream returns the V-labelled include: the answer must be refused")
		r := s.expectStatus(t, c, tok, target, http.StatusBadRequest)
		for _, leak := range []string{"p1-restricted", "label", "forbidden", "il-core"} {
			if strings.Contains(string(r.body), leak) {
				t.Fatalf("the 400 says %q: %s", leak, r.body)
			}
		}
		if after := s.denials(t, "forbidden_label"); after != before+1 {
			t.Fatalf("decisions_total{reason=forbidden_label}: %v -> %v", before, after)
		}
	} else {
		t.Log("the upstream leaves the V-labelled include out")
		r := s.expectStatus(t, c, tok, target, http.StatusOK)
		for _, res := range decodeBundle(t, r.body).resources() {
			if hasLabel(res, vLabel) {
				t.Fatalf("include returned %s/%s labelled V", res.ResourceType, res.ID)
			}
		}
	}
	s.expectStatus(t, c, tok, "/Condition/p1-restricted-diagnosis", http.StatusNotFound)
}
