package introspection

import (
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hdp-il/fhir-pep/internal/token68"
)

// Defaults for TokenSourceConfig.
const (
	DefaultAssertionLifetime = 60 * time.Second
	DefaultRefreshMargin     = 5 * time.Second
	DefaultTokenTimeout      = 5 * time.Second
	DefaultTokenMaxBytes     = 16 << 10
	// DefaultRetryBackoff and DefaultMaxRetryBackoff bound the wait after
	// failed refreshes: 0.5 s after the first, doubling up to 10 s. A long
	// PCM outage then costs one token request per 5 to 10 s (each with a
	// newly signed assertion), and recovery is noticed within 10 s.
	DefaultRetryBackoff    = 500 * time.Millisecond
	DefaultMaxRetryBackoff = 10 * time.Second
	// maxAssertionLifetime keeps client assertions short-lived (RFC 7523
	// section 3 asks for a limited lifetime; a stolen assertion is replayable
	// until exp).
	maxAssertionLifetime = 5 * time.Minute
	// maxTokenLifetime caps expires_in; anything larger is not PCM's 30 s
	// token and is rejected as malformed.
	maxTokenLifetime = 24 * time.Hour
)

// Form values of the RFC 7523 client_credentials request.
const (
	grantTypeClientCredentials = "client_credentials"
	assertionTypeJWTBearer     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// TokenSourceConfig configures the PEP's own PCM access token.
type TokenSourceConfig struct {
	// TokenEndpoint is PCM's token endpoint (https). It is also the "aud"
	// of the client assertion.
	TokenEndpoint string
	// ClientID is the PEP's client_id at PCM, "iss" and "sub" of the
	// assertion.
	ClientID string
	// Scope and Resource (RFC 8707) are sent when not empty.
	Scope    string
	Resource string
	// Signer is the private key of the data source's NTN client
	// certificate: RSA (2048 bits or more) or ECDSA P-256/P-384.
	Signer crypto.Signer
	// Algorithm optionally forces one of ES256, ES384, PS256, RS256; by default
	// P-256 → ES256, P-384 → ES384, RSA → RS256.
	Algorithm string
	// KeyID, when set, is sent as the assertion's "kid" header.
	KeyID string
	// HTTPClient must present the NTN client certificate and trust only
	// PCM's roots. It is required; there is no fallback client.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// AssertionLifetime is exp - iat of the client assertion (default 60 s,
	// at most 5 min).
	AssertionLifetime time.Duration
	// RefreshMargin: a cached token is refreshed once less than
	// max(RefreshMargin, 20% of its lifetime) remains (default 5 s; never
	// more than half the lifetime, so a token is always reused).
	RefreshMargin time.Duration
	// Timeout bounds one token endpoint call (default 5 s).
	Timeout time.Duration
	// MaxResponseBytes bounds the token response body (default 16 KiB).
	MaxResponseBytes int64
	// RetryBackoff is the wait after the first failed refresh (default
	// 0.5 s); each further failure doubles it, up to MaxRetryBackoff
	// (default 10 s). The wait is jittered between half and all of it.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	// Rand returns a uniform number in [0, 1) for the jitter;
	// math/rand/v2.Float64 when nil.
	Rand func() float64
	// Hooks receives OnTokenRefresh.
	Hooks Hooks
}

// TokenSource obtains and caches the PEP's PCM access token with the
// client_credentials grant and a private_key_jwt client assertion
// (RFC 7523). It is safe for concurrent use; concurrent callers that need a
// new token share one token endpoint call. A failed call is remembered for
// a bounded, jittered, exponentially growing backoff: until it passes,
// every caller gets that failure (or the current token while it is still
// valid) without another call, so an outage of the token endpoint never
// turns each request into a token request.
type TokenSource struct {
	endpoint          string
	clientID          string
	scope             string
	resource          string
	signer            *assertionSigner
	http              *http.Client
	now               func() time.Time
	assertionLifetime time.Duration
	refreshMargin     time.Duration
	timeout           time.Duration
	maxBytes          int64
	backoff           time.Duration
	maxBackoff        time.Duration
	rand              func() float64
	hooks             Hooks

	group singleflight.Group
	mu    sync.Mutex
	cur   *accessToken // nil: none, or invalidated
	// failures counts consecutive failed refreshes; until retryAt every
	// caller gets lastErr instead of a new token endpoint call.
	failures int
	retryAt  time.Time
	lastErr  error
}

// accessToken is one cached PCM access token.
type accessToken struct {
	value     string
	refreshAt time.Time
	expiresAt time.Time
}

// NewTokenSource checks cfg, fills in defaults and prepares the assertion
// signer. It does no network I/O.
func NewTokenSource(cfg TokenSourceConfig) (*TokenSource, error) {
	if err := checkEndpoint("token endpoint", cfg.TokenEndpoint); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("introspection: token source needs a ClientID")
	}
	hc, err := pcmHTTPClient(cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	signer, err := newAssertionSigner(cfg.Signer, cfg.Algorithm, cfg.KeyID)
	if err != nil {
		return nil, err
	}
	s := &TokenSource{
		endpoint:          cfg.TokenEndpoint,
		clientID:          cfg.ClientID,
		scope:             cfg.Scope,
		resource:          cfg.Resource,
		signer:            signer,
		http:              hc,
		now:               cfg.Now,
		assertionLifetime: cfg.AssertionLifetime,
		refreshMargin:     cfg.RefreshMargin,
		timeout:           cfg.Timeout,
		maxBytes:          cfg.MaxResponseBytes,
		backoff:           cfg.RetryBackoff,
		maxBackoff:        cfg.MaxRetryBackoff,
		rand:              cfg.Rand,
		hooks:             cfg.Hooks,
	}
	if s.rand == nil {
		s.rand = mathrand.Float64
	}
	if s.backoff == 0 {
		s.backoff = DefaultRetryBackoff
	}
	if s.maxBackoff == 0 {
		s.maxBackoff = max(DefaultMaxRetryBackoff, s.backoff)
	}
	if s.backoff < 0 || s.maxBackoff < s.backoff {
		return nil, errors.New("introspection: RetryBackoff must be positive and at most MaxRetryBackoff")
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.assertionLifetime == 0 {
		s.assertionLifetime = DefaultAssertionLifetime
	}
	if s.assertionLifetime < 0 || s.assertionLifetime > maxAssertionLifetime {
		return nil, fmt.Errorf("introspection: AssertionLifetime must be between 0 and %s", maxAssertionLifetime)
	}
	if s.refreshMargin == 0 {
		s.refreshMargin = DefaultRefreshMargin
	}
	if s.refreshMargin < 0 {
		return nil, errors.New("introspection: RefreshMargin must not be negative")
	}
	if s.timeout == 0 {
		s.timeout = DefaultTokenTimeout
	}
	if s.timeout < 0 {
		return nil, errors.New("introspection: token Timeout must not be negative")
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultTokenMaxBytes
	}
	if s.maxBytes < 0 {
		return nil, errors.New("introspection: token MaxResponseBytes must not be negative")
	}
	return s, nil
}

// Token returns a PCM access token valid for at least the refresh margin,
// fetching a new one when needed. Errors wrap ErrUnavailable.
//
// The token endpoint call runs detached from ctx (bounded by the
// configured Timeout) because other callers may be waiting for the same
// result; ctx only bounds how long this caller waits. If a refresh fails
// while the current token has not yet expired, that token is returned.
// After a failed refresh, and until its backoff has passed, no new call is
// made: callers get the current token while it is valid, else the failure.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	now := s.now()
	s.mu.Lock()
	cur, backingOff, lastErr := s.cur, now.Before(s.retryAt), s.lastErr
	s.mu.Unlock()
	if cur != nil && now.Before(cur.refreshAt) {
		return cur.value, nil
	}
	if backingOff {
		if cur != nil && now.Before(cur.expiresAt) {
			s.hooks.tokenRefresh(OutcomeRefreshStale)
			return cur.value, nil
		}
		s.hooks.tokenRefresh(OutcomeRefreshBackoff)
		return "", fmt.Errorf("%w (no new attempt before the backoff ends)", lastErr)
	}
	ch := s.group.DoChan("token", func() (any, error) {
		return s.refresh(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err == nil {
			return r.Val.(*accessToken).value, nil
		}
		s.mu.Lock()
		cur = s.cur
		s.mu.Unlock()
		if cur != nil && s.now().Before(cur.expiresAt) {
			s.hooks.tokenRefresh(OutcomeRefreshStale)
			return cur.value, nil
		}
		return "", r.Err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: waiting for the PCM access token: %w", ErrUnavailable, ctx.Err())
	}
}

// Invalidate drops the cached token if it is still token, so that a 401
// from PCM forces exactly one refresh however many requests saw it.
func (s *TokenSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && subtle.ConstantTimeCompare([]byte(s.cur.value), []byte(token)) == 1 {
		s.cur = nil
	}
}

func (s *TokenSource) refresh(ctx context.Context) (*accessToken, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tok, err := s.fetch(ctx)
	if err != nil {
		s.hooks.tokenRefresh(OutcomeRefreshError)
		s.mu.Lock()
		s.failures++
		s.retryAt = s.now().Add(s.backoffFor(s.failures))
		s.lastErr = err
		s.mu.Unlock()
		return nil, err
	}
	s.hooks.tokenRefresh(OutcomeRefreshOK)
	s.mu.Lock()
	s.cur = tok
	s.failures, s.retryAt, s.lastErr = 0, time.Time{}, nil
	s.mu.Unlock()
	return tok, nil
}

// backoffFor is the wait after the n-th consecutive failure:
// RetryBackoff * 2^(n-1), capped at MaxRetryBackoff, then jittered to
// between half and all of it ("equal jitter"), so PEPs restarted together
// do not retry in lockstep while the wait still grows.
func (s *TokenSource) backoffFor(n int) time.Duration {
	d := s.backoff
	for i := 1; i < n && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	j := min(max(s.rand(), 0), 1)
	return d/2 + time.Duration(j*float64(d/2))
}

func (s *TokenSource) fetch(ctx context.Context) (*accessToken, error) {
	// The token's lifetime is counted from before the request, so network
	// latency shortens it rather than extending it past PCM's exp.
	issued := s.now()
	assertion, err := s.signer.sign(s.clientID, s.endpoint, issued, s.assertionLifetime)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	form := url.Values{
		"grant_type":            {grantTypeClientCredentials},
		"client_assertion_type": {assertionTypeJWTBearer},
		"client_assertion":      {assertion},
	}
	if s.scope != "" {
		form.Set("scope", s.scope)
	}
	if s.resource != "" {
		form.Set("resource", s.resource)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: token request: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: token endpoint: %w", ErrUnavailable, err)
	}
	defer drainAndClose(resp.Body)
	body, readErr := readBounded(resp.Body, s.maxBytes)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: token endpoint answered %d%s", ErrUnavailable, resp.StatusCode, oauthErrorCode(body))
	}
	if readErr != nil {
		return nil, fmt.Errorf("%w: token endpoint response: %w", ErrUnavailable, readErr)
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return nil, fmt.Errorf("%w: token endpoint answered a non-JSON content type", ErrUnavailable)
	}
	value, lifetime, err := decodeTokenResponse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: token endpoint: %w", ErrUnavailable, err)
	}
	margin := max(s.refreshMargin, lifetime/5)
	margin = min(margin, lifetime/2)
	expiresAt := issued.Add(lifetime)
	return &accessToken{value: value, refreshAt: expiresAt.Add(-margin), expiresAt: expiresAt}, nil
}

// decodeTokenResponse strictly decodes {"access_token", "token_type":
// "Bearer", "expires_in", "scope"}. Other members are ignored.
func decodeTokenResponse(data []byte) (string, time.Duration, error) {
	obj, err := decodeStrictObject(data)
	if err != nil {
		return "", 0, malformed(err.Error())
	}
	token, ok := obj["access_token"].(string)
	if !ok || !isB64Token(token) {
		return "", 0, malformed(`"access_token" missing or not a b64token`)
	}
	tokenType, ok := obj["token_type"].(string)
	if !ok || !strings.EqualFold(tokenType, "Bearer") {
		return "", 0, malformed(`"token_type" is not Bearer`)
	}
	n, ok := obj["expires_in"].(json.Number)
	if !ok {
		return "", 0, malformed(`"expires_in" missing or not a number`)
	}
	secs, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || secs <= 0 || secs > int64(maxTokenLifetime/time.Second) {
		return "", 0, malformed(`"expires_in" is not a positive integer up to one day`)
	}
	if v, present := obj["scope"]; present {
		if _, ok := v.(string); !ok {
			return "", 0, wrongType("scope")
		}
	}
	return token, time.Duration(secs) * time.Second, nil
}

// isB64Token checks the RFC 6750 b64token grammar, so the token is always
// a valid Authorization header value.
func isB64Token(s string) bool {
	return len(s) <= MaxTokenLength && token68.Valid(s)
}

// oauthErrorCode extracts an RFC 6749 "error" code from an error response
// for the error message, if it is a short plain identifier. Descriptions
// are not used: they are free text.
func oauthErrorCode(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" || len(e.Error) > 64 {
		return ""
	}
	for i := range len(e.Error) {
		c := e.Error[i]
		if !('a' <= c && c <= 'z' || c == '_') {
			return ""
		}
	}
	return " (" + e.Error + ")"
}
