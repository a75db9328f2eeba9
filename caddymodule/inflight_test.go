package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// A reload cleans the old configuration up while its requests are still
// running (Caddy waits for them only when the process exits). A request
// that was upstream during the reload must still be answered and audited
// by its own configuration: before, the auditor was closed under it, and
// the request was answered 503 (audit required) or 200 with no record.
func TestCleanupWaitsForRequestsInFlight(t *testing.T) {
	for _, required := range []bool{true, false} {
		t.Run(map[bool]string{true: "required", false: "not required"}[required], func(t *testing.T) {
			old := newGateFixture(t, func(p *PEP) { p.Audit = &AuditConfig{Required: required} })
			old.pcm.set("lab", activeAnswer(old.caller, time.Now(), nil))
			inUpstream, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			proxy := proxyTo(old.fhir.srv.URL)
			slow := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				once.Do(func() { close(inUpstream) })
				<-release
				return proxy.ServeHTTP(w, r)
			})
			w := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = old.pep.ServeHTTP(w, old.request("GET", "/R4/Observation", old.caller, "lab"), slow)
			}()
			<-inUpstream
			if err := old.pep.Cleanup(); err != nil { // the reload
				t.Fatal(err)
			}
			select {
			case <-old.pep.inflight.idle:
				t.Fatal("cleaned-up PEP reported idle with a request in flight")
			default:
			}
			close(release)
			<-done
			<-old.pep.inflight.idle // the auditor closes after the last request
			if w.Code != http.StatusOK {
				t.Fatalf("request in flight across a cleanup answered %d, want 200", w.Code)
			}
			if n := len(old.logs.FilterLoggerName("audit").All()); n != 1 {
				t.Fatalf("%d audit records for the request in flight, want 1", n)
			}
			// A request arriving after the cleanup and after the last one
			// left finds the auditor closed: refused when required.
			if required {
				<-old.pep.inflight.audited
				late := old.serve(old.request("GET", "/R4/Observation", old.caller, "lab"))
				if late.Code != http.StatusServiceUnavailable {
					t.Fatalf("request after the auditor closed answered %d, want 503", late.Code)
				}
			}
		})
	}
}

func TestInflightEitherOrder(t *testing.T) {
	// close first, then the last request leaves
	f := newInflight()
	f.enter()
	if f.close() {
		t.Fatal("idle reported with a request in flight")
	}
	f.leave()
	<-f.idle
	// the last request leaves, then close
	g := newInflight()
	g.enter()
	g.leave()
	if !g.close() {
		t.Fatal("not idle with no request in flight")
	}
	<-g.idle
	// a nil inflight (never provisioned) counts nothing and is idle
	var n *inflight
	n.enter()
	n.leave()
	if !n.close() {
		t.Fatal("nil inflight not idle")
	}
}
