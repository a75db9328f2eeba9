package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// drainGrace is grace_period in examples/demo/Caddyfile: how long requests
// in flight may take to finish after SIGTERM.
const drainGrace = 30 * time.Second

// TestDrainOnSIGTERM (issue #14): on SIGTERM a request in flight finishes
// with its answer, while new connections are refused at once, and the
// process exits 0 within the grace period. A second fhir-pep runs in front
// of a gate that holds its upstream Observation search until the test has
// sent SIGTERM and seen a new connection refused; the gate then lets the
// search through to the demo FHIR server.
func TestDrainOnSIGTERM(t *testing.T) {
	s := stackFor(t)
	gate := newUpstreamGate(t, s.upstreamBase, "/Observation")

	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.startPEP("fhir-pep-drain", ports[0], ports[1], filepath.Join(s.dir, "pep-drain-ntn"), "INFO",
		"FHIR_PORT="+strconv.Itoa(gate.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Already gone if the test got that far; stopProcess takes it off
		// the stack's list either way.
		if err := s.stopProcess(p); err != nil {
			t.Error(err)
		}
	})
	base := fmt.Sprintf("https://localhost:%d%s", ports[0], fhirBase)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	token := s.mint(t, grant{Patient: "000000018", Scope: labScope, Member: "hospital-a", Aud: base}).Token
	c := s.memberClient(t, "hospital-a")

	inFlight := make(chan response, 1)
	inFlightErr := make(chan error, 1)
	go func() {
		r, err := s.send(c, token, base+"/Observation")
		if err != nil {
			inFlightErr <- err
			return
		}
		inFlight <- r
	}()
	select {
	case <-gate.arrived:
	case err := <-inFlightErr:
		t.Fatalf("the request failed before it reached the upstream: %v", err)
	case r := <-inFlight:
		t.Fatalf("the request was answered %d before it reached the upstream: %s", r.status, r.body)
	case <-time.After(20 * time.Second):
		t.Fatal("the Observation search never reached the upstream")
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	terminated := time.Now()

	// New connections are refused while the request is still held.
	err = poll(10*time.Second, func() (bool, error) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return false, nil
		}
		return errors.Is(err, syscall.ECONNREFUSED), nil
	})
	if err != nil {
		t.Fatalf("a new connection to the draining PEP is still accepted: %v; its output:\n%s", err, tail(p.logPath))
	}
	select {
	case r := <-inFlight:
		t.Fatalf("the request in flight was answered %d before its upstream answered: %s", r.status, r.body)
	case err := <-inFlightErr:
		t.Fatalf("the request in flight was cut off by SIGTERM: %v", err)
	case <-p.done:
		t.Fatalf("fhir-pep exited with a request in flight (%v)", p.waitErr)
	default:
	}

	gate.release()
	select {
	case r := <-inFlight:
		if r.status != http.StatusOK {
			t.Fatalf("the request in flight got %d after SIGTERM, want 200: %s", r.status, r.body)
		}
		if len(decodeBundle(t, r.body).resources()) == 0 {
			t.Fatal("the request in flight got an empty Bundle")
		}
	case err := <-inFlightErr:
		t.Fatalf("the request in flight failed after SIGTERM: %v", err)
	case <-time.After(drainGrace):
		t.Fatal("the request in flight got no answer within the grace period")
	}

	select {
	case <-p.done:
	case <-time.After(time.Until(terminated.Add(drainGrace))):
		t.Fatalf("fhir-pep still running %s after SIGTERM with nothing in flight; its output:\n%s", drainGrace, tail(p.logPath))
	}
	if err := p.exitedCleanly(); err != nil {
		t.Fatalf("fhir-pep did not exit 0 after draining: %v; its output:\n%s", err, tail(p.logPath))
	}
	if !strings.Contains(tailAll(p.logPath), "grace period initiated") {
		t.Errorf("fhir-pep did not use a grace period (grace_period missing from the Caddyfile?); its output:\n%s", tail(p.logPath))
	}
}

// upstreamGate is a reverse proxy to the demo FHIR server that holds the
// first request whose path contains hold until release is called, and
// passes everything else (patient lookups, /metadata) straight through.
type upstreamGate struct {
	port    int
	arrived chan struct{} // closed when the held request has arrived
	release func()
}

func newUpstreamGate(t *testing.T, upstreamBase, hold string) *upstreamGate {
	t.Helper()
	target, err := url.Parse(upstreamBase)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	g := &upstreamGate{arrived: make(chan struct{})}
	released := make(chan struct{})
	var once, held sync.Once
	g.release = func() { once.Do(func() { close(released) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, hold) {
			first := false
			held.Do(func() { first = true })
			if first {
				close(g.arrived)
				<-released
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	// Release before closing: Close waits for the held handler.
	t.Cleanup(srv.Close)
	t.Cleanup(g.release)
	g.port = srv.Listener.Addr().(*net.TCPAddr).Port
	return g
}

// tailAll is the whole output of a process, for a search in it.
func tailAll(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
