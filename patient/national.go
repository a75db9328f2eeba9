package patient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hdp-il/fhir-pep/internal/strictjson"
)

// ErrDuplicatePatient means the national resolve service found more than
// one active Patient for the identifier (409 duplicate_active_patient). It
// is a denial (403), not an outage: asking again will not help, and
// picking one of the records could disclose another person's data.
var ErrDuplicatePatient = errors.New("patient: more than one active Patient for the identifier")

// ResolvePath is the national resolve endpoint, relative to the configured
// service URL.
const ResolvePath = "/api/v1/resolve"

const (
	// defaultNationalTimeout bounds one resolve call. The request waits for
	// it, so it is short; a slow service fails closed (503).
	defaultNationalTimeout = 5 * time.Second
	// maxResolveBody bounds the answer: a patient id and a reference.
	maxResolveBody = 64 << 10
	// maxResolveDepth bounds JSON nesting of the answer.
	maxResolveDepth = 8
	// duplicateCode is the error the service gives with 409.
	duplicateCode = "duplicate_active_patient"
)

// NationalConfig configures a NationalResolver.
type NationalConfig struct {
	// Config is the cache configuration.
	Config
	// URL is the base URL of the resolve service; ResolvePath is appended.
	// It must be https, except on a loopback host (a local sidecar, tests).
	URL string
	// BasicUser and BasicPassword, when BasicUser is set, authenticate with
	// HTTP Basic.
	BasicUser     string
	BasicPassword string
	// TLS is the client TLS configuration: client certificate for mTLS,
	// root CAs. See ClientTLS. Nil means the system roots, no client
	// certificate.
	TLS *tls.Config
	// Timeout of one call; default 5s.
	Timeout time.Duration
	// Transport replaces the HTTP transport (tests); when set, TLS is
	// ignored.
	Transport http.RoundTripper
}

// NationalResolver resolves through the national patient-resolution
// service: POST <url>/api/v1/resolve with {"identifier": {"system",
// "value"}}, answered {"patient_id", "resource_reference"}.
//
//   - 200 with a well-formed answer whose resource_reference is
//     "Patient/<patient_id>": that one id.
//   - 404: no data for this patient here (an empty result, cached for the
//     negative TTL), not an error.
//   - 409 naming duplicate_active_patient: ErrDuplicatePatient.
//   - anything else (another status, a redirect, a malformed or oversized
//     body, a reference that does not match the id, a timeout): an error
//     wrapping ErrLookupFailed, never "no data".
//
// The national id travels only in the POST body, never in a URL, so no
// access log on the way records it.
type NationalResolver struct {
	cache
	endpoint string
	client   *http.Client
	user     string
	password string
	timeout  time.Duration
}

// NewNationalResolver checks the configuration and returns a resolver.
func NewNationalResolver(cfg NationalConfig) (*NationalResolver, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("patient: resolve url must be an absolute URL without credentials, query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, errors.New("patient: resolve url must be https (http only on a loopback host)")
		}
	default:
		return nil, errors.New("patient: resolve url must be https")
	}
	if cfg.BasicUser == "" && cfg.BasicPassword != "" {
		return nil, errors.New("patient: resolve basic password without a user")
	}
	if strings.Contains(cfg.BasicUser, ":") {
		return nil, errors.New("patient: resolve basic user must not contain ':'")
	}
	transport := cfg.Transport
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // the national service is reached directly, like PCM
		if cfg.TLS != nil {
			t.TLSClientConfig = cfg.TLS.Clone()
		}
		transport = t
	}
	r := &NationalResolver{
		endpoint: strings.TrimSuffix(u.String(), "/") + ResolvePath,
		client: &http.Client{
			Transport: transport,
			// A redirect would carry the identifier (and Basic
			// credentials) somewhere not configured: refuse it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		user:     cfg.BasicUser,
		password: cfg.BasicPassword,
		timeout:  cfg.Timeout,
	}
	if r.timeout <= 0 {
		r.timeout = defaultNationalTimeout
	}
	r.init(cfg.Config)
	return r, nil
}

