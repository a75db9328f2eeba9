package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// response is one answer of the PEP, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
	reused bool // the request went over a connection that served an earlier one
}

// memberClient returns an HTTP/1.1 client presenting the named demo client
// certificate ("" for none) and trusting the demo TLS CA. It keeps
// connections alive, and always dials 127.0.0.1 (where the PEP listens)
// while still sending "localhost" as SNI and Host.
func (s *stack) memberClient(t *testing.T, name string) *http.Client {
	t.Helper()
	cfg, err := s.pki.ClientTLSConfig(name)
	if err != nil {
		t.Fatalf("client TLS config %q: %v", name, err)
	}
	return newClient(t, cfg)
}

func newClient(t *testing.T, cfg *tls.Config) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: cfg,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && host == "localhost" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// postSearch performs POST <type>/_search with a form body (FHIR's search
// by POST), checked like get.
func (s *stack) postSearch(t *testing.T, c *http.Client, token, typ string, form url.Values) response {
	t.Helper()
	target := s.pepBase + "/" + typ + "/_search"
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.remember(token)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: %v", target, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	s.checkNoUpstreamAddress(t, target, r)
	return r
}

// send performs GET target (a path under the FHIR base, or an absolute URL)
// with an optional bearer token. It returns the transport error for
// requests that never got an HTTP answer (refused TLS handshakes).
func (s *stack) send(c *http.Client, token, target string) (response, error) {
	if !strings.HasPrefix(target, "https://") {
		target = s.pepBase + target
	}
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return response{}, err
	}
	if token != "" {
		s.remember(token)
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body, reused: reused}, nil
}

// get is send for requests that must get an HTTP answer. Every answer is
// checked for the upstream's address: the PEP must never reveal it.
func (s *stack) get(t *testing.T, c *http.Client, token, target string) response {
	t.Helper()
	r, err := s.send(c, token, target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	s.checkNoUpstreamAddress(t, target, r)
	return r
}

// expectStatus is get plus an exact status check.
func (s *stack) expectStatus(t *testing.T, c *http.Client, token, target string, want int) response {
	t.Helper()
	r := s.get(t, c, token, target)
	if r.status != want {
		t.Fatalf("GET %s: status %d, want %d; body: %.400s", target, r.status, want, r.body)
	}
	return r
}

func (s *stack) checkNoUpstreamAddress(t *testing.T, target string, r response) {
	t.Helper()
	needles := []string{s.upstreamBase, "127.0.0.1:" + strconv.Itoa(s.fhirPort), "localhost:" + strconv.Itoa(s.fhirPort)}
	for _, n := range needles {
		if strings.Contains(string(r.body), n) {
			t.Errorf("GET %s: the response body reveals the upstream address %q", target, n)
		}
		for name, values := range r.header {
			for _, v := range values {
				if strings.Contains(v, n) {
					t.Errorf("GET %s: response header %s reveals the upstream address %q", target, name, n)
				}
			}
		}
	}
}

// metric reads one series of the PEP under test; a missing series is 0.
func (s *stack) metric(t *testing.T, series string) float64 {
	t.Helper()
	v, _, err := scrapeMetric(s.pepAdmin, series)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	return v
}

// denials returns the PEP's count of denials with this reason.
func (s *stack) denials(t *testing.T, reason string) float64 {
	t.Helper()
	return s.metric(t, `caddy_fhir_pep_decisions_total{outcome="deny",reason="`+reason+`"}`)
}

// handshakeRejections returns the ntn verifier's count of refused handshakes.
func (s *stack) handshakeRejections(t *testing.T, reason string) float64 {
	t.Helper()
	return s.metric(t, `caddy_fhir_pep_ntn_handshake_rejections_total{reason="`+reason+`"}`)
}

// operationOutcome decodes a denial body and returns its first issue code.
func operationOutcomeCode(t *testing.T, body []byte) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code string `json:"code"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("want an OperationOutcome, got %.300s", body)
	}
	return oo.Issue[0].Code
}
