package caddymodule

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/internal/correlation"
	"github.com/hdp-il/fhir-pep/internal/testpki"
)

// isJSONByParse is isJSON without its fast path: the reference the fast
// path must agree with.
func isJSONByParse(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/fhir+json" || mt == "application/json" || mt == "application/json+fhir"
}

func TestIsJSONFastPathAgreesWithParse(t *testing.T) {
	for _, ct := range []string{
		// The fast path's literals.
		"application/fhir+json", "application/fhir+json; charset=utf-8", "application/fhir+json;charset=utf-8",
		"application/json", "application/json; charset=utf-8",
		// Everything else takes the parse.
		"application/json+fhir", "Application/FHIR+JSON", " application/fhir+json", "application/fhir+json; charset=utf-8; x",
		"application/fhir+json;", "application/fhir+json; charset", "application/fhir+jsonx", "application/fhir+xml",
		"text/html", "", "application/json; charset=utf-8, text/html", "application/fhir+json\x00",
	} {
		if got, want := isJSON(ct), isJSONByParse(ct); got != want {
			t.Errorf("isJSON(%q) = %v, parse says %v", ct, got, want)
		}
	}
}

func FuzzIsJSON(f *testing.F) {
	for _, s := range []string{"application/fhir+json", "application/json; charset=utf-8", "text/plain", ";"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		if got, want := isJSON(ct), isJSONByParse(ct); got != want {
			t.Fatalf("isJSON(%q) = %v, parse says %v", ct, got, want)
		}
	})
}

