package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

// BenchmarkIntrospect measures one introspection as the PEP's cache misses
// cause it, without the network: the simulator must not be the bottleneck
// of an end-to-end load test.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b)
	minted := e.mint(map[string]any{"patient": "000000026", "scope": "patient/*.rs", "member": "hospital-a"})
	bearer := e.pcmToken()
	cert, err := demopki.LoadCertificate(e.pki.Clients["hmo-b"].Cert)
	if err != nil {
		b.Fatal(err)
	}
	state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
	body := "token=" + minted.Token
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/introspect", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "Bearer "+bearer)
		r.TLS = state
		w := httptest.NewRecorder()
		e.sim.handleIntrospect(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
