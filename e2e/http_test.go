package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPAnswers: HEAD, a GET with a body, non-JSON formats, too many
// header fields and SMART discovery, through the real stack (Caddy's
// server, the demo FHIR server behind reverse_proxy).
func TestHTTPAnswers(t *testing.T) {
	s := stackFor(t)
	c := s.memberClient(t, "hospital-a")
	token := s.labToken(t, "hospital-a", "000000018")
	s.remember(token)
	do := func(t *testing.T, method, target, body string, header map[string]string) (int, http.Header, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, s.pepBase+target, rd)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, b
	}
	auth := map[string]string{"Authorization": "Bearer " + token}

	getStatus, getHeader, getBody := do(t, "GET", "/Observation", "", auth)
	if getStatus != http.StatusOK || len(getBody) == 0 {
		t.Fatalf("GET: status %d", getStatus)
	}
	t.Run("HEAD answers like GET without a body", func(t *testing.T) {
		status, h, body := do(t, "HEAD", "/Observation", "", auth)
		if status != http.StatusOK || len(body) != 0 || h.Get("Content-Type") != getHeader.Get("Content-Type") {
			t.Fatalf("HEAD: status %d, %d body bytes, Content-Type %q", status, len(body), h.Get("Content-Type"))
		}
	})
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
	}{
		{"GET with a body", "GET", "/Observation", "code=1", auth, http.StatusBadRequest},
		{"_format=html", "GET", "/Observation?_format=html", "", auth, http.StatusNotAcceptable},
		{"_format=xml", "GET", "/Observation?_format=xml", "", auth, http.StatusNotAcceptable},
		{"Accept XML only", "GET", "/Observation", "", map[string]string{"Authorization": auth["Authorization"], "Accept": "application/fhir+xml"}, http.StatusNotAcceptable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, tc.method, tc.target, tc.body, tc.header)
			if status != tc.status || !strings.Contains(string(body), `"resourceType":"OperationOutcome"`) {
				t.Fatalf("status %d, want %d with an OperationOutcome: %.200s", status, tc.status, body)
			}
		})
	}
	t.Run("more than 100 header fields", func(t *testing.T) {
		h := map[string]string{"Authorization": auth["Authorization"]}
		for i := range 101 {
			h["X-Filler-"+strings.Repeat("a", 1+i%26)+string(rune('a'+i/26))] = "x"
		}
		status, _, body := do(t, "GET", "/Observation", "", h)
		if status != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431: %.200s", status, body)
		}
	})
	t.Run("SMART discovery without a token", func(t *testing.T) {
		status, h, body := do(t, "GET", "/.well-known/smart-configuration", "", nil)
		var doc struct {
			TokenEndpoint string   `json:"token_endpoint"`
			Capabilities  []string `json:"capabilities"`
		}
		if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") ||
			json.Unmarshal(body, &doc) != nil || doc.TokenEndpoint == "" || len(doc.Capabilities) == 0 {
			t.Fatalf("status %d, Content-Type %q: %.300s", status, h.Get("Content-Type"), body)
		}
	})
}
