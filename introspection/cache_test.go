package introspection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/internal/testclock"
)

// fakeUpstream answers from a map, or through fn when set.
type fakeUpstream struct {
	mu      sync.Mutex
	answers map[string]*Claims
	fn      func(ctx context.Context, token string) (*Claims, error)
	calls   atomic.Int64
}

func (u *fakeUpstream) Introspect(ctx context.Context, token string) (*Claims, error) {
	u.calls.Add(1)
	u.mu.Lock()
	fn, c := u.fn, u.answers[token]
	u.mu.Unlock()
	if fn != nil {
		return fn(ctx, token)
	}
	if c == nil {
		return DecodeClaims([]byte(`{"active":false}`))
	}
	return c, nil
}

func (u *fakeUpstream) set(token string, c *Claims) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.answers == nil {
		u.answers = map[string]*Claims{}
	}
	u.answers[token] = c
}

// claimsExpiring decodes an active answer bound to thumbprint with exp at
// the given time.
func claimsExpiring(t testing.TB, exp time.Time, thumbprint string) *Claims {
	t.Helper()
	c, err := DecodeClaims(claimsJSON(t, func(m map[string]any) {
		m["exp"] = exp.Unix()
		m["cnf"] = map[string]any{"x5t#S256": thumbprint}
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestCache(t testing.TB, u Upstream, clock *testclock.Clock, edit func(*CacheConfig)) *Cache {
	t.Helper()
	cfg := CacheConfig{Now: clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewCache(u, cfg)
	if err != nil {
		t.Fatalf("NewCache: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestCacheTTLRule(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	tp := Thumbprint([]byte("a"))
	inactive, err := DecodeClaims([]byte(`{"active":false}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(*CacheConfig)
		claims *Claims
		want   time.Duration
	}{
		{name: "exp-bounded", claims: claimsExpiring(t, now.Add(30*time.Second), tp), want: 25 * time.Second},
		{name: "cache_ttl-bounded", claims: claimsExpiring(t, now.Add(time.Hour), tp), want: 60 * time.Second},
		{name: "exp within skew", claims: claimsExpiring(t, now.Add(5*time.Second), tp), want: 0},
		{name: "already expired", claims: claimsExpiring(t, now.Add(-time.Minute), tp), want: -65 * time.Second},
		{name: "inactive", claims: inactive, want: 5 * time.Second},
		{name: "configured cache_ttl", edit: func(c *CacheConfig) { c.CacheTTL = 10 * time.Second }, claims: claimsExpiring(t, now.Add(time.Hour), tp), want: 10 * time.Second},
		{name: "configured negative ttl", edit: func(c *CacheConfig) { c.NegativeTTL = 2 * time.Second }, claims: inactive, want: 2 * time.Second},
		{name: "configured skew", edit: func(c *CacheConfig) { c.Skew = 20 * time.Second }, claims: claimsExpiring(t, now.Add(30*time.Second), tp), want: 10 * time.Second},
		{name: "negative skew means none", edit: func(c *CacheConfig) { c.Skew = -1 }, claims: claimsExpiring(t, now.Add(30*time.Second), tp), want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, &fakeUpstream{}, clock, tt.edit)
			if got := c.ttlFor(tt.claims); got != tt.want {
				t.Fatalf("ttl %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCacheExpiry(t *testing.T) {
	tp := Thumbprint([]byte("a"))
	tests := []struct {
		name    string
		answer  func(now time.Time) *Claims
		lastHit time.Duration // the entry is served up to and excluding this age
	}{
		{name: "exp-bounded", answer: func(now time.Time) *Claims { return claimsExpiring(t, now.Add(30*time.Second), tp) }, lastHit: 25 * time.Second},
		{name: "cache_ttl-bounded", answer: func(now time.Time) *Claims { return claimsExpiring(t, now.Add(time.Hour), tp) }, lastHit: 60 * time.Second},
		{name: "negative", answer: func(time.Time) *Claims { return nil }, lastHit: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			u := &fakeUpstream{}
			if c := tt.answer(clock.Now()); c != nil {
				u.set("tok", c)
			}
			c := newTestCache(t, u, clock, nil)
			ctx := context.Background()
			steps := []struct {
				advance   time.Duration
				wantHit   bool
				wantCalls int64
			}{
				{advance: 0, wantHit: false, wantCalls: 1},
				{advance: 0, wantHit: true, wantCalls: 1},
				{advance: tt.lastHit - time.Millisecond, wantHit: true, wantCalls: 1},
				{advance: time.Millisecond, wantHit: false, wantCalls: 2},
			}
			for i, st := range steps {
				clock.Advance(st.advance)
				_, hit, err := c.Introspect(ctx, "tok")
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				c.Wait()
				if hit != st.wantHit || u.calls.Load() != st.wantCalls {
					t.Fatalf("step %d: hit %v calls %d, want hit %v calls %d", i, hit, u.calls.Load(), st.wantHit, st.wantCalls)
				}
			}
		})
	}
}

func TestCacheDoesNotCacheErrorsOrExpiringAnswers(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name    string
		fn      func(context.Context, string) (*Claims, error)
		wantErr error
	}{
		{name: "PCM unavailable", fn: func(context.Context, string) (*Claims, error) {
			return nil, fmt.Errorf("%w: introspection answered 500", ErrUnavailable)
		}, wantErr: ErrUnavailable},
		{name: "timeout", fn: func(context.Context, string) (*Claims, error) {
			return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, context.DeadlineExceeded)
		}, wantErr: context.DeadlineExceeded},
		{name: "budget refused", fn: func(context.Context, string) (*Claims, error) {
			return nil, &BudgetError{Scope: BudgetScopeTotal, Limit: BudgetLimitRate, RetryAfter: time.Second}
		}, wantErr: ErrBudgetExceeded},
		{name: "exp within skew", fn: func(context.Context, string) (*Claims, error) {
			return claimsExpiring(t, clock.Now().Add(3*time.Second), Thumbprint(nil)), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &fakeUpstream{fn: tt.fn}
			c := newTestCache(t, u, clock, nil)
			for i := range 3 {
				_, hit, err := c.Introspect(context.Background(), "tok")
				if tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !errors.Is(err, ErrUnavailable)) {
					t.Fatalf("call %d: err %v, want %v", i, err, tt.wantErr)
				}
				if tt.wantErr == nil && err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if hit {
					t.Fatalf("call %d: hit", i)
				}
				c.Wait()
			}
			if n := u.calls.Load(); n != 3 {
				t.Fatalf("%d upstream calls, want 3", n)
			}
		})
	}
}

func TestCacheRejectsUnusableTokens(t *testing.T) {
	u := &fakeUpstream{}
	c := newTestCache(t, u, newFakeClock(), nil)
	for _, tok := range []string{"", strings.Repeat("a", MaxTokenLength+1)} {
		if _, _, err := c.Introspect(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("len %d: err %v", len(tok), err)
		}
	}
	if _, _, err := c.Introspect(context.Background(), strings.Repeat("a", MaxTokenLength)); err != nil {
		t.Fatalf("token of MaxTokenLength: %v", err)
	}
	if n := u.calls.Load(); n != 1 {
		t.Fatalf("%d upstream calls, want 1", n)
	}
}

func TestCacheForgetThumbprints(t *testing.T) {
	clock := newFakeClock()
	exp := clock.Now().Add(time.Hour)
	revoked, kept := Thumbprint([]byte("revoked")), Thumbprint([]byte("kept"))
	u := &fakeUpstream{}
	u.set("r1", claimsExpiring(t, exp, revoked))
	u.set("r2", claimsExpiring(t, exp, revoked))
	u.set("k1", claimsExpiring(t, exp, kept))
	c := newTestCache(t, u, clock, nil)
	ctx := context.Background()
	tokens := []string{"r1", "r2", "k1", "inactive"}
	for _, tok := range tokens {
		if _, _, err := c.Introspect(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	c.ForgetThumbprints(revoked, "")
	want := map[string]bool{"r1": false, "r2": false, "k1": true, "inactive": true}
	for _, tok := range tokens {
		_, hit, err := c.Introspect(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if hit != want[tok] {
			t.Fatalf("%s: hit %v, want %v", tok, hit, want[tok])
		}
	}
	if n := u.calls.Load(); n != 6 {
		t.Fatalf("%d upstream calls, want 6", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tombstones) != 0 || len(c.inFlight) != 0 {
		t.Fatalf("bookkeeping not released: %d tombstones, %d in flight", len(c.tombstones), len(c.inFlight))
	}
}

func TestCacheForgetThumbprintsDuringPCMCall(t *testing.T) {
	clock := newFakeClock()
	tp := Thumbprint([]byte("revoked"))
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	u := &fakeUpstream{}
	u.fn = func(ctx context.Context, token string) (*Claims, error) {
		started <- struct{}{}
		<-release
		return claimsExpiring(t, clock.Now().Add(time.Hour), tp), nil
	}
	c := newTestCache(t, u, clock, nil)
	ctx := context.Background()

	done := make(chan error, 1)
	go func() {
		cl, _, err := c.Introspect(ctx, "tok")
		if err == nil && !cl.Active {
			err = errors.New("inactive")
		}
		done <- err
	}()
	<-started
	c.ForgetThumbprints(tp)
	c.mu.Lock()
	tombstones := len(c.tombstones)
	c.mu.Unlock()
	if tombstones != 1 {
		t.Fatalf("%d tombstones while an older call runs, want 1", tombstones)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("in-flight caller: %v", err)
	}
	c.Wait()

	// The answer obtained before the revocation was not cached ...
	if _, hit, err := c.Introspect(ctx, "tok"); err != nil || hit {
		t.Fatalf("after revocation: hit %v err %v, want a miss", hit, err)
	}
	<-started
	c.Wait()
	// ... but one obtained after it is.
	if _, hit, err := c.Introspect(ctx, "tok"); err != nil || !hit {
		t.Fatalf("fresh answer: hit %v err %v, want a hit", hit, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tombstones) != 0 {
		t.Fatalf("%d tombstones left", len(c.tombstones))
	}
}

func TestCachePurge(t *testing.T) {
	clock := newFakeClock()
	started := make(chan struct{})
	release := make(chan struct{})
	var blocked atomic.Bool
	u := &fakeUpstream{fn: func(ctx context.Context, token string) (*Claims, error) {
		// Only the first call for "slow" is held, to purge while it runs.
		if token == "slow" && blocked.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return claimsExpiring(t, clock.Now().Add(time.Hour), Thumbprint([]byte(token))), nil
	}}
	c := newTestCache(t, u, clock, nil)
	ctx := context.Background()
	if _, _, err := c.Introspect(ctx, "cached"); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Introspect(ctx, "slow")
		done <- err
	}()
	<-started
	c.Purge()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Wait()
	// Neither the cached answer nor the one in flight during Purge is served.
	for _, tok := range []string{"cached", "slow"} {
		if _, hit, err := c.Introspect(ctx, tok); err != nil || hit {
			t.Fatalf("%s after Purge: hit %v err %v, want a miss", tok, hit, err)
		}
	}
	c.Wait()
	for _, tok := range []string{"cached", "slow"} {
		if _, hit, err := c.Introspect(ctx, tok); err != nil || !hit {
			t.Fatalf("%s fetched after Purge: hit %v err %v, want a hit", tok, hit, err)
		}
	}
	if n := u.calls.Load(); n != 4 {
		t.Fatalf("%d upstream calls, want 4", n)
	}
}

func TestCacheSharedCallIsDetachedFromFirstCaller(t *testing.T) {
	clock := newFakeClock()
	started := make(chan struct{})
	release := make(chan struct{})
	upstreamErr := make(chan error, 1)
	u := &fakeUpstream{fn: func(ctx context.Context, token string) (*Claims, error) {
		close(started)
		<-release
		if _, ok := ctx.Deadline(); !ok {
			upstreamErr <- errors.New("shared call has no deadline")
		} else {
			upstreamErr <- ctx.Err()
		}
		return claimsExpiring(t, clock.Now().Add(time.Hour), Thumbprint(nil)), nil
	}}
	c := newTestCache(t, u, clock, nil)
	var joined atomic.Int64
	secondJoined := make(chan struct{})
	c.afterJoin = func() {
		if joined.Add(1) == 2 {
			close(secondJoined)
		}
	}

	firstCtx, cancelFirst := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, _, err := c.Introspect(firstCtx, "tok")
		firstErr <- err
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		cl, _, err := c.Introspect(context.Background(), "tok")
		if err == nil && !cl.Active {
			err = errors.New("inactive")
		}
		second <- err
	}()
	<-secondJoined
	cancelFirst()
	if err := <-firstErr; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first caller: %v", err)
	}
	close(release)
	if err := <-upstreamErr; err != nil {
		t.Fatalf("shared call context: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v", err)
	}
	if n := u.calls.Load(); n != 1 {
		t.Fatalf("%d upstream calls, want 1", n)
	}
}

func TestCacheHooks(t *testing.T) {
	var hits, misses atomic.Int64
	clock := newFakeClock()
	u := &fakeUpstream{}
	c := newTestCache(t, u, clock, func(cfg *CacheConfig) {
		cfg.Hooks.OnCache = func(hit bool) {
			if hit {
				hits.Add(1)
			} else {
				misses.Add(1)
			}
		}
	})
	for range 3 {
		if _, _, err := c.Introspect(context.Background(), "tok"); err != nil {
			t.Fatal(err)
		}
		c.Wait()
	}
	if hits.Load() != 2 || misses.Load() != 1 {
		t.Fatalf("hits %d misses %d", hits.Load(), misses.Load())
	}
}

func TestCacheMemoryIsBounded(t *testing.T) {
	clock := newFakeClock()
	const maxCost = 64 << 10
	var evictions atomic.Int64
	u := &fakeUpstream{fn: func(ctx context.Context, token string) (*Claims, error) {
		return claimsExpiring(t, clock.Now().Add(time.Hour), Thumbprint([]byte(token))), nil
	}}
	c := newTestCache(t, u, clock, func(cfg *CacheConfig) {
		cfg.MaxCost = maxCost
		cfg.Hooks.OnEvict = func() { evictions.Add(1) }
	})
	const tokens = 500
	for i := range tokens {
		if _, _, err := c.Introspect(context.Background(), fmt.Sprintf("tok-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	var stored, cost int64
	c.store.IterValues(func(e *entry) bool {
		stored++
		cost += e.cost()
		return false
	})
	if cost > maxCost || stored == 0 || stored >= tokens {
		t.Fatalf("%d entries costing %d bytes for MaxCost %d", stored, cost, maxCost)
	}
	t.Logf("%d of %d entries kept (%d bytes), %d evictions", stored, tokens, cost, evictions.Load())
}

func TestCacheKeepsWorkingAfterClose(t *testing.T) {
	u := &fakeUpstream{}
	c := newTestCache(t, u, newFakeClock(), nil)
	c.Close()
	c.Close()
	for range 2 {
		if _, hit, err := c.Introspect(context.Background(), "tok"); err != nil || hit {
			t.Fatalf("after Close: hit %v err %v", hit, err)
		}
	}
	c.ForgetThumbprints("x")
	c.Wait()
	if n := u.calls.Load(); n != 2 {
		t.Fatalf("%d upstream calls", n)
	}
}

func TestNumCounters(t *testing.T) {
	tests := []struct {
		maxCost int64
		want    int64
	}{
		{maxCost: DefaultMaxCost, want: DefaultMaxCost / expectedEntryCost * countersPerEntry},
		{maxCost: 1, want: minNumCounters},
		{maxCost: 1 << 40, want: (1 << 40) / expectedEntryCost * countersPerEntry},
	}
	for _, tt := range tests {
		if got := numCounters(tt.maxCost); got != tt.want {
			t.Errorf("numCounters(%d) = %d, want %d", tt.maxCost, got, tt.want)
		}
	}
}

func TestKeyToHashUsesTheDigest(t *testing.T) {
	key := string([]byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0})
	a, b := keyToHash(key + strings.Repeat("x", 16))
	if a != 1 || b != 2 {
		t.Fatalf("keyToHash = %d, %d", a, b)
	}
}

// TestCacheRemembersUnusableAnswers: an answer PCM gave but that cannot be
// used is remembered for NegativeTTL like an inactive one. A repeated token
// gets the same error (so the same status) without another PCM call.
func TestCacheRemembersUnusableAnswers(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		incomplete bool // 401 per the package documentation, else 503
	}{
		{"nil claims", nil, false},
		{"wrong JSON type", fmt.Errorf("%w: %w", ErrUnavailable, wrongType("active")), false},
		{"over the size limit", fmt.Errorf("%w: %w: introspection %w", ErrUnavailable, ErrMalformedResponse, errTooLarge), false},
		{"not JSON", fmt.Errorf("%w: %w: introspection answered a non-JSON content type", ErrUnavailable, ErrMalformedResponse), false},
		{"required claim missing", fmt.Errorf("%w: %w", ErrUnavailable, missing("exp")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			u := &fakeUpstream{fn: func(context.Context, string) (*Claims, error) { return nil, tt.err }}
			c := newTestCache(t, u, clock, func(cfg *CacheConfig) { cfg.NegativeTTL = 2 * time.Second })
			var first error
			for i, step := range []struct {
				advance time.Duration
				hit     bool
			}{{0, false}, {0, true}, {1999 * time.Millisecond, true}, {time.Millisecond, false}} {
				clock.Advance(step.advance)
				claims, hit, err := c.Introspect(context.Background(), "tok")
				if claims != nil || err == nil || !errors.Is(err, ErrMalformedResponse) || !errors.Is(err, ErrUnavailable) {
					t.Fatalf("step %d: claims %v err %v", i, claims, err)
				}
				if errors.Is(err, ErrIncompleteClaims) != tt.incomplete {
					t.Fatalf("step %d: ErrIncompleteClaims = %v, want %v", i, !tt.incomplete, tt.incomplete)
				}
				if hit != step.hit {
					t.Fatalf("step %d: hit %v, want %v", i, hit, step.hit)
				}
				if first == nil {
					first = err
				} else if hit && err != first {
					t.Fatalf("step %d: a remembered answer gave another error: %v", i, err)
				}
			}
			if n := u.calls.Load(); n != 2 {
				t.Fatalf("%d upstream calls, want 2 (one per NegativeTTL)", n)
			}
		})
	}
}

// TestCacheAnswerVisibleWhenCallReturns: the shared call ends only once its
// answer can be found, so the very next lookup hits without any Wait.
// Without that, ristretto's asynchronous Set makes most of these miss.
func TestCacheAnswerVisibleWhenCallReturns(t *testing.T) {
	clock := newFakeClock()
	u := &fakeUpstream{}
	c := newTestCache(t, u, clock, nil)
	tp := Thumbprint([]byte("a"))
	for i := range 200 {
		token := fmt.Sprintf("tok-%d", i)
		if i%2 == 0 { // active and inactive answers alike
			u.set(token, claimsExpiring(t, clock.Now().Add(time.Hour), tp))
		}
		if _, hit, err := c.Introspect(context.Background(), token); err != nil || hit {
			t.Fatalf("%s first: hit %v err %v", token, hit, err)
		}
		if _, hit, err := c.Introspect(context.Background(), token); err != nil || !hit {
			t.Fatalf("%s right after the call returned: hit %v err %v", token, hit, err)
		}
	}
	if n := u.calls.Load(); n != 200 {
		t.Fatalf("%d upstream calls, want 200", n)
	}
}

// TestCacheStampedeMakesOneCall is the stampede of issue #13: 1000
// concurrent requests with one new token, without holding PCM's answer
// back, so that late callers arrive after the shared call has ended. Each
// round must make exactly one upstream call.
func TestCacheStampedeMakesOneCall(t *testing.T) {
	clock := newFakeClock()
	u := &fakeUpstream{}
	c := newTestCache(t, u, clock, nil)
	const rounds, callers = 5, 1000
	for round := range rounds {
		token := fmt.Sprintf("stampede-%d", round)
		u.set(token, claimsExpiring(t, clock.Now().Add(time.Hour), Thumbprint([]byte("a"))))
		before := u.calls.Load()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if claims, _, err := c.Introspect(context.Background(), token); err != nil || !claims.Active {
					t.Errorf("claims %v err %v", claims, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := u.calls.Load() - before; n != 1 {
			t.Fatalf("round %d: %d upstream calls for one token, want exactly 1", round, n)
		}
	}
}
