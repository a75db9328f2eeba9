package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/paging"
)

// TestSearchLinksSealedInTheCheck: the page links of a search answer are
// sealed by the response check's own walk (enforce.FilterOptions.Links);
// nothing validates the body before it any more, so the check must refuse
// every body the old validate-and-splice pass refused, and a link that
// cannot be sealed still refuses the answer.
func TestSearchLinksSealedInTheCheck(t *testing.T) {
	f := pageFixture(t)
	f.serve(f.request("GET", "/R4/metadata", f.caller, "lab")) // resolve the patient first
	up := strings.TrimSuffix(f.pep.UpstreamBase, "/")
	next := `{"relation":"next","url":"` + up + `/Observation?_getpages=1"}`
	tests := []struct {
		name, body string
		status     int
		reason     string // audit reason of a refusal
	}{
		{"link first", `{"resourceType":"Bundle","type":"searchset","link":[` + next + `]}`, 200, ""},
		{"link last, no total", `{"type":"searchset","resourceType":"Bundle","link":[` + next + `]}`, 200, ""},
		{"no link", `{"resourceType":"Bundle","type":"searchset","total":0}`, 200, ""},
		{"invalid JSON after the links", `{"resourceType":"Bundle","type":"searchset","link":[` + next + `],"x":tru}`, 502, "invalid_upstream_body"},
		{"no colon after link", `{"resourceType":"Bundle","type":"searchset","link"[` + next + `]}`, 502, "invalid_upstream_body"},
		{"trailing comma", `{"resourceType":"Bundle","type":"searchset","link":[` + next + `],}`, 502, "invalid_upstream_body"},
		{"two link members", `{"resourceType":"Bundle","type":"searchset","link":[` + next + `],"Link":[]}`, 502, "invalid_upstream_body"},
		{"duplicate key in a link", `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"a","url":"b"}]}`, 502, "invalid_upstream_body"},
		{"cut short", `{"resourceType":"Bundle","type":"searchset","link":[` + next + `]`, 502, "invalid_upstream_body"},
		{"link not an array", `{"resourceType":"Bundle","type":"searchset","link":{"relation":"next"}}`, 502, "upstream_links_unusable"},
		{"link too long to seal", `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"` + up + `/Observation?ct=` + strings.Repeat("a", paging.MaxLinkLen) + `"}]}`, 502, "upstream_links_unusable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if !strings.Contains(r.URL.Path, "/Observation") {
					return proxyTo(f.fhir.srv.URL).ServeHTTP(w, r)
				}
				w.Header().Set("Content-Type", "application/fhir+json")
				_, err := w.Write([]byte(tt.body))
				return err
			})
			w := httptest.NewRecorder()
			if err := f.pep.ServeHTTP(w, f.request("GET", "/R4/Observation?category=laboratory", f.caller, "lab"), answer); err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status != 200 {
				if reason, ok := f.auditReason(w.Header().Get(decisionHeader)); !ok || reason != tt.reason {
					t.Fatalf("audit reason %q (%v), want %q", reason, ok, tt.reason)
				}
				if strings.Contains(w.Body.String(), up) || strings.Contains(w.Body.String(), "_getpages") {
					t.Fatalf("refusal echoes the upstream: %s", w.Body)
				}
				return
			}
			links := decodeLinks(t, w.Body.Bytes())
			if got, want := links["self"], testResource+"/Observation?category=laboratory"; got != want {
				t.Fatalf("self %q, want %q (%s)", got, want, w.Body)
			}
			if strings.Contains(tt.body, "_getpages") && !strings.HasPrefix(links["next"], testResource+"/_page?p=") {
				t.Fatalf("next %q not sealed (%s)", links["next"], w.Body)
			}
			if strings.Contains(w.Body.String(), up) {
				t.Fatalf("upstream URL left in the answer: %s", w.Body)
			}
		})
	}
}
