package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPolicyExplain runs `fhir-pep policy explain` (the tool the demo and
// security teams use to see how a request is narrowed) on the introspection
// answer of a real pcm-sim token, and checks the upstream request it prints.
func TestPolicyExplain(t *testing.T) {
	s := stackFor(t)
	var m struct {
		Introspection map[string]any `json:"introspection"`
	}
	s.admin(t, s.pcmAdmin+"/admin/tokens", grant{Patient: "000000026", Scope: labScope, Member: "hospital-a"}, 201, &m)
	claims := filepath.Join(t.TempDir(), "claims.json")
	raw, err := json.Marshal(m.Introspection)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(claims, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "policy", "explain", "--claims", claims,
		"--request", "GET /Observation?category=laboratory", "--patient-ids", "hdp-demo-patient-2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fhir-pep policy explain: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "decision: ALLOW") {
		t.Fatalf("policy explain does not allow the lab search:\n%s", text)
	}
	// The search the upstream would get: the client's parameter AND the
	// patient AND the scope's bucket (every alias and spelling).
	var search string
	for line := range strings.SplitSeq(text, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "GET /Observation?") {
			search = l
		}
	}
	_, rawQuery, _ := strings.Cut(search, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatalf("narrowed upstream search %q: %v", search, err)
	}
	if got := q["category"]; !slices.Equal(got, []string{"laboratory"}) {
		t.Errorf("category %q, want the client's [laboratory]; output:\n%s", got, text)
	}
	if got := q["subject"]; !slices.Equal(got, []string{"Patient/hdp-demo-patient-2"}) {
		t.Errorf("subject %q, want [Patient/hdp-demo-patient-2]; output:\n%s", got, text)
	}
	if got := q["_security"]; len(got) != 1 || !slices.Contains(strings.Split(got[0], ","), bucketSystem+"|laboratoryTests") {
		t.Errorf("_security %q, want one value naming %s|laboratoryTests; output:\n%s", got, bucketSystem, text)
	}
}
