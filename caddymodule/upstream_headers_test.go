package caddymodule

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/internal/correlation"
)

// The request path writes these header keys into header maps directly
// (no Header.Set), which is only right for keys in canonical form.
func TestDirectHeaderKeysAreCanonical(t *testing.T) {
	for _, k := range append([]string{
		decisionHeader, correlation.CanonicalHeader, "Accept", "Accept-Encoding",
		// respond and versionHeaders
		"Content-Type", "Cache-Control", "X-Content-Type-Options", "Content-Length", "Etag", "Last-Modified",
	}, forwardedHeaders...) {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header key %q is not canonical (%q)", k, c)
		}
	}
}

// The upstream request is a shallow copy of the client's: changing its
// URL and header must leave the client's request as it was (the audit
// record and the page links read it afterwards), and no client header
// outside forwardedHeaders may reach the upstream.
func TestFetcherLeavesTheClientRequestAlone(t *testing.T) {
	p := newGateFixture(t).pep
	r, _ := http.NewRequest("GET", "https://pep.example/R4/Observation/o1?x=1", nil)
	r.Header.Set("Authorization", "Bearer secret")
	r.Header.Set("User-Agent", "client/1")
	r.Header.Set("If-None-Match", `"v1"`)
	var seen *http.Request
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, up *http.Request) error {
		seen = up
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if _, err := p.fetcher(r, next)(r.Context(), "/Observation", "_id=o1", ""); err != nil {
		t.Fatal(err)
	}
	if r.URL.Path != "/R4/Observation/o1" || r.URL.RawQuery != "x=1" {
		t.Errorf("client URL changed to %s", r.URL)
	}
	if r.Header.Get("Authorization") == "" || r.Header.Get("Accept") != "" {
		t.Errorf("client header changed: %v", r.Header)
	}
	if seen.URL == r.URL || seen.URL.Path != "/R4/Observation" || seen.URL.RawQuery != "_id=o1" {
		t.Errorf("upstream URL %s (shared with the client's: %v)", seen.URL, seen.URL == r.URL)
	}
	for _, h := range []string{"Authorization", "If-None-Match"} {
		if seen.Header.Get(h) != "" {
			t.Errorf("upstream got the client's %s", h)
		}
	}
	if seen.Header.Get("User-Agent") != "client/1" || seen.Header.Get("Accept") != "application/fhir+json" {
		t.Errorf("upstream header %v", seen.Header)
	}
}
