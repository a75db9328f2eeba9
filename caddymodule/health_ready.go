package caddymodule

import (
	"context"
	"net/http"

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
