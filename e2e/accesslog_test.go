package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// accessLine is the part of a Caddy access log entry the scan reads.
type accessLine struct {
	Logger  string `json:"logger"`
	Request struct {
		URI     string              `json:"uri"`
		Headers map[string][]string `json:"headers"`
	} `json:"request"`
}

// accessLines returns the access log entries (logger http.log.access*) in
// the PEP's output.
func accessLines(path string) ([]accessLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []accessLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"logger":"http.log.access`) {
			continue
		}
		var e accessLine
		if err := json.Unmarshal(line, &e); err != nil || !strings.HasPrefix(e.Logger, "http.log.access") {
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// scanAccessLog returns what is wrong with the access log in the PEP's
// output: a logged URI with any query value or an access_token parameter,
// or an Authorization header logged other than as REDACTED. Tokens and
// national ids anywhere are the general scan's business (scanLog).
func scanAccessLog(path string) []string {
	lines, err := accessLines(path)
	if err != nil {
		return []string{"cannot read the access log: " + err.Error()}
	}
	var problems []string
	for i, e := range lines {
		if msg := uriProblem(e.Request.URI); msg != "" {
			problems = append(problems, fmt.Sprintf("  access entry %d: %s", i+1, msg))
		}
		for k, vs := range e.Request.Headers {
			if strings.EqualFold(k, "Authorization") && (len(vs) != 1 || vs[0] != "REDACTED") {
				problems = append(problems, fmt.Sprintf("  access entry %d: Authorization header logged", i+1))
			}
		}
	}
	return problems
}

// uriProblem says what a logged URI still holds that it must not.
func uriProblem(uri string) string {
	_, query, ok := strings.Cut(uri, "?")
	if !ok || query == "" {
		return ""
	}
	for part := range strings.SplitSeq(query, "&") {
		name, value, _ := strings.Cut(part, "=")
		if value != "" {
			return "a query value is logged (parameter " + name + ")"
		}
		if dec, err := url.QueryUnescape(name); err != nil || strings.EqualFold(strings.TrimSpace(dec), "access_token") {
			return "an access_token parameter is logged"
		}
	}
	return ""
}

// TestAccessLogKeepsNamesOnly: with the access log on (examples/demo/
// Caddyfile), what it records of an allowed search, of a refused request
// carrying a national id and a token in its query, and of a read by
// national id, is the path and the parameter names only. TestMain then
// checks every access entry of the whole suite the same way.
func TestAccessLogKeepsNamesOnly(t *testing.T) {
	s := stackFor(t)
	marker := "mark" + randomLetters(t, 12)
	token := s.labToken(t, "hospital-a", "000000018")
	c := s.memberClient(t, "hospital-a")

	tests := []struct {
		target  string
		bearer  bool
		allowed bool
		logged  string
	}{
		{"/Observation?category=laboratory&_count=2", true, true,
			fhirBase + "/Observation?category=&_count="},
		{"/Observation?patient.identifier=http://fhir.health.gov.il/identifier/il-national-id%7C000000026&access%5Ftoken=" + url.QueryEscape(token), false, false,
			fhirBase + "/Observation?patient.identifier="},
		{"/Patient/000000026", true, false,
			fhirBase + "/Patient/REDACTED"},
	}
	want := map[string]bool{}
	for _, tt := range tests {
		want[tt.logged] = false
		req, err := http.NewRequest(http.MethodGet, s.pepBase+tt.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The marker finds this test's entries: other headers are logged as sent.
		req.Header.Set("X-E2e-Marker", marker)
		if tt.bearer {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ok := resp.StatusCode == http.StatusOK; ok != tt.allowed {
			t.Fatalf("GET %s: status %d, want allowed=%v", tt.target, resp.StatusCode, tt.allowed)
		}
	}

	// The access entry is written when the answer is done; the client may
	// see the answer a moment before the line reaches the file.
	var got []string
	err := poll(10*time.Second, func() (bool, error) {
		lines, err := accessLines(s.pepLog)
		if err != nil {
			return false, err
		}
		got = got[:0]
		for _, e := range lines {
			if m := e.Request.Headers["X-E2e-Marker"]; len(m) == 1 && m[0] == marker {
				got = append(got, e.Request.URI)
			}
		}
		return len(got) >= len(want), nil
	})
	if err != nil {
		t.Fatalf("access entries of this test: %q (%v)", got, err)
	}
	for _, uri := range got {
		if _, ok := want[uri]; !ok {
			t.Errorf("unexpected access entry URI %q", uri)
			continue
		}
		want[uri] = true
	}
	for uri, seen := range want {
		if !seen {
			t.Errorf("no access entry %q; got %q", uri, got)
		}
	}
	if problems := scanAccessLog(s.pepLog); len(problems) > 0 {
		t.Errorf("the access log holds what it must not:\n%s", strings.Join(problems, "\n"))
	}
}

func randomLetters(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}
