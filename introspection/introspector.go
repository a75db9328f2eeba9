package introspection

import "context"

// Config assembles the three parts of the PCM token gate.
type Config struct {
	// Token configures the PEP's own PCM access token.
	Token TokenSourceConfig
	// Client configures introspection. Client.Tokens is set by New;
	// Client.HTTPClient defaults to Token.HTTPClient (the same mTLS client).
	Client ClientConfig
	// Cache configures the answer cache.
	Cache CacheConfig
	// Hooks, when any is set, replaces the Hooks of all three parts.
	Hooks Hooks
}

// Introspector is the token gate the handler uses: cache, singleflight,
// RFC 7662 client and the PEP's own PCM token, wired together.
type Introspector struct {
	tokens *TokenSource
	client *Client
	cache  *Cache
}

// New builds an Introspector. It does no network I/O; call Close when the
// configuration is unloaded.
func New(cfg Config) (*Introspector, error) {
	if cfg.Hooks.any() {
		cfg.Token.Hooks, cfg.Client.Hooks, cfg.Cache.Hooks = cfg.Hooks, cfg.Hooks, cfg.Hooks
	}
	tokens, err := NewTokenSource(cfg.Token)
	if err != nil {
		return nil, err
	}
	cfg.Client.Tokens = tokens
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
	cache, err := NewCache(client, cfg.Cache)
	if err != nil {
		return nil, err
	}
	return &Introspector{tokens: tokens, client: client, cache: cache}, nil
}

// Introspect returns PCM's answer for the caller's bearer token and
// whether it came from the cache. The returned Claims are shared: do not
// modify them. Errors wrap ErrUnavailable (PCM could not answer; 503) or
// are ErrInvalidToken (401). An inactive token is not an error: check
// with Validate.
func (i *Introspector) Introspect(ctx context.Context, token string) (*Claims, bool, error) {
	return i.cache.Introspect(ctx, token)
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

// TokenSource returns the PEP's PCM token source.
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
