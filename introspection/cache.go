package introspection

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Defaults for CacheConfig.
const (
	DefaultCacheTTL     = 60 * time.Second
	DefaultNegativeTTL  = 5 * time.Second
	DefaultSkew         = 5 * time.Second
	DefaultMaxCost      = 32 << 20
	DefaultFetchTimeout = 3 * time.Second
)

// Cost model: an entry costs a fixed overhead (ristretto's bookkeeping of
// one item, the entry and the Claims structs, measured by
// TestCacheCostMatchesHeap) plus the bytes the answer holds of its own
// (Claims.ownBytes: its strings, unmodelled members, and the shared pieces
// it added to the intern tables).
const (
	entryOverhead       = 416
	expectedEntryCost   = 512
	countersPerEntry    = 10
	minNumCounters      = 1 << 10
	ristrettoBufferSize = 64
)

// Upstream answers introspection questions; *Client implements it.
type Upstream interface {
	Introspect(ctx context.Context, token string) (*Claims, error)
}

// CacheConfig configures the introspection cache.
type CacheConfig struct {
	// CacheTTL caps how long an active answer is reused (default 60 s).
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive answer is reused (default 5 s).
	NegativeTTL time.Duration
	// Skew is subtracted from the token's exp when computing the TTL
	// (default 5 s), so an entry expires before the token does even if the
	// PEP's clock is a little behind PCM's. Negative means zero.
	Skew time.Duration
	// MaxCost bounds the cache's memory in bytes (default 32 MiB).
	MaxCost int64
	// Timeout bounds one shared PCM call (default 3 s). The call is
	// detached from the first caller's context, so it needs its own bound.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Budget, when set, bounds the PCM calls the cache starts; see
	// IntrospectFor. Nil means no bound (New always sets one).
	Budget *Budget
	// Hooks receives OnCache, OnEvict and OnBudget.
	Hooks Hooks
}

// Cache remembers introspection answers, keyed by SHA-256 of the token,
// and collapses concurrent misses for one token into a single PCM call.
// See the package documentation for the design.
type Cache struct {
	upstream    Upstream
	store       *ristretto.Cache[string, *entry]
	group       singleflight.Group
	now         func() time.Time
	cacheTTL    time.Duration
	negativeTTL time.Duration
	skew        time.Duration
	timeout     time.Duration
	budget      *Budget
	hooks       Hooks

	// life makes Close exclusive with every other use of store: ristretto
	// panics when Close races with Get, Set or Wait. Detached PCM calls may
	// finish after the owner has closed the cache.
	life   sync.RWMutex
	closed atomic.Bool

	// epoch is bumped by Purge; entries from an older epoch are never served.
	epoch atomic.Uint64

	// mu guards the revocation bookkeeping below; see ForgetThumbprints.
	mu         sync.Mutex
	generation uint64
	inFlight   map[uint64]struct{} // generations of running PCM calls
	tombstones map[string]uint64   // thumbprint → generation of its revocation

	// afterJoin, when set by tests, runs once a caller has joined (or
	// started) the shared PCM call for its token.
	afterJoin func()
}

// entry is one cached answer: claims, or the error of an unusable answer
// (see remembered). One interface holds either, so that an entry fits the
// 64-byte allocation class.
type entry struct {
	sum       [sha256.Size]byte
	answer    any    // *Claims or error
	expiresAt int64  // Unix nanoseconds on the injected clock
	epoch     uint64 // Purge epoch when the PCM call started
}

// result is the answer as Introspect returns it.
func (e *entry) result() (*Claims, error) {
	switch a := e.answer.(type) {
	case *Claims:
		return a, nil
	case error:
		return nil, a
	}
	// Never stored; a miss would be as correct, but an answer is owed.
	return nil, fmt.Errorf("%w: %w: empty cache entry", ErrUnavailable, ErrMalformedResponse)
}

// thumbprint is cnf.x5t#S256 of an active answer, for revocation.
func (e *entry) thumbprint() string {
	if c, ok := e.answer.(*Claims); ok && c.Active {
		return c.Confirmation.X5tS256
	}
	return ""
}

