package introspection

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestIntrospectorEndToEnd(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	var outcomes sync.Map
	in := newIntrospector(t, pcm, func(c *Config) {
		c.Hooks.OnIntrospection = func(o string, _ time.Duration) { outcomes.Store(o, true) }
	})
	tp := spThumbprint(t)
	token := randomToken(t)
	pcm.setAnswer(token, activeAnswer(t, clock, tp, nil))
	ctx := context.Background()

	claims, hit, err := in.Introspect(ctx, token)
	if err != nil || hit {
		t.Fatalf("first: hit %v err %v", hit, err)
	}
	exp := Expectations{Issuer: testIssuer, Resource: testAudience, Thumbprint: tp, Now: clock.Now(), Skew: 5 * time.Second}
	if err := Validate(claims, exp); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	exp.Thumbprint = Thumbprint(getPKI(t).clients["p256"].der)
	if err := Validate(claims, exp); !errors.Is(err, ErrCertificateMismatch) {
		t.Fatalf("token used with another certificate: %v", err)
	}
	in.Cache().Wait()
	if _, hit, err := in.Introspect(ctx, token); err != nil || !hit {
		t.Fatalf("second: hit %v err %v", hit, err)
	}
	if _, ok := outcomes.Load(OutcomeActive); !ok {
		t.Fatal("OnIntrospection not wired")
	}
	in.ForgetThumbprints(tp)
	if _, hit, err := in.Introspect(ctx, token); err != nil || hit {
		t.Fatalf("after ForgetThumbprints: hit %v err %v", hit, err)
	}
	if n := pcm.introspectCalls.Load(); n != 2 {
		t.Fatalf("%d introspection calls, want 2", n)
	}
}

func TestIntrospectorMapsPCMFailureToUnavailable(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, nil)
	pcm.set(func(p *fakePCM) {
		p.introspectFn = func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
	})
	for i := range 2 {
		_, hit, err := in.Introspect(context.Background(), "tok")
		if !errors.Is(err, ErrUnavailable) || hit {
			t.Fatalf("call %d: hit %v err %v", i, hit, err)
		}
		in.Cache().Wait()
	}
	if n := pcm.introspectCalls.Load(); n != 2 {
		t.Fatalf("%d introspection calls, want 2 (errors are not cached)", n)
	}
}

// TestIntrospectorConcurrentMissesShareOneCall holds PCM's answer until all
// 1000 callers have joined the shared call, so the count is exact.
func TestIntrospectorConcurrentMissesShareOneCall(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, nil)
	token := randomToken(t)
	pcm.setAnswer(token, activeAnswer(t, clock, spThumbprint(t), nil))
	gate := make(chan struct{})
	pcm.set(func(p *fakePCM) { p.gate = gate })

	const callers = 1000
	var joined atomic.Int64
	in.cache.afterJoin = func() {
		if joined.Add(1) == callers {
			close(gate)
		}
	}
	results := make(chan *Claims, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := in.Introspect(context.Background(), token)
			if err != nil {
				t.Error(err)
				return
			}
			results <- c
		}()
	}
	wg.Wait()
	close(results)
	var first *Claims
	n := 0
	for c := range results {
		if first == nil {
			first = c
		}
		if c != first || !c.Active {
			t.Fatal("callers got different or inactive claims")
		}
		n++
	}
	if n != callers {
		t.Fatalf("%d callers succeeded, want %d", n, callers)
	}
	if got := pcm.introspectCalls.Load(); got != 1 {
		t.Fatalf("%d introspection calls at PCM, want 1", got)
	}
	if got := pcm.tokenCalls.Load(); got != 1 {
		t.Fatalf("%d token calls at PCM, want 1", got)
	}
}

func TestIntrospectorOneTokenCallPerPCMTokenLifetime(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, nil)
	// 48 distinct tokens (48 cache misses) spread over 23.5 s: inside the
	// 30 s PCM token's reuse window (refresh at 24 s).
	const tokens = 48
	for i := range tokens {
		if i > 0 {
			clock.Advance(500 * time.Millisecond)
		}
		if _, hit, err := in.Introspect(context.Background(), randomToken(t)); err != nil || hit {
			t.Fatalf("token %d: hit %v err %v", i, hit, err)
		}
	}
	if got := pcm.introspectCalls.Load(); got != tokens {
		t.Fatalf("%d introspection calls, want %d", got, tokens)
	}
	if got := pcm.tokenCalls.Load(); got != 1 {
		t.Fatalf("%d token calls, want 1", got)
	}
	clock.Advance(500 * time.Millisecond)
	if _, _, err := in.Introspect(context.Background(), randomToken(t)); err != nil {
		t.Fatal(err)
	}
	if got := pcm.tokenCalls.Load(); got != 2 {
		t.Fatalf("%d token calls after the refresh point, want 2", got)
	}
}

func TestIntrospectorRecoversFromPCMForgettingItsToken(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, nil)
	if _, _, err := in.Introspect(context.Background(), randomToken(t)); err != nil {
		t.Fatal(err)
	}
	pcm.revokeAccessTokens()
	const callers = 20
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := in.Introspect(context.Background(), randomToken(t)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Concurrent 401s for the same stale token cause one refresh, not one
	// per request.
	if got := pcm.tokenCalls.Load(); got != 2 {
		t.Fatalf("%d token calls, want 2", got)
	}
}

func TestNewIntrospectorRejectsBadConfig(t *testing.T) {
	pcm := newFakePCM(t, newFakeClock())
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{name: "no introspection endpoint", edit: func(c *Config) { c.Client.Endpoint = "" }},
		{name: "bad token source", edit: func(c *Config) { c.Token.ClientID = "" }},
		{name: "negative cache TTL", edit: func(c *Config) { c.Cache.CacheTTL = -time.Second }},
		{name: "negative max cost", edit: func(c *Config) { c.Cache.MaxCost = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Token: pcm.tokenConfig(getPKI(t).clients["p256"]), Client: ClientConfig{Endpoint: pcm.introspectURL}}
			tt.edit(&cfg)
			if in, err := New(cfg); err == nil {
				in.Close()
				t.Fatal("accepted")
			}
		})
	}
}

// TestIntrospectorStampedeMakesOneCall: 1000 concurrent requests with one
// new token through the real client and a fake PCM over mTLS, with PCM's
// answer not held back, so late callers arrive after the shared call has
// ended. Exactly one introspection reaches PCM (issue #13).
func TestIntrospectorStampedeMakesOneCall(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, nil)
	if err := in.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	token := randomToken(t)
	pcm.setAnswer(token, activeAnswer(t, clock, spThumbprint(t), nil))
	const callers = 1000
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if c, _, err := in.IntrospectFor(context.Background(), "org-sp-a", token); err != nil || !c.Active {
				t.Errorf("claims %v err %v", c, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := pcm.introspectCalls.Load(); n != 1 {
		t.Fatalf("%d introspection calls at PCM for one token, want exactly 1", n)
	}
}
