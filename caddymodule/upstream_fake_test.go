package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

const (
	bucketSystem = "http://fhir.health.gov.il/cs/il-hdp-information-buckets"
	nationalIDs  = "http://fhir.health.gov.il/identifier/il-national-id"
)

// fakeFHIR is a deliberately lax FHIR server: it honours _id and the
// subject/patient parameters and ignores every other search parameter, like
// a server that does not support them. What the PEP returns must still be
// only the patient's data in granted buckets.
type fakeFHIR struct {
	srv       *httptest.Server
	base      string
	mu        sync.Mutex
	resources []map[string]any
	requests  []string
	forms     []string // bodies of POST _search, in order
	mode      string   // "", "500", "html", "huge"
}

func newFakeFHIR(t testing.TB) *fakeFHIR {
	f := &fakeFHIR{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.base = f.srv.URL + "/R4"
	return f
}

func (f *fakeFHIR) add(resources ...map[string]any) {
	f.mu.Lock()
	f.resources = append(f.resources, resources...)
	f.mu.Unlock()
}

func (f *fakeFHIR) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeFHIR) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	mode := f.mode
	f.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "database on fire, patient 000000018", 500)
		return
	case "html":
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>login</html>")
		return
	case "huge":
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","entry":[`+strings.Repeat(" ", 3<<20)+`]}`)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/R4")
	w.Header().Set("Content-Type", "application/fhir+json")
	if path == "/metadata" {
		_, _ = io.WriteString(w, `{"resourceType":"CapabilityStatement","status":"active","fhirVersion":"4.0.1","implementation":{"description":"lax","url":"`+f.base+`"}}`)
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "_search" {
		// The PEP looks patients up this way, keeping ids out of URLs.
		if err := r.ParseForm(); err != nil || r.URL.RawQuery != "" {
			w.WriteHeader(400)
			return
		}
		f.mu.Lock()
		f.forms = append(f.forms, parts[0]+" "+r.PostForm.Encode())
		f.mu.Unlock()
		f.search(w, parts[0], r.PostForm)
		return
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(405)
		return
	}
	switch len(parts) {
	case 1:
		f.search(w, parts[0], r.URL.Query())
	case 2:
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, res := range f.resources {
			if res["resourceType"] == parts[0] && res["id"] == parts[1] {
				_ = json.NewEncoder(w).Encode(res)
				return
			}
		}
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Observation/`+parts[1]+` not found"}]}`)
	default:
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported"}]}`)
	}
}

func (f *fakeFHIR) search(w http.ResponseWriter, typ string, q url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var entries []map[string]any
	for _, res := range f.resources {
		if res["resourceType"] != typ || !matches(res, q) {
			continue
		}
		entries = append(entries, map[string]any{
			"fullUrl":  fmt.Sprintf("%s/%s/%s", f.base, typ, res["id"]),
			"resource": res,
			"search":   map[string]any{"mode": "match"},
		})
	}
	links := []any{map[string]any{"relation": "self", "url": f.base + "/" + typ + "?" + q.Encode()}}
	if typ != "Patient" {
		// A next page on every search: the PEP must point it at itself.
		links = append(links, map[string]any{"relation": "next", "url": f.base + "/" + typ + "?" + q.Encode() + "&_offset=20"})
	}
	b := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "link": links}
	if len(entries) > 0 {
		b["entry"] = entries
	}
	_ = json.NewEncoder(w).Encode(b)
}

func matches(res map[string]any, q url.Values) bool {
	if ids := q["_id"]; len(ids) > 0 && !anyOf(ids, res["id"].(string)) {
		return false
	}
	if ident := q.Get("identifier"); ident != "" {
		system, value, _ := strings.Cut(ident, "|")
		found := false
		for _, i := range asList(res["identifier"]) {
			m := i.(map[string]any)
			if m["system"] == system && m["value"] == value {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	for _, param := range []string{"subject", "patient"} {
		want := q[param]
		if len(want) == 0 {
			continue
		}
		ref, _ := res["subject"].(map[string]any)
		if ref == nil {
			return false
		}
		for _, w := range want {
			if !anyOf([]string{w}, ref["reference"].(string)) {
				return false
			}
		}
	}
	return true
}

// anyOf reports whether v is one of the comma-separated alternatives.
func anyOf(values []string, v string) bool {
	for _, s := range values {
		if slices.Contains(strings.Split(s, ","), v) {
			return true
		}
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// proxyTo is a minimal stand-in for reverse_proxy: it forwards the request
// to the fake upstream and copies the answer.
func proxyTo(base string) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), r.Body)
		if err != nil {
			return err
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, err = io.Copy(w, resp.Body)
		return err
	})
}

func labelled(res map[string]any, codes ...string) map[string]any {
	var sec []any
	for _, c := range codes {
		sec = append(sec, map[string]any{"system": bucketSystem, "code": c})
	}
	res["meta"] = map[string]any{"security": sec}
	return res
}

func observation(id, patientID string, codes ...string) map[string]any {
	return labelled(map[string]any{
		"resourceType": "Observation", "id": id, "status": "final",
		"code":    map[string]any{"text": "Hemoglobin"},
		"subject": map[string]any{"reference": "Patient/" + patientID},
	}, codes...)
}

func patientResource(id, nationalID string) map[string]any {
	return labelled(map[string]any{
		"resourceType": "Patient", "id": id,
		"identifier": []any{map[string]any{"system": nationalIDs, "value": nationalID}},
	}, "patientDemographics")
}