// NewCache builds a cache in front of upstream. Call Close when done.
func NewCache(upstream Upstream, cfg CacheConfig) (*Cache, error) {
	if upstream == nil {
		return nil, errors.New("introspection: cache needs an Upstream")
	}
	c := &Cache{
		upstream:    upstream,
		now:         cfg.Now,
		cacheTTL:    cfg.CacheTTL,
		negativeTTL: cfg.NegativeTTL,
		skew:        max(cfg.Skew, 0),
		timeout:     cfg.Timeout,
		budget:      cfg.Budget,
		hooks:       cfg.Hooks,
		inFlight:    make(map[uint64]struct{}),
		tombstones:  make(map[string]uint64),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cacheTTL == 0 {
		c.cacheTTL = DefaultCacheTTL
	}
	if c.negativeTTL == 0 {
		c.negativeTTL = DefaultNegativeTTL
	}
	if cfg.Skew == 0 {
		c.skew = DefaultSkew
	}
	if c.timeout == 0 {
		c.timeout = DefaultFetchTimeout
	}
	if c.cacheTTL < 0 || c.negativeTTL < 0 || c.timeout < 0 {
		return nil, errors.New("introspection: cache durations must not be negative")
	}
	maxCost := cfg.MaxCost
	if maxCost == 0 {
		maxCost = DefaultMaxCost
	}
	if maxCost < 0 {
		return nil, errors.New("introspection: MaxCost must not be negative")
	}
	store, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters: numCounters(maxCost),
		MaxCost:     maxCost,
		BufferItems: ristrettoBufferSize,
		KeyToHash:   keyToHash,
		// entryOverhead already counts ristretto's own bookkeeping.
		IgnoreInternalCost: true,
		OnEvict: func(*ristretto.Item[*entry]) {
			if !c.closed.Load() {
				c.hooks.evict()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("introspection: cache: %w", err)
	}
	c.store = store
	return c, nil
}

// numCounters follows ristretto's advice of about ten counters per entry
// the cache can hold.
func numCounters(maxCost int64) int64 {
	entries := maxCost / expectedEntryCost
	if entries > math.MaxInt64/countersPerEntry {
		return math.MaxInt64
	}
	return max(entries*countersPerEntry, minNumCounters)
}

// keyToHash reads ristretto's two 64-bit hashes straight out of the
// SHA-256 key: it is already uniformly distributed, so hashing it again
// would only cost time. Every key is a 32-byte digest.
func keyToHash(key string) (uint64, uint64) {
	if len(key) < 16 {
		return 0, 0
	}
	var a, b uint64
	for i := range 8 {
		a |= uint64(key[i]) << (8 * i)
		b |= uint64(key[8+i]) << (8 * i)
	}
	return a, b
}

// Introspect is IntrospectFor with no member id: every such caller shares
// one member budget.
func (c *Cache) Introspect(ctx context.Context, token string) (*Claims, bool, error) {
	return c.IntrospectFor(ctx, "", token)
}

// IntrospectFor returns PCM's answer for token, from the cache when
// possible. member is the NTN member id of the presented certificate: a
// PCM call this lookup has to start is charged to that member's budget and
// to the overall one, and refused with a *BudgetError (which also matches
// ErrUnavailable) when either is spent. Callers that join a PCM call
// already running for the same token are charged nothing and share its
// outcome, budget refusal included.
//
// cacheHit reports whether PCM was skipped. Transport and status errors
// from PCM are returned as they are (wrapping ErrUnavailable) and never
// cached; an unusable answer (one wrapping ErrMalformedResponse) is
// remembered like an inactive one and the same error is returned again
// until NegativeTTL passes. A token that is empty or longer than
// MaxTokenLength yields ErrInvalidToken.
func (c *Cache) IntrospectFor(ctx context.Context, member, token string) (*Claims, bool, error) {
	if token == "" || len(token) > MaxTokenLength {
		return nil, false, ErrInvalidToken
	}
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	if e := c.lookup(key, sum); e != nil {
		c.hooks.cache(true)
		claims, err := e.result()
		return claims, true, err
	}
	c.hooks.cache(false)

	// The closure gets its own copy of the digest: captured, a variable
	// moves to the heap, and the hit path above should not pay for that.
	missSum := sum
	ch := c.group.DoChan(key, func() (any, error) {
		// Look again: between this caller's miss and its DoChan, an
		// earlier shared call for the token may have ended, and it ends
		// only once its answer is visible. Without this second look such a
		// caller would start a second PCM call for the same token.
		if e := c.lookup(key, missSum); e != nil {
			return e.result()
		}
		// Detached: the call serves every caller that joined it, so the
		// first caller going away must not cancel it for the others.
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		return c.fetch(fetchCtx, member, missSum, token)
	})
	if c.afterJoin != nil {
		c.afterJoin()
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, false, r.Err
		}
		return r.Val.(*Claims), false, nil
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: waiting for introspection: %w", ErrUnavailable, ctx.Err())
	}
}

// lookup returns the cached, unexpired entry for key, or nil. The full
// digest is compared because ristretto itself keeps only 128 bits of it.
func (c *Cache) lookup(key string, sum [sha256.Size]byte) *entry {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return nil
	}
	e, ok := c.store.Get(key)
	if !ok || e.sum != sum || e.epoch != c.epoch.Load() || c.now().UnixNano() >= e.expiresAt {
		return nil
	}
	return e
}

