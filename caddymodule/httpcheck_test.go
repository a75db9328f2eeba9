package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHTTPLevelAnswers: HEAD, bodies on GET, header counts, formats and
// SMART discovery are answered with their own statuses, each with an
// OperationOutcome (or the discovery document) and an audit record.
func TestHTTPLevelAnswers(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	get := func(target string) func() *http.Request {
		return func() *http.Request { return f.request("GET", target, f.caller, "lab") }
	}
	withHeader := func(target, k, v string) func() *http.Request {
		return func() *http.Request {
			r := f.request("GET", target, f.caller, "lab")
			r.Header.Set(k, v)
			return r
		}
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		ctype  string // Content-Type prefix
	}{
		{"GET", get("/R4/Observation"), 200, "application/fhir+json"},
		{"HEAD answers like GET", func() *http.Request { return f.request("HEAD", "/R4/Observation", f.caller, "lab") }, 200, "application/fhir+json"},
		{"HEAD of a read", func() *http.Request { return f.request("HEAD", "/R4/Observation/obs-lab", f.caller, "lab") }, 200, "application/fhir+json"},
		{"GET with a body", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "lab")
			r.Body, r.ContentLength = ioNopCloser("code=1"), 6
			return r
		}, 400, "application/fhir+json"},
		{"GET with a chunked body", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "lab")
			r.Body, r.ContentLength, r.TransferEncoding = ioNopCloser("x"), -1, []string{"chunked"}
			return r
		}, 400, "application/fhir+json"},
		{"100 header fields pass", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "lab")
			for i := fieldLines(r.Header); i < 100; i++ {
				r.Header.Add("X-Filler", strconv.Itoa(i))
			}
			return r
		}, 200, "application/fhir+json"},
		{"101 header fields", func() *http.Request {
			r := f.request("GET", "/R4/Observation", f.caller, "lab")
			for i := fieldLines(r.Header); i < 101; i++ {
				r.Header.Add("X-Filler", strconv.Itoa(i))
			}
			return r
		}, 431, "application/fhir+json"},
		{"_format=json", get("/R4/Observation?_format=json"), 200, "application/fhir+json"},
		{"_format=application/fhir+json", get("/R4/Observation?_format=application/fhir%2Bjson"), 200, "application/fhir+json"},
		{"_format=xml", get("/R4/Observation?_format=xml"), 406, "application/fhir+json"},
		{"_format=html", get("/R4/Observation?_format=html"), 406, "application/fhir+json"},
		{"_format=text/html on a read", get("/R4/Observation/obs-lab?_format=text/html"), 406, "application/fhir+json"},
		{"Accept XML only", withHeader("/R4/Observation", "Accept", "application/fhir+xml"), 406, "application/fhir+json"},
		{"Accept HTML only", withHeader("/R4/Observation", "Accept", "text/html"), 406, "application/fhir+json"},
		{"Accept JSON or anything", withHeader("/R4/Observation", "Accept", "application/fhir+json, */*;q=0.1"), 200, "application/fhir+json"},
		{"SMART discovery without a token", func() *http.Request {
			return f.request("GET", "/R4/.well-known/smart-configuration", f.caller, "")
		}, 200, "application/json"},
		{"SMART discovery by HEAD", func() *http.Request {
			return f.request("HEAD", "/R4/.well-known/smart-configuration", f.caller, "")
		}, 200, "application/json"},
		{"SMART discovery by POST is no discovery", func() *http.Request {
			return f.request("POST", "/R4/.well-known/smart-configuration", f.caller, "")
		}, 401, "application/fhir+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.serve(tt.req())
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %.300s", w.Code, tt.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Fatalf("Content-Type %q, want %s", ct, tt.ctype)
			}
			if w.Code >= 400 && !strings.Contains(w.Body.String(), `"resourceType":"OperationOutcome"`) {
				t.Fatalf("body %s, want an OperationOutcome", w.Body)
			}
			if _, ok := f.auditReason(w.Header().Get(decisionHeader)); !ok {
				t.Fatal("no audit record (or more than one)")
			}
		})
	}
}

func TestSMARTConfigurationFromConfiguration(t *testing.T) {
	f := newGateFixture(t)
	w := f.serve(f.request("GET", "/R4/.well-known/smart-configuration", f.caller, ""))
	var doc struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		Capabilities  []string `json:"capabilities"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	if doc.Issuer != testIssuer || doc.TokenEndpoint != f.pep.PCM.TokenEndpoint {
		t.Fatalf("issuer %q token_endpoint %q, want the pcm configuration", doc.Issuer, doc.TokenEndpoint)
	}
	for _, c := range []string{"permission-v2", "permission-v1", "client-confidential-asymmetric"} {
		if !strings.Contains(strings.Join(doc.Capabilities, " "), c) {
			t.Errorf("capabilities %v lack %s", doc.Capabilities, c)
		}
	}
	if strings.Join(doc.AuthMethods, " ") != "private_key_jwt" {
		t.Errorf("token_endpoint_auth_methods_supported %v", doc.AuthMethods)
	}
	if strings.Contains(w.Body.String(), "introspect") {
		t.Errorf("the introspection endpoint is not for clients: %s", w.Body)
	}
}

func fieldLines(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}
