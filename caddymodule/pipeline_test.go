package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/enforce"
)

type bundleBody struct {
	ResourceType string `json:"resourceType"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation, URL string
	} `json:"link"`
	Entry []struct {
		FullURL  string         `json:"fullUrl"`
		Resource map[string]any `json:"resource"`
	} `json:"entry"`
}

func entryIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var b bundleBody
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("not a Bundle: %s", body)
	}
	ids := []string{}
	for _, e := range b.Entry {
		ids = append(ids, e.Resource["resourceType"].(string)+"/"+e.Resource["id"].(string))
	}
	return ids
}

// sealedLink matches the opaque part of the PEP's paging links.
var sealedLink = regexp.MustCompile(`_page\?p=[A-Za-z0-9_-]+`)

func TestPipeline(t *testing.T) {
	f := newGateFixture(t, func(p *PEP) { p.MaxResponseBytes = 1 << 20 })
	now := time.Now()
	f.pcm.set("lab", activeAnswer(f.caller, now, nil))
	f.pcm.set("nobody", activeAnswer(f.caller, now, func(a map[string]any) {
		a["patient"] = nationalIDs + "|000000034" // a valid national id with no Patient here
	}))
	notFoundBody := string(enforce.NotFoundBody())

	tests := []struct {
		name      string
		token     string
		target    string
		status    int
		body      func(t *testing.T, body []byte)
		upstream  func(t *testing.T, calls []string)
		fhirMode  string
		forbidden []string // strings that must not appear in the body
	}{
		{
			name: "search returns only own lab results", token: "lab", target: "/R4/Observation", status: 200,
			body: func(t *testing.T, body []byte) {
				if got := strings.Join(entryIDs(t, body), " "); got != "Observation/obs-lab" {
					t.Fatalf("entries %q", got)
				}
				var b bundleBody
				_ = json.Unmarshal(body, &b)
				for _, l := range b.Link {
					if !strings.HasPrefix(l.URL, testResource+"/") {
						t.Fatalf("link not rewritten to the PEP: %s", l.URL)
					}
				}
				if b.Total != nil {
					t.Fatalf("total kept although entries were withheld")
				}
			},
			upstream: func(t *testing.T, calls []string) {
				last := calls[len(calls)-1]
				if !strings.Contains(last, "subject=Patient/p1") || !strings.Contains(last, "_security=") {
					t.Fatalf("search not narrowed: %s", last)
				}
			},
			forbidden: []string{"obs-lab-other", "obs-unlabelled", "obs-imaging", "p2"},
		},
		{
			name: "client asking for another patient is refused, not narrowed to nothing", token: "lab",
			target: "/R4/Observation?subject=Patient/p2", status: 403,
			body: func(t *testing.T, body []byte) {
				if !strings.Contains(string(body), `"code":"forbidden"`) {
					t.Fatalf("body %s", body)
				}
			},
			forbidden: []string{"obs-lab-other"},
		},
		{
			name: "read of own resource goes upstream as a plain read (the check verifies the scope)", token: "lab", target: "/R4/Observation/obs-lab", status: 200,
			body: func(t *testing.T, body []byte) {
				var r map[string]any
				if err := json.Unmarshal(body, &r); err != nil || r["resourceType"] != "Observation" || r["id"] != "obs-lab" {
					t.Fatalf("body %s", body)
				}
			},
			upstream: func(t *testing.T, calls []string) {
				last := calls[len(calls)-1]
				if last != "GET /R4/Observation/obs-lab" {
					t.Fatalf("read not sent as a plain read: %s", last)
				}
			},
		},
		{name: "read of another patient's resource is a plain 404", token: "lab", target: "/R4/Observation/obs-lab-other", status: 404,
			body: exactBody(notFoundBody)},
		{name: "read of own unlabelled resource is a plain 404", token: "lab", target: "/R4/Observation/obs-unlabelled", status: 404,
			body: exactBody(notFoundBody)},
		{name: "read of own resource in a bucket not granted is a plain 404", token: "lab", target: "/R4/Observation/obs-imaging", status: 404,
			body: exactBody(notFoundBody)},
		{name: "read of a missing resource is the same 404", token: "lab", target: "/R4/Observation/nope", status: 404,
			body: exactBody(notFoundBody)},
		{
			name: "another patient's Patient is refused without asking upstream", token: "lab", target: "/R4/Patient/p2", status: 403,
			upstream: func(t *testing.T, calls []string) {
				for _, c := range calls {
					if strings.Contains(c, "/Patient/p2") || strings.Contains(c, "_id=p2") {
						t.Fatalf("upstream asked: %s", c)
					}
				}
			},
		},
		{name: "_has is refused", token: "lab", target: "/R4/Observation?_has:Observation:subject:code=x", status: 400},
		{name: "chained parameter is refused", token: "lab", target: "/R4/Observation?subject.name=x", status: 400},
		{name: "type outside the scopes is refused", token: "lab", target: "/R4/Condition", status: 403},
		{name: "non-canonical path is refused", token: "lab", target: "/R4/Observation/%2e%2e/Patient", status: 400},
		{name: "capabilities name the PEP, not the upstream", token: "lab", target: "/R4/metadata", status: 200,
			body: func(t *testing.T, body []byte) {
				if !strings.Contains(string(body), `"url":"`+testResource+`"`) {
					t.Fatalf("implementation.url not rewritten: %s", body)
				}
			}},
		{
			name: "patient without data here gets an empty searchset", token: "nobody", target: "/R4/Observation", status: 200,
			body: func(t *testing.T, body []byte) {
				if ids := entryIDs(t, body); len(ids) != 0 {
					t.Fatalf("entries %v", ids)
				}
			},
			upstream: func(t *testing.T, calls []string) {
				for _, c := range calls {
					if strings.HasPrefix(c, "GET /R4/Observation") {
						t.Fatalf("upstream searched although the patient has no data: %s", c)
					}
				}
			},
		},
		{name: "upstream 5xx becomes a generic 502", token: "lab", target: "/R4/Observation", status: 502, fhirMode: "500",
			forbidden: []string{"database", "000000018"}},
		{name: "upstream HTML becomes 502", token: "lab", target: "/R4/metadata", status: 502, fhirMode: "html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.fhir.mu.Lock()
			f.fhir.mode, f.fhir.requests = "", nil
			f.fhir.mu.Unlock()
			if tt.fhirMode != "" {
				// Resolve the patient first so the mode hits the request itself.
				f.serve(f.request("GET", "/R4/metadata", f.caller, tt.token))
				f.fhir.mu.Lock()
				f.fhir.mode = tt.fhirMode
				f.fhir.mu.Unlock()
			}
			w := f.serve(f.request("GET", tt.target, f.caller, tt.token))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Fatalf("content type %q", ct)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("patient data must not be cacheable")
			}
			if tt.body != nil {
				tt.body(t, w.Body.Bytes())
			}
			if tt.upstream != nil {
				tt.upstream(t, f.fhir.received())
			}
			// A sealed paging link is random base64url: it may contain
			// any short string by chance, and says nothing in clear.
			clear := sealedLink.ReplaceAllString(w.Body.String(), "_page?p=SEALED")
			for _, s := range tt.forbidden {
				if strings.Contains(clear, s) {
					t.Fatalf("body contains %q: %s", s, w.Body)
				}
			}
			if strings.Contains(w.Body.String(), f.fhir.base) {
				t.Fatalf("upstream base leaked: %s", w.Body)
			}
		})
	}
}

func exactBody(want string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		if string(body) != want {
			t.Fatalf("body %s, want %s", body, want)
		}
	}
}

func TestPipelineHugeUpstreamAnswer(t *testing.T) {
	f := newGateFixture(t, func(p *PEP) { p.MaxResponseBytes = 1 << 20 })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	f.serve(f.request("GET", "/R4/metadata", f.caller, "lab"))
	f.fhir.mode = "huge"
	w := f.serve(f.request("GET", "/R4/Observation", f.caller, "lab"))
	if w.Code != 502 {
		t.Fatalf("status %d", w.Code)
	}
}

// A policy directory without the decision rule must deny everything.
func TestPipelinePolicyWithoutDecisionDenies(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fhir", "pep"), 0o755); err != nil {
		t.Fatal(err)
	}
	rego := "package fhir.pep\n\nallow := true\n"
	if err := os.WriteFile(filepath.Join(dir, "fhir", "pep", "empty.rego"), []byte(rego), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newGateFixture(t, func(p *PEP) { p.Policy = &PolicyConfig{Dir: dir} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	for _, target := range []string{"/R4/Observation", "/R4/Observation/obs-lab", "/R4/metadata"} {
		w := f.serve(f.request("GET", target, f.caller, "lab"))
		if w.Code < 400 {
			t.Fatalf("%s: status %d", target, w.Code)
		}
		if bytes.Contains(w.Body.Bytes(), []byte("obs-lab")) {
			t.Fatalf("%s: data leaked", target)
		}
	}
}

func TestPipelineDryRunLetsDeniedReadsThrough(t *testing.T) {
	f := newGateFixture(t, func(p *PEP) { p.Policy = &PolicyConfig{DryRun: true} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	w := f.serve(f.request("GET", "/R4/Condition", f.caller, "lab"))
	if w.Code != 200 {
		t.Fatalf("dry run: status %d", w.Code)
	}
	found := false
	for _, e := range f.logs.All() {
		if strings.Contains(e.Message, "DRY RUN") {
			found = true
		}
	}
	if !found {
		t.Fatalf("dry run is not loud")
	}
	r := f.request("DELETE", "/R4/Observation/obs-lab", f.caller, "lab")
	if w := f.serve(r); w.Code != 403 {
		t.Fatalf("dry run let a write through: %d", w.Code)
	}
}