// fetch performs the one shared PCM call for a token and caches its
// answer. It returns only once the answer can be found in the cache (when
// ristretto accepted it): ristretto applies a Set asynchronously, and a
// caller arriving between the end of the shared call and the Set being
// applied would otherwise miss and call PCM a second time for the same
// token.
func (c *Cache) fetch(ctx context.Context, member string, sum [sha256.Size]byte, token string) (*Claims, error) {
	if c.budget != nil {
		release, err := c.budget.Acquire(member)
		if err != nil {
			var be *BudgetError
			if errors.As(err, &be) {
				c.hooks.budget(be.Scope, be.Limit)
			}
			return nil, err
		}
		defer release()
	}
	gen := c.beginFetch()
	epoch := c.epoch.Load()
	claims, err := c.upstream.Introspect(ctx, token)
	if err == nil && claims == nil {
		err = fmt.Errorf("%w: %w: upstream returned no claims", ErrUnavailable, ErrMalformedResponse)
	}
	var e *entry
	switch {
	case err != nil && remembered(err):
		e = &entry{sum: sum, answer: err, expiresAt: c.now().Add(c.negativeTTL).UnixNano(), epoch: epoch}
	case err != nil:
	default:
		if ttl := c.ttlFor(claims); ttl > 0 {
			e = &entry{sum: sum, answer: claims, expiresAt: c.now().Add(ttl).UnixNano(), epoch: epoch}
		}
	}
	if c.endFetch(gen, e) {
		c.Wait()
	}
	return claims, err
}

// remembered reports whether a failed introspection is cached like an
// inactive answer. PCM did answer, with something unusable for this token
// (wrong types, a missing or malformed claim, a body over the size limit,
// not JSON): asking again within seconds gets the same answer, so a
// repeated token must not cost another PCM call. Timeouts, transport
// errors and error statuses say nothing about the token and are not
// remembered; the budget bounds those.
func remembered(err error) bool {
	return errors.Is(err, ErrMalformedResponse) && !errors.Is(err, ErrBudgetExceeded)
}

// cost estimates the memory an entry holds.
func (e *entry) cost() int64 {
	if c, ok := e.answer.(*Claims); ok {
		return entryOverhead + int64(c.ownBytes)
	}
	return entryOverhead
}

// ttlFor is the TTL rule: min(exp - now - skew, CacheTTL) for an active
// answer, NegativeTTL for an inactive one. Zero or less means "do not
// cache".
func (c *Cache) ttlFor(claims *Claims) time.Duration {
	if !claims.Active {
		return c.negativeTTL
	}
	return min(claims.ExpiresAt().Sub(c.now())-c.skew, c.cacheTTL)
}

