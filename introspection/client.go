package introspection

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for ClientConfig.
const (
	DefaultIntrospectionTimeout  = 3 * time.Second
	DefaultIntrospectionMaxBytes = 64 << 10
)

// How the PEP authenticates its introspection calls to PCM (ClientConfig.Auth).
const (
	// AuthBearer sends the PEP's own PCM access token (client_credentials
	// with a private_key_jwt assertion) over mTLS. The default.
	AuthBearer = "bearer"
	// AuthMTLS relies on the NTN client certificate alone (RFC 8705
	// tls_client_auth): no Authorization header, no token endpoint.
	AuthMTLS = "mtls"
)

// TokenProvider supplies the PEP's own PCM access token. *TokenSource
// implements it.
type TokenProvider interface {
	Token(ctx context.Context) (string, error)
	Invalidate(token string)
}

// ClientConfig configures RFC 7662 introspection at PCM.
type ClientConfig struct {
	// Endpoint is PCM's introspection endpoint (https).
	Endpoint string
	// HTTPClient must present the NTN client certificate and trust only
	// PCM's roots (normally the same client as the token source's).
	HTTPClient *http.Client
	// Auth is AuthBearer (default, "" means it) or AuthMTLS.
	Auth string
	// Tokens supplies the bearer token for PCM. Required with AuthBearer,
	// unused with AuthMTLS.
	Tokens TokenProvider
	// Timeout bounds one Introspect call, the PEP token and the single
	// retry included (default 3 s).
	Timeout time.Duration
	// MaxResponseBytes bounds the response body (default 64 KiB).
	MaxResponseBytes int64
	// Hooks receives OnIntrospection.
	Hooks Hooks
}

// Client calls PCM's introspection endpoint. It is safe for concurrent use.
type Client struct {
	endpoint string
	http     *http.Client
	tokens   TokenProvider // nil with AuthMTLS
	timeout  time.Duration
	maxBytes int64
	hooks    Hooks
}

// NewClient checks cfg and fills in defaults. It does no network I/O.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := checkEndpoint("introspection endpoint", cfg.Endpoint); err != nil {
		return nil, err
	}
	hc, err := pcmHTTPClient(cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	switch cfg.Auth {
	case "", AuthBearer:
		if cfg.Tokens == nil {
			return nil, errors.New("introspection: client needs a TokenProvider")
		}
	case AuthMTLS:
		// A provider passed anyway is ignored: no PCM token is ever sent.
		cfg.Tokens = nil
	default:
		return nil, fmt.Errorf("introspection: Auth must be %q or %q", AuthBearer, AuthMTLS)
	}
	c := &Client{
		endpoint: cfg.Endpoint,
		http:     hc,
		tokens:   cfg.Tokens,
		timeout:  cfg.Timeout,
		maxBytes: cfg.MaxResponseBytes,
		hooks:    cfg.Hooks,
	}
	if c.timeout == 0 {
		c.timeout = DefaultIntrospectionTimeout
	}
	if c.timeout < 0 {
		return nil, errors.New("introspection: Timeout must not be negative")
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultIntrospectionMaxBytes
	}
	if c.maxBytes < 0 {
		return nil, errors.New("introspection: MaxResponseBytes must not be negative")
	}
	return c, nil
}

// Introspect asks PCM about token. A nil error means PCM gave a
// well-formed answer, active or not. Every error wraps ErrUnavailable
// (decoding errors also wrap ErrMalformedResponse); no error contains
// either token. With AuthBearer, a 401 from PCM invalidates the PEP's token
// and the request is retried exactly once with a fresh one; with AuthMTLS a
// 401 is final (a new token cannot help).
func (c *Client) Introspect(ctx context.Context, token string) (*Claims, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	claims, outcome, err := c.introspect(ctx, token)
	c.hooks.introspection(outcome, time.Since(start))
	return claims, err
}

func (c *Client) introspect(ctx context.Context, token string) (*Claims, string, error) {
	for attempt := 1; ; attempt++ {
		var bearer string
		if c.tokens != nil {
			var err error
			if bearer, err = c.tokens.Token(ctx); err != nil {
				return nil, OutcomeTokenError, fmt.Errorf("%w: PCM access token: %w", ErrUnavailable, err)
			}
		}
		resp, err := c.post(ctx, bearer, token)
		if err != nil {
			if ctx.Err() != nil {
				return nil, OutcomeTimeout, fmt.Errorf("%w: introspection: %w", ErrUnavailable, ctx.Err())
			}
			return nil, OutcomeTransport, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
		}
		switch {
		case resp.status == http.StatusUnauthorized && attempt == 1 && c.tokens != nil:
			c.tokens.Invalidate(bearer)
			continue
		case resp.status == http.StatusUnauthorized && c.tokens == nil:
			return nil, OutcomeUnauthorized, fmt.Errorf("%w: introspection answered 401 to the PEP's client certificate", ErrUnavailable)
		case resp.status == http.StatusUnauthorized:
			return nil, OutcomeUnauthorized, fmt.Errorf("%w: introspection answered 401 with a fresh PCM access token", ErrUnavailable)
		case resp.status != http.StatusOK:
			return nil, OutcomeHTTPStatus, fmt.Errorf("%w: introspection answered %d", ErrUnavailable, resp.status)
		case resp.tooLarge:
			return nil, OutcomeMalformed, fmt.Errorf("%w: %w: introspection %w", ErrUnavailable, ErrMalformedResponse, errTooLarge)
		case !isJSON(resp.contentType):
			return nil, OutcomeMalformed, fmt.Errorf("%w: %w: introspection answered a non-JSON content type", ErrUnavailable, ErrMalformedResponse)
		}
		claims, err := DecodeClaims(resp.body)
		if err != nil {
			return nil, OutcomeMalformed, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if claims.Active {
			return claims, OutcomeActive, nil
		}
		return claims, OutcomeInactive, nil
	}
}

type introspectionResponse struct {
	status      int
	contentType string
	body        []byte
	tooLarge    bool
}

func (c *Client) post(ctx context.Context, bearer, token string) (*introspectionResponse, error) {
	form := url.Values{"token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer drainAndClose(resp.Body)
	out := &introspectionResponse{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode != http.StatusOK {
		return out, nil
	}
	out.body, err = readBounded(resp.Body, c.maxBytes)
	if errors.Is(err, errTooLarge) {
		out.tooLarge = true
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
