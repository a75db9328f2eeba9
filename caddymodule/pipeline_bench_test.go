package caddymodule

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkDecide measures the whole decision of typical requests: FHIR
// request parsing, scope parsing, the patient resolution from its cache,
// the Rego input and evaluation, and the response obligations. "warm"
// repeats one request (the decision cache answers, as for paging and
// retries); "cold" has the decision cache off, so Rego runs every time.
func BenchmarkDecide(b *testing.B) {
	b.Run("warm", func(b *testing.B) { benchmarkDecide(b, 0) })
	b.Run("cold", func(b *testing.B) { benchmarkDecide(b, -1) })
}

func benchmarkDecide(b *testing.B, decisionCache int) {
	f := newGateFixture(b, func(p *PEP) { p.Policy = &PolicyConfig{DecisionCache: decisionCache} })
	f.pcm.set("lab", activeAnswer(f.caller, time.Now(), nil))
	f.serve(f.request("GET", "/R4/metadata", f.caller, "lab")) // resolve and cache the patient
	x := &exchange{r: f.request("GET", "/R4/metadata", f.caller, "lab"), start: f.clock.Now()}
	if err := f.pep.authenticate(x); err != nil {
		b.Fatalf("gate: %v", err)
	}
	fetch := f.pep.fetcher(httptest.NewRequest("GET", "/R4/metadata", nil), proxyTo(f.fhir.srv.URL))
	for _, tc := range []struct{ name, target string }{
		{"search", "/R4/Observation?code=718-7&date=ge2024-01-01"},
		{"read", "/R4/Observation/obs-lab"},
		{"compartment-search", "/R4/Patient/p1/Observation?category=laboratory"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", tc.target, nil)
			b.ReportAllocs()
			for b.Loop() {
				req, entries, err := f.pep.parseFHIR(r)
				if err != nil {
					b.Fatal(err)
				}
				pl, err := f.pep.decide(r, fetch, x.subject, req, entries)
				if err != nil || !pl.decision.Allow {
					b.Fatalf("denied: %v", err)
				}
			}
		})
	}
}
