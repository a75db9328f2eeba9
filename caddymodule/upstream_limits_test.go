package caddymodule

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/limits"
)

// longCodes is a code parameter value whose narrowed query is far beyond
// maxUpstreamTarget.
func longCodes() string {
	codes := make([]string, 1200)
	for i := range codes {
		codes[i] = "http://loinc.org|718-" + strings.Repeat("7", 3)
	}
	return strings.Join(codes, ",")
}

// auditReason returns the reason of the audit record of a decision, and
// whether there is exactly one.
func (f *gateFixture) auditReason(decisionID string) (string, bool) {
	var reasons []string
	for _, e := range f.logs.FilterLoggerName("audit").All() {
		m := e.ContextMap()
		if m["decision_id"] == decisionID {
			r, _ := m["reason"].(string)
			reasons = append(reasons, r)
		}
	}
	if len(reasons) != 1 {
		return "", false
	}
	return reasons[0], true
}

// TestLongSearchGoesUpstreamAsPostSearch: a search whose narrowed query
// does not fit in an upstream URL is sent as POST _search with a form body,
// whether the client asked by GET or by POST _search; one that fits stays
// a GET.
func TestLongSearchGoesUpstreamAsPostSearch(t *testing.T) {
	// 1200 codes are more than the default limits allow (100 values a
	// parameter): an operator who needs such searches raises them.
	f := newGateFixture(t, func(p *PEP) { p.Limits = &limits.Config{MaxValuesPerParam: 2000, MaxValues: 2000} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	long := "code=" + strings.ReplaceAll(longCodes(), "|", "%7C")
	tests := []struct {
		name     string
		req      func() *http.Request
		wantCall string // prefix of the upstream call of the search
	}{
		{"short GET stays GET", func() *http.Request { return f.request("GET", "/R4/Observation?code=1", f.caller, "lab") }, "GET /R4/Observation?"},
		{"long GET", func() *http.Request { return f.request("GET", "/R4/Observation?"+long, f.caller, "lab") }, "POST /R4/Observation/_search"},
		{"long POST _search", func() *http.Request {
			r := f.request("POST", "/R4/Observation/_search", f.caller, "lab")
			r.Body = ioNopCloser(long)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, "POST /R4/Observation/_search"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.fhir.mu.Lock()
			f.fhir.requests = nil
			f.fhir.mu.Unlock()
			w := f.serve(tt.req())
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %.300s", w.Code, w.Body)
			}
			if got := strings.Join(entryIDs(t, w.Body.Bytes()), " "); got != "Observation/obs-lab" {
				t.Fatalf("entries %q", got)
			}
			calls := f.fhir.received()
			if len(calls) == 0 || !strings.HasPrefix(calls[len(calls)-1], tt.wantCall) {
				t.Fatalf("upstream calls %.200q, want the last to start with %q", calls, tt.wantCall)
			}
		})
	}
}

// TestTooLongForAnyUpstreamForm: a request that is not a search and does
// not fit in an upstream URL is refused 414 with an OperationOutcome; the
// upstream is not asked.
func TestTooLongForAnyUpstreamForm(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	f.serve(f.request("GET", "/R4/metadata", f.caller, "lab")) // resolve the patient first
	f.fhir.mu.Lock()
	f.fhir.requests = nil
	f.fhir.mu.Unlock()
	_, err := f.pep.upstream(t.Context(), f.pep.fetcher(f.request("GET", "/R4/Observation/x/_history", f.caller, "lab"), proxyTo(f.fhir.srv.URL)),
		"/Observation/x/_history", "_since="+strings.Repeat("x", maxUpstreamTarget))
	if err == nil {
		t.Fatal("no error, want the 414 denial")
	}
	d := asDenial(err)
	if d.status != http.StatusRequestURITooLong || d.reason != "upstream_target_too_long" {
		t.Fatalf("denial %+v, want the 414", d)
	}
	if res := f.pep.answer(d); !strings.Contains(string(res.body), `"resourceType":"OperationOutcome"`) {
		t.Fatalf("body %s", res.body)
	}
	if calls := f.fhir.received(); len(calls) != 0 {
		t.Fatalf("upstream asked: %v", calls)
	}
}

// TestUpstreamThatBreaksOffIsAnsweredAndAudited: whatever the upstream
// does, the client gets an OperationOutcome and the request its audit
// record: a connection reset before any answer (an error from next), and
// an answer broken off after its headers (reverse_proxy then panics with
// http.ErrAbortHandler, reverseproxy.go finalizeResponse).
func TestUpstreamThatBreaksOffIsAnsweredAndAudited(t *testing.T) {
	f := newGateFixture(t)
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	f.serve(f.request("GET", "/R4/metadata", f.caller, "lab")) // resolve the patient first

	// A server that accepts and resets every connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			_ = c.Close()
		}
	}()

	tests := []struct {
		name string
		next caddyhttp.Handler
	}{
		{"connection reset", proxyTo("http://" + ln.Addr().String())},
		{"answer broken off after the headers", caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if strings.HasSuffix(r.URL.Path, "/Patient/_search") {
				return proxyTo(f.fhir.srv.URL).ServeHTTP(w, r)
			}
			w.Header().Set("Content-Type", "application/fhir+json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[`))
			panic(http.ErrAbortHandler)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := f.pep.ServeHTTP(w, f.request("GET", "/R4/Observation", f.caller, "lab"), tt.next); err != nil {
				t.Fatalf("ServeHTTP: %v", err)
			}
			if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), `"resourceType":"OperationOutcome"`) {
				t.Fatalf("status %d body %s, want a 502 OperationOutcome", w.Code, w.Body)
			}
			reason, ok := f.auditReason(w.Header().Get(decisionHeader))
			if !ok || reason != "upstream_unreachable" {
				t.Fatalf("audit record reason %q (one record: %v), want upstream_unreachable", reason, ok)
			}
		})
	}
}
