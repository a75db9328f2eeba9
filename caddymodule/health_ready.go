package caddymodule

import (
	"context"
	"net/http"
	"sort"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hdp-il/fhir-pep/internal/readiness"
)

// liveBody is the whole answer of GET .../health/live: the process serves.
var liveBody = []byte(`{"status":"ok"}`)

func writeLive(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(liveBody)
}

// upstreamCheck reports whether the handler's upstream accepts
// connections (a TCP connect to upstream_base's host and port).
func (p *PEP) upstreamCheck(ctx context.Context) healthCheck {
	r := readiness.DialProbe{Base: p.UpstreamBase}.Check(ctx)
	return healthCheck{Status: string(r.Status), Detail: r.Detail}
}

// summarizeChecks adds up a report's checks: the overall status, the HTTP
// status (503 when any check fails) and the reasons of the failures.
func summarizeChecks(checks map[string]healthCheck) readiness.Summary {
	results := make([]readiness.Result, 0, len(checks))
	for name, c := range checks {
		results = append(results, readiness.Result{Name: name, Status: readiness.Status(c.Status), Detail: c.Detail})
	}
	return readiness.Summarize(results)
}

// currentPEPs lists the provisioned fhir_pep handlers, in a stable order.
func currentPEPs() []*PEP {
	livePEPs.Lock()
	peps := make([]*PEP, 0, len(livePEPs.set))
	for p := range livePEPs.set {
		peps = append(peps, p)
	}
	livePEPs.Unlock()
	sort.Slice(peps, func(i, j int) bool { return peps[i].Resource < peps[j].Resource })
	return peps
}

// serveAssertionJWKS answers the public keys of the handlers' upstream
// assertions, 404 when none has upstream_assertion on.
func serveAssertionJWKS(w http.ResponseWriter, peps []*PEP) error {
	var docs [][]byte
	for _, p := range peps {
		if p.asserter != nil {
			docs = append(docs, p.asserter.signer.JWKS())
		}
	}
	if len(docs) == 0 {
		http.NotFound(w, nil)
		return nil
	}
	body, err := mergeJWKS(docs)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
	return nil
}
