package trust

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// maxAPIResponseBytes bounds the api_url answer, which is a tiny JSON object.
const maxAPIResponseBytes = 64 << 10

// maxRedirects bounds redirects followed by the NTN HTTP client.
const maxRedirects = 3

// Source fetches the raw manifest JWS. Implementations must honour ctx
// (deadline and cancellation) and bound what they read.
type Source interface {
	Fetch(ctx context.Context) ([]byte, error)
}

// HTTPClientConfig configures NewHTTPClient.
type HTTPClientConfig struct {
	// Certificate is the data source's NTN client certificate, presented
	// to the NTN server (mTLS).
	Certificate tls.Certificate
	// RootCAs verify the NTN server's certificate. Nil means the system
	// roots. Server verification is never disabled.
	RootCAs *x509.CertPool
	// Timeout bounds each request, as a second guard to the context the
	// Store sets. Zero means no client-level timeout.
	Timeout time.Duration
}

// NewHTTPClient returns an HTTP client for the NTN server: TLS 1.2 or
// newer, the given client certificate, verified server certificate, and
// redirects only to https URLs (at most three).
func NewHTTPClient(cfg HTTPClientConfig) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cfg.Certificate},
		RootCAs:      cfg.RootCAs,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" {
				return errors.New("redirect to a non-https URL")
			}
			return nil
		},
	}
}

// URLSource fetches the manifest JWS with one GET (manifest_url mode).
type URLSource struct {
	url    *url.URL
	client *http.Client
}

// NewURLSource returns a source for manifest_url mode. rawURL must be an
// absolute https URL.
func NewURLSource(rawURL string, client *http.Client) (*URLSource, error) {
	u, err := parseHTTPSURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("manifest_url: %w", err)
	}
	if client == nil {
		return nil, errors.New("manifest_url: an HTTP client is required")
	}
	return &URLSource{url: u, client: client}, nil
}

// Fetch implements Source.
func (s *URLSource) Fetch(ctx context.Context) ([]byte, error) {
	return get(ctx, s.client, s.url, MaxManifestBytes)
}

// APISource asks the NTN API for a presigned manifest URL, then fetches
// the manifest from it (api_url mode).
type APISource struct {
	url    *url.URL
	client *http.Client
}

// NewAPISource returns a source for api_url mode. rawURL must be an
// absolute https URL.
func NewAPISource(rawURL string, client *http.Client) (*APISource, error) {
	u, err := parseHTTPSURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("api_url: %w", err)
	}
	if client == nil {
		return nil, errors.New("api_url: an HTTP client is required")
	}
	return &APISource{url: u, client: client}, nil
}

// apiResponse is the api_url answer. Unknown fields are ignored on
// purpose: the answer only points at the manifest, whose signature is what
// is trusted.
type apiResponse struct {
	URL *string `json:"url"`
}

// Fetch implements Source. The presigned URL may be relative to api_url
// and must resolve to an https URL.
func (s *APISource) Fetch(ctx context.Context) ([]byte, error) {
	body, err := get(ctx, s.client, s.url, maxAPIResponseBytes)
	if err != nil {
		return nil, err
	}
	var resp apiResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, newError(ReasonAPIResponse, "api_url answer is not a JSON object with a url")
	}
	if resp.URL == nil || *resp.URL == "" {
		return nil, newError(ReasonAPIResponse, "api_url answer has no url")
	}
	ref, err := url.Parse(*resp.URL)
	if err != nil {
		return nil, newError(ReasonAPIResponse, "api_url answer has a malformed url")
	}
	target := s.url.ResolveReference(ref)
	if target.Scheme != "https" || target.Host == "" {
		return nil, newError(ReasonAPIResponse, "presigned url must be https")
	}
	return get(ctx, s.client, target, MaxManifestBytes)
}

// FileSource reads the manifest JWS from disk (file mode, for air-gapped
// setups where another process drops the file).
type FileSource struct {
	path string
}

// NewFileSource returns a source for file mode.
func NewFileSource(path string) (*FileSource, error) {
	if path == "" {
		return nil, errors.New("file: a path is required")
	}
	return &FileSource{path: path}, nil
}

// Fetch implements Source.
func (s *FileSource) Fetch(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, contextError(err)
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, wrapError(ReasonFetch, err)
	}
	defer f.Close()
	return readBounded(f, MaxManifestBytes)
}

func parseHTTPSURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("malformed URL")
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("must be an absolute https URL")
	}
	return u, nil
}

// get performs one GET and returns the body of a 200 answer. Errors never
// contain the URL: a presigned URL carries a credential in its query.
func get(ctx context.Context, client *http.Client, u *url.URL, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, wrapError(ReasonFetch, errors.New("cannot build request"))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; ignore errors.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, newError(ReasonHTTPStatus, "NTN server answered %d", resp.StatusCode)
	}
	body, err := readBounded(resp.Body, limit)
	if err != nil && ctx.Err() != nil {
		return nil, contextError(ctx.Err())
	}
	return body, err
}

func readBounded(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, wrapError(ReasonFetch, stripURL(err))
	}
	if int64(len(body)) > limit {
		return nil, newError(ReasonTooLarge, "more than %d bytes", limit)
	}
	return body, nil
}

func transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(ctxErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return wrapError(ReasonTimeout, stripURL(err))
	}
	return wrapError(ReasonFetch, stripURL(err))
}

func contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return wrapError(ReasonTimeout, err)
	}
	return wrapError(ReasonCanceled, err)
}

// stripURL removes the URL that net/http puts into its errors.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
