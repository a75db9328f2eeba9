package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const nid = "http://fhir.health.gov.il/identifier/il-national-id"

func newTestServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	ix, err := loadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newResolver(ix, "pep", "secret", log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, user, password, body string) (int, map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+ResolvePath, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func identifier(system, value string) string {
	b, _ := json.Marshal(map[string]any{"identifier": map[string]string{"system": system, "value": value}})
	return string(b)
}

// TestResolveDemoData: the answers for the demo patients, as the demo FHIR
// server holds them (examples/fhir-server/data/README.md).
func TestResolveDemoData(t *testing.T) {
	srv := newTestServer(t, filepath.Join("..", "..", "fhir-server", "data"))
	tests := []struct {
		name, user, password, body string
		status                     int
		want                       map[string]string
	}{
		{"one Patient", "pep", "secret", identifier(nid, "000000026"), http.StatusOK,
			map[string]string{"patient_id": "hdp-demo-patient-2", "resource_reference": "Patient/hdp-demo-patient-2"}},
		{"two active Patients", "pep", "secret", identifier(nid, "000000018"), http.StatusConflict,
			map[string]string{"error": "duplicate_active_patient"}},
		{"unknown national id", "pep", "secret", identifier(nid, "000000042"), http.StatusNotFound,
			map[string]string{"error": "patient_not_found"}},
		{"another system", "pep", "secret", identifier("urn:passport", "000000026"), http.StatusNotFound,
			map[string]string{"error": "patient_not_found"}},
		{"no credentials", "", "", identifier(nid, "000000026"), http.StatusUnauthorized, map[string]string{"error": "unauthorized"}},
		{"wrong password", "pep", "secreT", identifier(nid, "000000026"), http.StatusUnauthorized, map[string]string{"error": "unauthorized"}},
		{"wrong user", "pe", "secret", identifier(nid, "000000026"), http.StatusUnauthorized, map[string]string{"error": "unauthorized"}},
		{"no identifier", "pep", "secret", `{}`, http.StatusBadRequest, map[string]string{"error": "invalid_request"}},
		{"unknown member", "pep", "secret", `{"identifier":{"system":"` + nid + `","value":"000000026"},"x":1}`, http.StatusBadRequest, map[string]string{"error": "invalid_request"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got := post(t, srv, tc.user, tc.password, tc.body)
			if status != tc.status || len(got) != len(tc.want) {
				t.Fatalf("status %d %v, want %d %v", status, got, tc.status, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("status %d %v, want %d %v", status, got, tc.status, tc.want)
				}
			}
		})
	}
	t.Run("GET is 405", func(t *testing.T) {
		resp, err := http.Get(srv.URL + ResolvePath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestInactiveAndReplacedPatients: an inactive Patient does not count, and
// a later version of a Patient replaces the earlier one.
func TestInactiveAndReplacedPatients(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	patient := func(id, value, active string) string {
		return `{"resourceType":"Patient","id":"` + id + `"` + active + `,"identifier":[{"system":"` + nid + `","value":"` + value + `"}]}`
	}
	write("a.json", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":`+patient("p1", "000000018", "")+`},{"resource":`+patient("p2", "000000018", `,"active":false`)+`},{"resource":`+patient("p3", "000000026", "")+`}]}`)
	// p3 moves to another national id in a later file.
	write("b.json", patient("p3", "000000034", `,"active":true`))
	srv := newTestServer(t, dir)
	if status, got := post(t, srv, "pep", "secret", identifier(nid, "000000018")); status != http.StatusOK || got["patient_id"] != "p1" {
		t.Fatalf("000000018: %d %v, want p1 (p2 is inactive)", status, got)
	}
	if status, _ := post(t, srv, "pep", "secret", identifier(nid, "000000026")); status != http.StatusNotFound {
		t.Fatalf("000000026: %d, want 404 (p3's later version has another id)", status)
	}
	if status, got := post(t, srv, "pep", "secret", identifier(nid, "000000034")); status != http.StatusOK || got["patient_id"] != "p3" {
		t.Fatalf("000000034: %d %v, want p3", status, got)
	}
}
