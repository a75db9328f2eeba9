package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pageFixture is a gate fixture with a paging key file and a 1 minute
// link TTL, and two tokens of two patients.
func pageFixture(t *testing.T) *gateFixture {
	t.Helper()
	key := filepath.Join(t.TempDir(), "paging.key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newGateFixture(t, func(p *PEP) {
		p.MaxResponseBytes = 1 << 20
		p.Paging = &PagingConfig{KeyFile: key, TTL: 60e9}
	})
	now := time.Now()
	f.pcm.set("lab", activeAnswer(f.caller, now, nil))
	f.pcm.set("lab2", activeAnswer(f.caller, now, nil))
	f.pcm.set("other", activeAnswer(f.caller, now, func(a map[string]any) {
		a["patient"] = nationalIDs + "|000000026"
	}))
	return f
}

func decodeLinks(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var b bundleBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not a Bundle: %s", body)
	}
	m := map[string]string{}
	for _, l := range b.Link {
		m[l.Relation] = l.URL
	}
	return m
}

// The first page's links: self is what the client asked, next is sealed.
func TestPagingLinksSealed(t *testing.T) {
	f := pageFixture(t)
	w := f.serve(f.request("GET", "/R4/Observation?_count=1&category=laboratory", f.caller, "lab"))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	links := decodeLinks(t, w.Body.Bytes())
	if got, want := links["self"], testResource+"/Observation?_count=1&category=laboratory"; got != want {
		t.Fatalf("self %q, want %q", got, want)
	}
	if !strings.HasPrefix(links["next"], testResource+"/_page?p=") {
		t.Fatalf("next %q not sealed", links["next"])
	}
	for _, leak := range []string{f.fhir.base, "_offset", "subject=", "_security", `\u0026`} {
		if strings.Contains(w.Body.String(), leak) {
			t.Fatalf("body shows %q: %s", leak, w.Body)
		}
	}
}

// Following a page link: checked again from the start, bound to the
// token's patient, certificate and decision, valid for the TTL.
func TestPagingFollowLink(t *testing.T) {
	f := pageFixture(t)
	w := f.serve(f.request("GET", "/R4/Observation?_count=1", f.caller, "lab"))
	next := decodeLinks(t, w.Body.Bytes())["next"]
	if next == "" {
		t.Fatalf("no next link: %s", w.Body)
	}
	target := strings.TrimPrefix(next, testResource)
	sealed := strings.TrimPrefix(target, "/_page?p=")
	flip := func(s string) string {
		c := []byte(s)
		if c[20] == 'A' {
			c[20] = 'B'
		} else {
			c[20] = 'A'
		}
		return string(c)
	}
	cases := []struct {
		name    string
		target  string
		token   string
		advance time.Duration
		method  string
		status  int
		reason  string
	}{
		{"same token", target, "lab", 0, "GET", 200, ""},
		{"another token of the same patient", target, "lab2", 0, "GET", 403, "paging_link_binding"},
		{"another patient", target, "other", 0, "GET", 403, "paging_link_binding"},
		{"tampered", "/R4/_page?p=" + flip(sealed), "lab", 0, "GET", 400, "paging_link_invalid"},
		{"extra parameter", target + "&_count=100", "lab", 0, "GET", 400, "paging_link_invalid"},
		{"no link", "/R4/_page", "lab", 0, "GET", 400, "paging_link_invalid"},
		{"POST", target, "lab", 0, "POST", 400, "page_method"},
		{"no token", target, "", 0, "GET", 401, "no_token"},
		{"expired", target, "lab", 2 * time.Minute, "GET", 410, "paging_link_expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.fhir.mu.Lock()
			f.fhir.requests = nil
			f.fhir.mu.Unlock()
			f.clock.Advance(tc.advance)
			w := f.serve(f.request(tc.method, "/R4"+strings.TrimPrefix(tc.target, "/R4"), f.caller, tc.token))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				for _, c := range f.fhir.received() {
					if strings.Contains(c, "_offset=20") {
						t.Fatalf("upstream page fetched for a refused link: %s", c)
					}
				}
				return
			}
			calls := f.fhir.received()
			last := calls[len(calls)-1]
			if !strings.Contains(last, "_offset=20") || !strings.Contains(last, "subject=Patient") {
				t.Fatalf("upstream page not fetched as sealed: %s", last)
			}
			links := decodeLinks(t, w.Body.Bytes())
			if links["self"] != next {
				t.Fatalf("self of a page %q, want the page link %q", links["self"], next)
			}
			if !strings.HasPrefix(links["next"], testResource+"/_page?p=") {
				t.Fatalf("next of a page %q not sealed", links["next"])
			}
			if ids := entryIDs(t, w.Body.Bytes()); strings.Contains(strings.Join(ids, " "), "other") {
				t.Fatalf("another patient's data on the page: %v", ids)
			}
			if strings.Contains(w.Body.String(), f.fhir.base) {
				t.Fatalf("upstream base leaked: %s", w.Body)
			}
		})
	}
}

