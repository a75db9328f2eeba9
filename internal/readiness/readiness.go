// Package readiness holds the Caddy-free parts of the health endpoints the
// national guidelines name: which probe a path asks for (GET /health/live,
// GET /health/ready), how check results add up to an answer (200, or 503
// with the reasons), and the upstream reachability probe.
//
// Liveness says only that the process serves HTTP; it never looks at
// dependencies, so an orchestrator does not restart a PEP whose PCM is down
// (a restart would not help and would drop in-flight requests). Readiness
// is the fail-closed view: a PEP that would deny every request for lack of
// a fresh manifest, a PCM token, a policy or an upstream is not ready.
package readiness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Kind is what a health request asks for.
type Kind int

const (
	// Report is the full report (any other path): the same checks as
	// Ready, for operators.
	Report Kind = iota
	// Live is GET .../health/live.
	Live
	// Ready is GET .../health/ready.
	Ready
)

// KindOf maps a request path to the probe it asks for. Only the last path
// segment counts, so the endpoints work under any prefix (/health/live,
// /pep/health/live) and on a dedicated listener.
func KindOf(path string) Kind {
	switch path[strings.LastIndexByte(path, '/')+1:] {
	case "live":
		return Live
	case "ready":
		return Ready
	}
	return Report
}

// Status of one check.
type Status string

// Check statuses. Degraded still serves (e.g. a manifest refresh failing
// while the last manifest is fresh); Fail means requests fail closed.
const (
	OK       Status = "ok"
	Degraded Status = "degraded"
	Fail     Status = "fail"
)

// Result is one named check's outcome. Detail must hold no token, patient
// data or certificate: it is served to whoever can reach the endpoint.
type Result struct {
	Name   string
	Status Status
	Detail string
}

// Summary is what a set of results adds up to.
type Summary struct {
	// Status is the worst status of the results; Fail when there are none
	// (nothing checked is nothing known to work).
	Status Status
	// HTTPStatus is 200 unless Status is Fail, then 503.
	HTTPStatus int
	// Reason names the failing checks with their details, sorted by name,
	// "name: detail; name: detail"; empty when nothing fails.
	Reason string
}

// Summarize adds up results.
func Summarize(results []Result) Summary {
	if len(results) == 0 {
		return Summary{Status: Fail, HTTPStatus: http.StatusServiceUnavailable, Reason: "no checks configured"}
	}
	s := Summary{Status: OK, HTTPStatus: http.StatusOK}
	var reasons []string
	for _, r := range results {
		switch r.Status {
		case OK:
		case Degraded:
			if s.Status == OK {
				s.Status = Degraded
			}
		default:
			// An unknown status is a failure: fail closed.
			s.Status, s.HTTPStatus = Fail, http.StatusServiceUnavailable
			detail := r.Detail
			if detail == "" {
				detail = string(Fail)
			}
			reasons = append(reasons, r.Name+": "+detail)
		}
	}
	slices.Sort(reasons)
	s.Reason = strings.Join(reasons, "; ")
	return s
}

// UpstreamProbe checks that the upstream FHIR server answers: GET
// <base>/metadata (the CapabilityStatement, which every FHIR server serves
// without patient context) must answer 200 within the timeout.
type UpstreamProbe struct {
	// Base is the upstream FHIR base URL.
	Base string
	// Client performs the request; nil means a client without redirects
	// and without a proxy.
	Client *http.Client
	// Timeout bounds the probe; default 2s.
	Timeout time.Duration
}

// errRedirect stops the probe at a redirect: the probe checks this
// upstream, not wherever it points.
var errRedirect = errors.New("redirect")

// Check runs the probe. The detail names the failure class, never the
// upstream's answer body.
func (p UpstreamProbe) Check(ctx context.Context) Result {
	res := Result{Name: "upstream", Status: Fail}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.Base, "/")+"/metadata", nil)
	if err != nil {
		res.Detail = "upstream URL is invalid"
		return res
	}
	req.Header.Set("Accept", "application/fhir+json")
	client := p.Client
	if client == nil {
		client = &http.Client{
			Transport:     &http.Transport{Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			res.Detail = "upstream did not answer within " + timeout.String()
		} else {
			res.Detail = "upstream unreachable"
		}
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		res.Detail = fmt.Sprintf("upstream answered %d to GET /metadata", resp.StatusCode)
		return res
	}
	res.Status, res.Detail = OK, ""
	return res
}

// DialProbe checks that the upstream accepts connections: a TCP connect to
// the host and port of Base. It is what readiness uses by default, because
// it cannot be fooled into "not ready" by what only the proxy path has (the
// upstream's private CA, credentials reverse_proxy adds with header_up),
// while a stopped or unroutable upstream still fails it.
type DialProbe struct {
	// Base is the upstream URL (http or https).
	Base string
	// Dial opens the connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds the probe; default 2s.
	Timeout time.Duration
}

// Check runs the probe.
func (p DialProbe) Check(ctx context.Context) Result {
	res := Result{Name: "upstream", Status: Fail}
	u, err := url.Parse(p.Base)
	if err != nil || u.Host == "" {
		res.Detail = "upstream URL is invalid"
		return res
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			res.Detail = "upstream URL is invalid"
			return res
		}
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := p.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		if ctx.Err() != nil {
			res.Detail = "upstream did not accept a connection within " + timeout.String()
		} else {
			res.Detail = "upstream unreachable"
		}
		return res
	}
	conn.Close()
	res.Status = OK
	return res
}
