package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestQueryHasAccessToken(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  bool
	}{
		{"empty", "", false},
		{"plain", "access_token=x", true},
		{"after another parameter", "code=1&access_token=x", true},
		{"no value", "access_token", true},
		{"empty value", "access_token=", true},
		{"encoded underscore", "access%5Ftoken=x", true},
		{"encoded underscore lower-case hex", "access%5ftoken=x", true},
		{"encoded first letter", "%61ccess_token=x", true},
		{"every byte encoded", "%61%63%63%65%73%73%5F%74%6F%6B%65%6E=x", true},
		{"upper case", "ACCESS_TOKEN=x", true},
		{"encoded upper case", "Access%5FToken=x", true},
		{"with a modifier", "access_token:exact=x", true},
		{"encoded colon modifier", "access_token%3Aexact=x", true},
		{"with a chain", "access_token.x=y", true},
		{"semicolon separator", "code=1;access_token=x", true},
		{"after an invalid escape elsewhere", "code=%zz&access%5Ftoken=x", true},
		{"surrounding spaces", "+access_token+=x", true},
		{"as a value only", "code=access_token", false},
		{"encoded in a value", "code=access%5Ftoken", false},
		{"longer name", "access_tokens=x", false},
		{"prefix", "my_access_token=x", false},
		{"double encoded is not decoded twice", "access%255Ftoken=x", false},
		{"invalid escape in the name", "access%5_token=x", false},
		{"truncated escape", "access%5", false},
		{"other parameters", "code=1&date=ge2024", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := queryHasAccessToken(tt.query); got != tt.want {
				t.Fatalf("queryHasAccessToken(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestBearerTokenRefusesAccessTokenParameter(t *testing.T) {
	const maxForm = 1 << 10
	tests := []struct {
		name   string
		query  string
		body   string // sent as a form body when not empty
		ctype  string
		header bool
		want   error
	}{
		{"header only", "code=1", "", "", true, nil},
		{"query plain", "access_token=t2", "", "", true, errTokenTwice},
		{"query %5F", "access%5Ftoken=t2", "", "", true, errTokenTwice},
		{"query %5f", "access%5ftoken=t2", "", "", true, errTokenTwice},
		{"query %61", "%61ccess_token=t2", "", "", true, errTokenTwice},
		{"query only, no header", "access%5Ftoken=t2", "", "", false, errTokenTwice},
		{"form plain", "", "code=1&access_token=t2", "application/x-www-form-urlencoded", true, errTokenTwice},
		{"form %5F", "", "code=1&access%5Ftoken=t2", "application/x-www-form-urlencoded", true, errTokenTwice},
		{"form %5f", "", "access%5ftoken=t2", "application/x-www-form-urlencoded", true, errTokenTwice},
		{"form %61", "", "%61ccess_token=t2", "application/x-www-form-urlencoded; charset=utf-8", true, errTokenTwice},
		{"form upper-case media type", "", "%61ccess_token=t2", "Application/X-WWW-Form-Urlencoded", true, errTokenTwice},
		{"form only, no header", "", "access%5Ftoken=t2", "application/x-www-form-urlencoded", false, errTokenTwice},
		{"form without the parameter", "", "code=1", "application/x-www-form-urlencoded", true, nil},
		{"form too large", "", strings.Repeat("a", maxForm+1), "application/x-www-form-urlencoded", true, errBodyTooLarge},
		// A JSON body is not a form: an access_token member in a resource is data.
		{"json body", "", `{"access_token":"x"}`, "application/fhir+json", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			var body io.Reader
			if tt.body != "" {
				method, body = http.MethodPost, strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(method, "https://pep.test/R4/Observation/_search?"+tt.query, body)
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			if tt.header {
				r.Header.Set("Authorization", "Bearer t1")
			}
			token, err := bearerToken(r, maxForm)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && token != "t1" {
				t.Fatalf("token %q, want t1", token)
			}
			if tt.want != nil && token != "" {
				t.Fatalf("token %q returned with an error", token)
			}
			if tt.body != "" && tt.want != errBodyTooLarge {
				// The body is put back for the later stages and the upstream.
				got, _ := io.ReadAll(r.Body)
				if string(got) != tt.body {
					t.Fatalf("body not restored: %q", got)
				}
			}
		})
	}
}

// TestEncodedAccessTokenNeverReachesUpstream runs the encoded spellings of
// issue #16 through the whole handler: each is 400 and nothing is proxied.
func TestEncodedAccessTokenNeverReachesUpstream(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("good", activeAnswer(f.caller, time.Now(), nil))
	names := []string{"access_token", "access%5Ftoken", "%61ccess_token", "access%5ftoken"}
	for _, name := range names {
		t.Run("query "+name, func(t *testing.T) {
			w := f.serve(f.request("GET", "/R4/Observation?"+name+"=other", f.caller, "good"))
			if w.Code != http.StatusBadRequest || f.reached != nil {
				t.Fatalf("status %d, reached upstream %v; want 400 and nothing upstream", w.Code, f.reached != nil)
			}
		})
		t.Run("form "+name, func(t *testing.T) {
			r := f.request("POST", "/R4/Observation/_search", f.caller, "good")
			r.Body = io.NopCloser(strings.NewReader("code=x&" + name + "=other"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := f.serve(r)
			if w.Code != http.StatusBadRequest || f.reached != nil {
				t.Fatalf("status %d, reached upstream %v; want 400 and nothing upstream", w.Code, f.reached != nil)
			}
		})
	}
}

// FuzzQueryHasAccessToken checks the decoded comparison against an
// independent oracle: net/url's strict parser, applied pair by pair. Any
// name that url.QueryUnescape turns into access_token (whatever the case,
// and whatever follows a ':' or '.') must be found, and a query with no
// "access" and "token" in any decoding must never be flagged.
func FuzzQueryHasAccessToken(f *testing.F) {
	for _, seed := range []string{
		"access_token=x", "access%5Ftoken=x", "%61ccess_token=x", "access%5ftoken=x",
		"a=1&b=2", "access%255Ftoken=x", "access_token:exact=1", "x=1;ACCESS_TOKEN=2", "%zz", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		got := queryHasAccessToken(query)
		for _, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
			name, _, _ := strings.Cut(pair, "=")
			decoded, err := url.QueryUnescape(name)
			if err != nil {
				continue
			}
			if isAccessTokenName(decoded) && !got {
				t.Fatalf("%q: name %q decodes to %q but was not flagged", query, name, decoded)
			}
		}
		if got {
			// Something in the query must decode to the name.
			if !containsFold(lenientUnescape(query), accessTokenParam) {
				t.Fatalf("%q flagged but no decoding names access_token", query)
			}
		}
		// The form body path agrees with the query path.
		r := httptest.NewRequest(http.MethodPost, "https://pep.test/R4/Observation/_search", bytes.NewReader([]byte(query)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		inBody, err := formBodyHasAccessToken(r, int64(len(query))+1)
		if err != nil || inBody != got {
			t.Fatalf("%q: form body check = %v, %v; query check = %v", query, inBody, err, got)
		}
	})
}

// containsFold reports whether some run of len(sub) runes of s equals sub
// under Unicode case folding (so "acceſſ_token", which Java's
// equalsIgnoreCase also matches, counts).
func containsFold(s, sub string) bool {
	runes := []rune(s)
	n := len([]rune(sub))
	for i := 0; i+n <= len(runes); i++ {
		if strings.EqualFold(string(runes[i:i+n]), sub) {
			return true
		}
	}
	return false
}
