// Package patient resolves the patient of a PCM token (a national id,
// "system|value") to the logical ids of the matching Patient resources on the
// upstream FHIR server, with a bounded TTL cache.
//
// The upstream is asked with a standard search (Patient?identifier=
// system|value), but its answer is not trusted blindly: every returned Patient
// must itself carry the identifier, so an upstream that ignores the
// parameter cannot widen the patient context to everybody.
package patient

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrLookupFailed means the upstream could not answer the lookup: the
// request must fail closed (never treated as "no data").
var ErrLookupFailed = errors.New("patient: upstream lookup failed")

// Fetcher performs a Patient search on the upstream with the given
// form-encoded parameters and returns the status and body. The Caddy handler implements it through the configured
// reverse_proxy, so lookups use the same upstream, TLS and headers as
// proxied requests.
type Fetcher func(ctx context.Context, rawQuery string) (status int, body []byte, err error)

// Resolver caches resolutions. Keys are SHA-256 of "system|value", so the
// cache never holds a national id in clear.
type Resolver struct {
	ttl         time.Duration
	negativeTTL time.Duration
	maxEntries  int
	now         func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]entry
	group   singleflight.Group
}

type entry struct {
	ids     []string
	expires time.Time
}

// Config configures a Resolver.
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

// NewResolver returns a Resolver.
func NewResolver(cfg Config) *Resolver {
	r := &Resolver{
		ttl: cfg.TTL, negativeTTL: cfg.NegativeTTL,
		maxEntries: cfg.MaxEntries, now: cfg.Now, entries: map[[32]byte]entry{},
	}
	if r.ttl <= 0 {
		r.ttl = 5 * time.Minute
	}
	if r.negativeTTL <= 0 {
		r.negativeTTL = 30 * time.Second
	}
	if r.maxEntries <= 0 {
		r.maxEntries = 100000
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Resolve returns the upstream Patient ids carrying identifier system|value,
// asking the upstream through fetch on a cache miss. The fetcher is passed
// per call because the Caddy handler reaches the upstream through the
// request's own handler chain. An empty result means the patient has no data
// on this server.
func (r *Resolver) Resolve(ctx context.Context, fetch Fetcher, system, value string) ([]string, error) {
	if system == "" || value == "" {
		return nil, fmt.Errorf("%w: empty identifier", ErrLookupFailed)
	}
	key := sha256.Sum256([]byte(system + "|" + value))
	now := r.now()
	r.mu.Lock()
	e, ok := r.entries[key]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.ids, nil
	}
	v, err, _ := r.group.Do(string(key[:]), func() (any, error) {
		// Detached: one caller going away must not fail the others.
		ids, err := r.lookup(context.WithoutCancel(ctx), fetch, system, value)
		if err != nil {
			return nil, err
		}
		r.store(key, ids)
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// Forget drops every cached resolution (e.g. after a policy reload).
func (r *Resolver) Forget() {
	r.mu.Lock()
	clear(r.entries)
	r.mu.Unlock()
}

func (r *Resolver) store(key [32]byte, ids []string) {
	ttl := r.ttl
	if len(ids) == 0 {
		ttl = r.negativeTTL
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.maxEntries {
		// Drop expired entries first; if the cache is still full, start
		// over rather than grow without bound.
		for k, e := range r.entries {
			if !now.Before(e.expires) {
				delete(r.entries, k)
			}
		}
		if len(r.entries) >= r.maxEntries {
			clear(r.entries)
		}
	}
	r.entries[key] = entry{ids: ids, expires: now.Add(ttl)}
}

func (r *Resolver) lookup(ctx context.Context, fetch Fetcher, system, value string) ([]string, error) {
	q := url.Values{}
	q.Set("identifier", system+"|"+value)
	// _count guards against a server that ignores identifier: a full page
	// of unrelated Patients is filtered below, and a further page is an
	// error rather than silently dropped matches.
	q.Set("_count", "50")
	status, body, err := fetch(ctx, q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLookupFailed, err)
	}
	if status != 200 {
		return nil, fmt.Errorf("%w: upstream status %d", ErrLookupFailed, status)
	}
	return matchingIDs(body, system, value)
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	Link         []struct {
		Relation string `json:"relation"`
	} `json:"link"`
	Entry []struct {
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Identifier   []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
		} `json:"resource"`
	} `json:"entry"`
}

// matchingIDs extracts the ids of Patients that really carry the identifier.
func matchingIDs(body []byte, system, value string) ([]string, error) {
	var b bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: body is not a Bundle", ErrLookupFailed)
	}
	if b.ResourceType != "Bundle" {
		return nil, fmt.Errorf("%w: body is not a Bundle", ErrLookupFailed)
	}
	ids := []string{}
	for _, e := range b.Entry {
		res := e.Resource
		if res.ResourceType != "Patient" || res.ID == "" {
			continue
		}
		for _, id := range res.Identifier {
			if id.System == system && id.Value == value {
				if !slices.Contains(ids, res.ID) {
					ids = append(ids, res.ID)
				}
				break
			}
		}
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			// More than one page: either many duplicates or a server
			// ignoring the identifier. Refusing is safer than deciding
			// on a partial patient context.
			return nil, fmt.Errorf("%w: too many matching Patients", ErrLookupFailed)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