func TestRequestChecksBeforePolicy(t *testing.T) {
	f := pageFixture(t)
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("code=c%d", i)
	}
	cases := []struct {
		name    string
		target  string
		headers int
		status  int
		text    string
	}{
		{"unknown parameter", "/R4/Observation?colour=red", 0, 400, `"colour"`},
		{"_contained", "/R4/Observation?_contained=true", 0, 400, `"_contained"`},
		{"_list", "/R4/Observation?_list=l1", 0, 400, `"_list"`},
		{"_text", "/R4/Observation?_text=x", 0, 400, `"_text"`},
		{"_content", "/R4/Observation?_content=x", 0, 400, `"_content"`},
		{"_include:Iterate", "/R4/Observation?_include:Iterate=Observation:patient", 0, 400, `"_include:Iterate"`},
		{"_revinclude:iterate_", "/R4/Observation?_revinclude:iterate_=Observation:patient", 0, 400, `"_revinclude:iterate_"`},
		{"modifier of another type", "/R4/Observation?code:exact=1", 0, 400, `"code:exact"`},
		{"too many parameters", "/R4/Observation?" + strings.Join(many, "&"), 0, 400, "parameters (limit 50)"},
		{"too many values", "/R4/Observation?code=" + strings.Repeat("a,", 150) + "a", 0, 400, "values (limit 100)"},
		{"too many header fields", "/R4/Observation", 101, 431, "header fields"},
		{"a good search passes", "/R4/Observation?code=1&_count=5&_sort=-date", 0, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.request("GET", tc.target, f.caller, "lab")
			for i := range tc.headers {
				r.Header.Set(fmt.Sprintf("X-Filler-%d", i), "x")
			}
			w := f.serve(r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == http.StatusOK {
				return
			}
			var o outcomeBody
			if err := json.Unmarshal(w.Body.Bytes(), &o); err != nil || o.ResourceType != "OperationOutcome" || len(o.Issue) != 1 {
				t.Fatalf("not an OperationOutcome: %s", w.Body)
			}
			if !strings.Contains(o.Issue[0].Diagnostics, strings.Trim(tc.text, `"`)) {
				t.Fatalf("diagnostics %q do not name %s", o.Issue[0].Diagnostics, tc.text)
			}
		})
	}
}

func TestWithForbiddenNot(t *testing.T) {
	v := "http://fhir.health.gov.il/cs/il-core-main-security-label|V"
	enc := url.Values{"_security:not": {v}}.Encode()
	for _, tc := range []struct{ name, query, want string }{
		{"opaque HAPI page", "_getpages=abc&_getpagesoffset=2&_count=2", "_getpages=abc&_getpagesoffset=2&_count=2&" + enc},
		{"echoed by the upstream", "subject=Patient/p1&" + enc + "&_offset=20", "subject=Patient/p1&" + enc + "&_offset=20"},
		{"echoed unencoded", "_security:not=" + v + "&_offset=20", "_security:not=" + v + "&_offset=20"},
		{"another label only", "_security:not=http://example.org/x|y", "_security:not=http://example.org/x|y&" + enc},
		{"empty", "", enc},
		{"unparsable", "a=%zz", "a=%zz&" + enc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withForbiddenNot(tc.query, []string{v}); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