// beginFetch registers a PCM call that is about to start and returns its
// generation.
func (c *Cache) beginFetch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	c.inFlight[c.generation] = struct{}{}
	return c.generation
}

// endFetch stores e (when not nil) unless its thumbprint was revoked after
// the call started, unregisters the call and drops tombstones no running
// call can need any more. Storing under mu orders every store strictly
// before or after a ForgetThumbprints. It reports whether e was handed to
// ristretto.
func (c *Cache) endFetch(gen uint64, e *entry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	stored := false
	if e != nil {
		if revokedAt, ok := c.tombstones[e.thumbprint()]; !ok || revokedAt < gen {
			stored = c.set(e)
		}
	}
	delete(c.inFlight, gen)
	c.pruneTombstones()
	return stored
}

// set hands e to ristretto, which may drop it: a miss is always correct.
// ristretto's own TTL (on its real-time clock) only frees memory; expiry
// as the PEP sees it is e.expiresAt on the injected clock.
func (c *Cache) set(e *entry) bool {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return false
	}
	// ristretto treats a zero TTL as "forever": never pass one.
	if ttl := time.Duration(e.expiresAt - c.now().UnixNano()); ttl > 0 {
		return c.store.SetWithTTL(string(e.sum[:]), e, e.cost(), ttl)
	}
	return false
}

// pruneTombstones drops every tombstone older than all running PCM calls.
// c.mu must be held.
func (c *Cache) pruneTombstones() {
	if len(c.tombstones) == 0 {
		return
	}
	oldest := uint64(math.MaxUint64)
	for g := range c.inFlight {
		oldest = min(oldest, g)
	}
	for tp, revokedAt := range c.tombstones {
		if revokedAt < oldest {
			delete(c.tombstones, tp)
		}
	}
}

// ForgetThumbprints drops every cached answer bound to one of the given
// cnf.x5t#S256 thumbprints (NTN emergency revocation) and makes sure that
// PCM calls already running when it was called do not cache theirs. When
// it returns, no later Introspect is served from an answer bound to those
// thumbprints that was obtained before the call.
func (c *Cache) ForgetThumbprints(thumbprints ...string) {
	revoked := make(map[string]struct{}, len(thumbprints))
	c.mu.Lock()
	c.generation++
	for _, tp := range thumbprints {
		if tp == "" {
			continue
		}
		revoked[tp] = struct{}{}
		c.tombstones[tp] = c.generation
	}
	c.pruneTombstones()
	c.mu.Unlock()
	if len(revoked) == 0 {
		return
	}

	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return
	}
	// Every store that happened before the tombstones is at most buffered
	// in ristretto; Wait applies it so the scan below sees it.
	c.store.Wait()
	var victims []string
	c.store.IterValues(func(e *entry) bool {
		if _, ok := revoked[e.thumbprint()]; ok {
			victims = append(victims, string(e.sum[:]))
		}
		return false
	})
	for _, key := range victims {
		c.store.Del(key)
	}
	c.store.Wait()
}

// Purge makes every cached answer, and every answer of a PCM call already
// running, unusable. Use it when certificates were revoked whose
// thumbprints are not known individually (a member trusted through a CA
// certificate). Memory is reclaimed by TTL and eviction.
func (c *Cache) Purge() {
	c.epoch.Add(1)
}

// Wait applies ristretto's buffered writes. The shared PCM call calls it
// before it ends (see fetch), so a hit right after Introspect returns
// needs no Wait; ForgetThumbprints calls it before scanning.
func (c *Cache) Wait() {
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed.Load() {
		c.store.Wait()
	}
}

// Close releases the cache. Introspect keeps working after Close, without
// caching, so requests and PCM calls still in flight during a config
// reload finish normally.
func (c *Cache) Close() {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed.Swap(true) {
		return
	}
	c.store.Close()
}

// SizeBytes is the memory the cached answers account for (their cost), for
// the cache size gauge. Expired entries stop counting once ristretto
// cleans them up.
func (c *Cache) SizeBytes() int64 {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return 0
	}
	return c.store.MaxCost() - c.store.RemainingCost()
}
