package introspection

import "context"

// Config assembles the three parts of the PCM token gate.
type Config struct {
	// Token configures the PEP's own PCM access token.
	Token TokenSourceConfig
	// Client configures introspection. Client.Tokens is set by New;
	// Client.HTTPClient defaults to Token.HTTPClient (the same mTLS client).
	Client ClientConfig
	// Cache configures the answer cache. Cache.Budget is set by New.
	Cache CacheConfig
	// Budget bounds the PCM calls, per NTN member and overall. Its clock
	// defaults to Cache.Now.
	Budget BudgetConfig
	// Hooks, when any is set, replaces the Hooks of all three parts.
	Hooks Hooks
}

// Introspector is the token gate the handler uses: cache, singleflight,
// budget, RFC 7662 client and the PEP's own PCM token, wired together.
type Introspector struct {
	tokens *TokenSource // nil when introspection is authenticated by mTLS alone
	client *Client
	cache  *Cache
}

// New builds an Introspector. It does no network I/O; call Close when the
// configuration is unloaded. With Client.Auth = AuthMTLS no token source is
// built and cfg.Token needs only its HTTPClient.
func New(cfg Config) (*Introspector, error) {
	if cfg.Hooks.any() {
		cfg.Token.Hooks, cfg.Client.Hooks, cfg.Cache.Hooks = cfg.Hooks, cfg.Hooks, cfg.Hooks
	}
	var tokens *TokenSource
	if cfg.Client.Auth != AuthMTLS {
		var err error
		if tokens, err = NewTokenSource(cfg.Token); err != nil {
			return nil, err
		}
		cfg.Client.Tokens = tokens
	}
	if cfg.Client.HTTPClient == nil {
		cfg.Client.HTTPClient = cfg.Token.HTTPClient
	}
	client, err := NewClient(cfg.Client)
	if err != nil {
		return nil, err
	}
	// The shared, detached PCM call gets the same bound as one Introspect.
	if cfg.Cache.Timeout == 0 {
		cfg.Cache.Timeout = client.timeout
	}
	if cfg.Budget.Now == nil {
		cfg.Budget.Now = cfg.Cache.Now
	}
	if cfg.Cache.Budget, err = NewBudget(cfg.Budget); err != nil {
		return nil, err
	}
	cache, err := NewCache(client, cfg.Cache)
	if err != nil {
		return nil, err
	}
	return &Introspector{tokens: tokens, client: client, cache: cache}, nil
}

// Introspect is IntrospectFor without a member id; every such caller
// shares one member budget. Prefer IntrospectFor.
func (i *Introspector) Introspect(ctx context.Context, token string) (*Claims, bool, error) {
	return i.cache.IntrospectFor(ctx, "", token)
}

// IntrospectFor returns PCM's answer for the caller's bearer token and
// whether it came from the cache. member is the NTN member id of the
// presented certificate, for the introspection budget. The returned Claims
// are shared: do not modify them. An inactive token is not an error: check
// with Validate. The errors, and the status the package documentation
// assigns them:
//   - ErrInvalidToken: 401, PCM not asked;
//   - ErrIncompleteClaims (a *ClaimError among them): 401, PCM's answer
//     makes the token unusable; remembered for NegativeTTL;
//   - *BudgetError (ErrBudgetExceeded): 503 with Retry-After, PCM not asked;
//   - any other ErrUnavailable: 503; a malformed answer
//     (ErrMalformedResponse) is remembered for NegativeTTL.
func (i *Introspector) IntrospectFor(ctx context.Context, member, token string) (*Claims, bool, error) {
	return i.cache.IntrospectFor(ctx, member, token)
}

// Ready reports whether the PEP can authenticate to PCM: with AuthBearer it
// obtains (or reuses) the PEP's own PCM token; with AuthMTLS there is
// nothing to obtain ahead of a call, and it returns nil.
func (i *Introspector) Ready(ctx context.Context) error {
	if i.tokens == nil {
		return nil
	}
	_, err := i.tokens.Token(ctx)
	return err
}

// ForgetThumbprints drops cached answers bound to the given certificate
// thumbprints; see Cache.ForgetThumbprints.
func (i *Introspector) ForgetThumbprints(thumbprints ...string) {
	i.cache.ForgetThumbprints(thumbprints...)
}

// Purge makes every cached answer unusable; see Cache.Purge.
func (i *Introspector) Purge() {
	i.cache.Purge()
}

// TokenSource returns the PEP's PCM token source, nil when introspection
// is authenticated by mTLS alone.
func (i *Introspector) TokenSource() *TokenSource {
	return i.tokens
}

// Cache returns the answer cache (for Wait in tests).
func (i *Introspector) Cache() *Cache {
	return i.cache
}

// Close releases the cache.
func (i *Introspector) Close() {
	i.cache.Close()
}

// Interface guards.
var (
	_ TokenProvider = (*TokenSource)(nil)
	_ Upstream      = (*Client)(nil)
)
