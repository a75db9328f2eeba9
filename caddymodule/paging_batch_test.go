package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// A search inside a batch answers a searchset of its own. Its upstream
// self link echoes the narrowed query (the patient's ids, the bucket
// codes) and its next link is the upstream's. The entry's Bundle must
// show only a self link rebuilt from the entry's own request (never
// access_token) and no paging link: an entry's page link could not be
// bound to the entry's decision (README "Paging links").
func TestBatchEntrySearchsetLinks(t *testing.T) {
	f := pageFixture(t)
	f.fhir.add(observation("obs-1", "p1", "laboratoryTests"))
	tests := []struct {
		name     string
		entryURL string
		self     string
	}{
		{"type search", "Observation?_count=1&category=laboratory", testResource + "/Observation?_count=1&category=laboratory"},
		{"client parameter order kept", "Observation?category=laboratory&_count=1", testResource + "/Observation?category=laboratory&_count=1"},
		{"no parameters", "Observation", testResource + "/Observation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"` + tt.entryURL + `"}}]}`
			w := f.serve(formRequest(f, "/R4", batch, "lab"))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var resp struct {
				Entry []struct {
					Resource json.RawMessage `json:"resource"`
					Response struct {
						Status string `json:"status"`
					} `json:"response"`
				} `json:"entry"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Entry) != 1 {
				t.Fatalf("not a one-entry batch-response: %s", w.Body)
			}
			if !strings.HasPrefix(resp.Entry[0].Response.Status, "200") {
				t.Fatalf("entry status %q: %s", resp.Entry[0].Response.Status, w.Body)
			}
			var sub bundleBody
			if err := json.Unmarshal(resp.Entry[0].Resource, &sub); err != nil {
				t.Fatalf("entry resource not a Bundle: %s", resp.Entry[0].Resource)
			}
			if len(sub.Link) != 1 || sub.Link[0].Relation != "self" || sub.Link[0].URL != tt.self {
				t.Fatalf("entry links %+v, want only self %q", sub.Link, tt.self)
			}
			for _, leak := range []string{f.fhir.base, "_offset", "_security", "access_token", `\u0026`} {
				if strings.Contains(string(resp.Entry[0].Resource), leak) {
					t.Fatalf("entry Bundle shows %q: %s", leak, resp.Entry[0].Resource)
				}
			}
		})
	}
}