// respond backs its header values by one array: a handler appending to
// one of them must not change another.
func TestRespondHeaderValuesAreIndependent(t *testing.T) {
	w := httptest.NewRecorder()
	respond(w, result{status: http.StatusOK, body: []byte(`{"resourceType":"Patient"}`)})
	h := w.Header()
	for _, k := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "Content-Length"} {
		h[k] = append(h[k], "appended")
	}
	want := map[string][]string{
		"Content-Type":           {"application/fhir+json; charset=utf-8", "appended"},
		"Cache-Control":          {"no-store", "appended"},
		"X-Content-Type-Options": {"nosniff", "appended"},
		"Content-Length":         {"26", "appended"},
	}
	for k, v := range want {
		if got := h[k]; fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// The {http.fhir_pep.*} placeholders are read through the exchange after
// ServeHTTP returned (as the access log does). Each is known exactly from
// the point where the request path learns its value.
func TestPlaceholders(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	tests := []struct {
		name   string
		token  string
		path   string
		status int
		want   map[string]string // "" marks a placeholder that must be unknown
	}{
		{"allowed read", "lab", "/R4/Observation/obs-lab", 200, map[string]string{
			"member_id": "org-sp-hospital-a", "client_id": "sp-hospital-a", "reason": "",
		}},
		{"no token", "", "/R4/Observation/obs-lab", 401, map[string]string{
			// The certificate was trusted, but no token bound: no member
			// or client placeholder yet.
			"member_id": "", "client_id": "", "reason": "no_token",
		}},
		{"withheld", "lab", "/R4/Observation/obs-lab-other", 404, map[string]string{
			"member_id": "org-sp-hospital-a", "client_id": "sp-hospital-a", "reason": "*",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.request("GET", tt.path, f.caller, tt.token)
			w := f.serve(r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			want := map[string]string{
				"decision_id":    w.Header().Get(decisionHeader),
				"correlation_id": w.Header().Get(correlation.CanonicalHeader),
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for name, v := range want {
				got, known := repl.GetString("http.fhir_pep." + name)
				switch {
				case v == "" && known:
					t.Errorf("%s known as %q before the request path learnt it", name, got)
				case v == "*" && (!known || got == ""):
					t.Errorf("%s unknown, want a value", name)
				case v != "" && v != "*" && (!known || got != v):
					t.Errorf("%s = %q (known %v), want %q", name, got, known, v)
				}
			}
			if want["decision_id"] == "" || want["correlation_id"] == "" {
				t.Fatal("answer without decision or correlation id")
			}
			if _, known := repl.GetString("http.fhir_pep.other"); known {
				t.Error("an unknown fhir_pep placeholder is known")
			}
		})
	}
}

// Captures (and their header maps) are pooled across requests: under
// concurrency every answer carries its own upstream body and its own
// ETag, and an answer whose upstream sent no ETag carries none.
func TestPooledCapturesNeverCrossRequests(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	if w := f.serve(f.request("GET", "/R4/Observation/obs-lab", f.caller, "lab")); w.Code != 200 {
		t.Fatalf("warm-up: status %d: %s", w.Code, w.Body)
	}
	f.pep.pcm.introspector.Cache().Wait()

	// The upstream answers Observation/o<n> with that id, p1's lab
	// result, and an ETag for odd n only.
	upstream := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := r.URL.Path[len("/R4/Observation/"):]
		n, err := strconv.Atoi(id[1:])
		if err != nil {
			return err
		}
		body, err := json.Marshal(observation(id, "p1", "laboratoryTests"))
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("Content-Type", "application/fhir+json")
		if n%2 == 1 {
			h.Set("ETag", `W/"`+id+`"`)
		}
		w.WriteHeader(http.StatusOK)
		_, err = w.Write(body)
		return err
	})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := g*each + i
				id := "o" + strconv.Itoa(n)
				w := httptest.NewRecorder()
				if err := f.pep.ServeHTTP(w, f.request("GET", "/R4/Observation/"+id, f.caller, "lab"), upstream); err != nil || w.Code != 200 {
					errs <- fmt.Errorf("%s: status %d, err %v: %s", id, w.Code, err, w.Body)
					continue
				}
				var got struct{ ID string }
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.ID != id {
					errs <- fmt.Errorf("%s: answered with resource %q (%v)", id, got.ID, err)
				}
				wantETag := ""
				if n%2 == 1 {
					wantETag = `W/"` + id + `"`
				}
				if etag := w.Header().Get("ETag"); etag != wantETag {
					errs <- fmt.Errorf("%s: ETag %q, want %q", id, etag, wantETag)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A released capture keeps nothing of its answer.
func TestReleasedCaptureIsEmpty(t *testing.T) {
	c := newCapture(1 << 20)
	c.Header().Set("ETag", `"1"`)
	c.WriteHeader(http.StatusTeapot)
	_, _ = c.Write([]byte("body"))
	c.links = func(raw []byte) ([]byte, error) { return raw, nil }
	c.edited, _ = editedSearchset(t, 3)
	_ = c.editedBytes()
	c.release()
	if len(c.header) != 0 || c.status != 0 || c.body != nil || c.limit != 0 || c.overflow || c.links != nil || c.out != nil {
		t.Fatalf("released capture keeps state: %+v", c)
	}
	if c.edited.Body() != nil || c.edited.Len() != 0 || !c.edited.Unchanged() {
		t.Fatalf("released capture keeps its Edited: %+v", c.edited)
	}
}

// hasInternalPrefix removes at least every header the canonical-form
// test removed: a name whose canonical form starts with the prefix.
func TestHasInternalPrefixCoversCanonicalForm(t *testing.T) {
	for _, name := range []string{
		"X-Fhir-Pep-Member-Id", "x-fhir-pep-decision-id", "X-FHIR-PEP-ASSERTION", "x-Fhir-pep-", "X-Fhir-Pep-a b",
		"X-Fhir-Pe", "X-Fhir-Pepx", "X-Fhir-Pe-Member", "Authorization", "", "X_Fhir_Pep_Member",
	} {
		canonical := strings.HasPrefix(http.CanonicalHeaderKey(name), internalHeaderPrefix)
		if got := hasInternalPrefix(name); canonical && !got {
			t.Errorf("%q: canonical form has the prefix, hasInternalPrefix says no", name)
		} else if got != strings.HasPrefix(strings.ReplaceAll(strings.ToLower(name), "_", "-"), strings.ToLower(internalHeaderPrefix)) {
			t.Errorf("%q: hasInternalPrefix = %v", name, got)
		}
	}
}

// Under dry_run the client's own request reaches the upstream: no header
// posing as the PEP's may go with it, however it is spelt (review finding:
// "X_fhir_pep_decision_id" reached an upstream that reads "_" as "-").
// The same for the header of the upstream assertion when it has a name of
// its own, outside the prefix.
func TestDryRunStripsInternalHeadersEverySpelling(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "assertion.key")
	if err := os.WriteFile(keyFile, testpki.KeyPEM(t, testpki.SelfSigned(t, "assertion").Key), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newGateFixture(t, func(p *PEP) {
		p.Policy = &PolicyConfig{DryRun: true}
		p.UpstreamAssertion = &UpstreamAssertionConfig{Key: keyFile, Header: "X-Upstream-Auth"}
	})
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	r := f.request("GET", "/R4/Condition", f.caller, "lab")
	r.Header["X-Upstream-Auth"] = []string{"spoof-e"}
	r.Header["X-fhir-PEP-member-id"] = []string{"spoof-a"}
	r.Header["X_fhir_pep_decision_id"] = []string{"spoof-b"}
	r.Header["X-Fhir-Pep-Decision-Id"] = []string{"spoof-c"}
	r.Header["X-Fhir_Pep-Assertion"] = []string{"spoof-d"}
	if w := f.serve(r); w.Code != http.StatusOK {
		t.Fatalf("dry run: status %d", w.Code)
	}
	if f.reached == nil {
		t.Fatal("dry run did not reach the upstream")
	}
	for name, vs := range f.reached.Header {
		for _, v := range vs {
			if strings.HasPrefix(v, "spoof-") {
				t.Errorf("upstream sees the client's %s: %v", name, vs)
			}
		}
	}
}

func FuzzHasInternalPrefix(f *testing.F) {
	f.Add("X-Fhir-Pep-Member-Id")
	f.Add("x-fhir-pep-")
	f.Fuzz(func(t *testing.T, name string) {
		if strings.HasPrefix(http.CanonicalHeaderKey(name), internalHeaderPrefix) && !hasInternalPrefix(name) {
			t.Fatalf("%q: canonical form has the prefix, hasInternalPrefix says no", name)
		}
	})
}

// Once the answer is written the exchange holds no capture: they are back
// in their pool, and the exchange outlives the request (the placeholder
// provider reads it).
func TestFinishedExchangeHoldsNoCapture(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	w := httptest.NewRecorder()
	x := f.pep.begin(w, f.request("GET", "/R4/Observation/obs-lab", f.caller, "lab"), proxyTo(f.fhir.srv.URL))
	res, err := f.pep.serve(x)
	if len(x.captures) == 0 {
		t.Fatal("the read made no upstream call")
	}
	if err := f.pep.finish(x, res, err); err != nil || w.Code != 200 {
		t.Fatalf("status %d, err %v", w.Code, err)
	}
	if x.captures != nil || x.capturesBuf != [2]*capture{} {
		t.Fatalf("finished exchange still references captures: %v %v", x.captures, x.capturesBuf)
	}
}
