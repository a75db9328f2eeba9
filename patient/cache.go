package patient

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Config configures the resolution cache every resolver shares.
type Config struct {
	// TTL of a resolution with at least one match. Default 5m.
	TTL time.Duration
	// NegativeTTL of "no Patient here". Default 30s: a patient registered
	// upstream a moment ago should not wait long.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache. Default 100000.
	MaxEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// cache holds resolutions for one resolver. Keys are SHA-256 of
// "system|value", so the cache never holds a national id in clear. Only
// answers are cached, never errors: a failed lookup is retried by the next
// request rather than denying for a whole TTL.
type cache struct {
	ttl         time.Duration
	negativeTTL time.Duration
	maxEntries  int
	now         func() time.Time

	// mu is a read-write lock: every request of a token resolves its
	// patient, so hits run concurrently (a plain mutex was the PEP's most
	// contended lock after the audit writer's on a cached read).
	mu      sync.RWMutex
	entries map[[32]byte]entry
	group   singleflight.Group
}

type entry struct {
	ids     []string
	expires time.Time
}

// init fills in defaults. A cache is embedded by value in its resolver, so
// it is initialised in place rather than returned.
func (c *cache) init(cfg Config) {
	c.ttl, c.negativeTTL, c.maxEntries, c.now = cfg.TTL, cfg.NegativeTTL, cfg.MaxEntries, cfg.Now
	c.entries = map[[32]byte]entry{}
	if c.ttl <= 0 {
		c.ttl = 5 * time.Minute
	}
	if c.negativeTTL <= 0 {
		c.negativeTTL = 30 * time.Second
	}
	if c.maxEntries <= 0 {
		c.maxEntries = 100000
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// resolve answers from the cache or, on a miss, through lookup, one lookup
// per identifier at a time (singleflight).
func (c *cache) resolve(ctx context.Context, system, value string, lookup func(context.Context) ([]string, error)) ([]string, error) {
	if system == "" || value == "" {
		return nil, fmt.Errorf("%w: empty identifier", ErrLookupFailed)
	}
	key := sha256.Sum256([]byte(system + "|" + value))
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.ids, nil
	}
	v, err, _ := c.group.Do(string(key[:]), func() (any, error) {
		// Detached: one caller going away must not fail the others.
		ids, err := lookup(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		c.store(key, ids)
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// Forget drops every cached resolution (e.g. after a policy reload).
func (c *cache) Forget() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

func (c *cache) store(key [32]byte, ids []string) {
	ttl := c.ttl
	if len(ids) == 0 {
		ttl = c.negativeTTL
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.maxEntries {
		// Drop expired entries first; if the cache is still full, start
		// over rather than grow without bound.
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.maxEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = entry{ids: ids, expires: now.Add(ttl)}
}