// Resolve returns the logical id of the Patient with identifier
// system|value, or none when the service does not know the patient. The
// Fetcher is ignored: the signature matches Resolver.Resolve so that the
// handler can hold either.
func (r *NationalResolver) Resolve(ctx context.Context, _ Fetcher, system, value string) ([]string, error) {
	return r.resolve(ctx, system, value, func(ctx context.Context) ([]string, error) {
		return r.lookup(ctx, system, value)
	})
}

type resolveRequest struct {
	Identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

type resolveAnswer struct {
	PatientID         *string `json:"patient_id"`
	ResourceReference *string `json:"resource_reference"`
}

func (r *NationalResolver) lookup(ctx context.Context, system, value string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var body resolveRequest
	body.Identifier.System, body.Identifier.Value = system, value
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: encode request", ErrLookupFailed)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%w: build request", ErrLookupFailed)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if r.user != "" {
		req.SetBasicAuth(r.user, r.password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// The url.Error names only the endpoint; the identifier is in the
		// body, so the message is safe to log.
		return nil, fmt.Errorf("%w: %v", ErrLookupFailed, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResolveBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read answer: %v", ErrLookupFailed, err)
	}
	if len(data) > maxResolveBody {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", ErrLookupFailed, maxResolveBody)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		id, err := parseResolveAnswer(data)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	case http.StatusNotFound:
		return []string{}, nil
	case http.StatusConflict:
		if namesDuplicate(data) {
			return nil, ErrDuplicatePatient
		}
		return nil, fmt.Errorf("%w: status 409 without %s", ErrLookupFailed, duplicateCode)
	}
	return nil, fmt.Errorf("%w: resolve status %d", ErrLookupFailed, resp.StatusCode)
}

// parseResolveAnswer checks the 200 answer: one JSON object, no duplicate
// members, a patient_id that is a FHIR logical id, and a
// resource_reference that is exactly Patient/<patient_id>. A reference to
// another resource type or another id means the service and this PEP
// disagree about whom the request is for, so it fails closed.
func parseResolveAnswer(data []byte) (string, error) {
	if err := strictjson.Check(data, maxResolveDepth); err != nil {
		return "", fmt.Errorf("%w: answer is not strict JSON: %v", ErrLookupFailed, err)
	}
	var a resolveAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return "", fmt.Errorf("%w: answer is not an object with string patient_id and resource_reference", ErrLookupFailed)
	}
	if a.PatientID == nil || a.ResourceReference == nil {
		return "", fmt.Errorf("%w: answer lacks patient_id or resource_reference", ErrLookupFailed)
	}
	if !validLogicalID(*a.PatientID) {
		return "", fmt.Errorf("%w: patient_id is not a FHIR logical id", ErrLookupFailed)
	}
	if *a.ResourceReference != "Patient/"+*a.PatientID {
		return "", fmt.Errorf("%w: resource_reference does not name Patient/<patient_id>", ErrLookupFailed)
	}
	return *a.PatientID, nil
}

// namesDuplicate reports whether a 409 answer names
// duplicate_active_patient as its error: {"error": ...}, {"code": ...},
// {"error_code": ...} or FastAPI's {"detail": ...}, or the bare string as
// the whole body.
func namesDuplicate(data []byte) bool {
	if strings.TrimSpace(string(data)) == duplicateCode {
		return true
	}
	if strictjson.Check(data, maxResolveDepth) != nil {
		return false
	}
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	for _, k := range []string{"error", "code", "error_code", "detail"} {
		if s, ok := m[k].(string); ok && s == duplicateCode {
			return true
		}
	}
	return false
}

// validLogicalID is the FHIR id type: [A-Za-z0-9\-\.]{1,64}.
func validLogicalID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientTLS builds the client TLS configuration for the resolve service:
// certPEM and keyPEM (both or neither) are the client certificate for
// mTLS, caPEM (optional) replaces the system roots. TLS 1.2 at least.
func ClientTLS(certPEM, keyPEM, caPEM []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case len(certPEM) > 0 && len(keyPEM) > 0:
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("patient: resolve client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case len(certPEM) > 0 || len(keyPEM) > 0:
		return nil, errors.New("patient: resolve client_cert and client_key go together")
	}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("patient: resolve ca holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
