package introspection

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTokenSource(t *testing.T, cfg TokenSourceConfig) *TokenSource {
	t.Helper()
	s, err := NewTokenSource(cfg)
	if err != nil {
		t.Fatalf("NewTokenSource: %v", err)
	}
	return s
}

func TestTokenSourceAssertionPerKeyType(t *testing.T) {
	pk := getPKI(t)
	tests := []struct {
		name      string
		client    string
		algorithm string
		wantAlg   string
	}{
		{name: "P-256 defaults to ES256", client: "p256", wantAlg: "ES256"},
		{name: "P-384 defaults to ES384", client: "p384", wantAlg: "ES384"},
		{name: "RSA defaults to RS256", client: "rsa", wantAlg: "RS256"},
		{name: "RSA with PS256 configured", client: "rsa", algorithm: "PS256", wantAlg: "PS256"},
		{name: "RSA with RS256 configured", client: "rsa", algorithm: "RS256", wantAlg: "RS256"},
		{name: "P-256 with ES256 configured", client: "p256", algorithm: "ES256", wantAlg: "ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := newFakePCM(t, newFakeClock())
			cfg := pcm.tokenConfig(pk.clients[tt.client])
			cfg.Algorithm = tt.algorithm
			s := newTokenSource(t, cfg)
			tok, err := s.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok == "" {
				t.Fatal("empty token")
			}
			if got := pcm.acceptedAlgs(); len(got) != 1 || got[0] != tt.wantAlg {
				t.Fatalf("PCM accepted assertions with %v, want [%s]", got, tt.wantAlg)
			}
		})
	}
}

func TestTokenSourceCachesAndRefreshesBeforeExpiry(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	var outcomes []string
	var mu sync.Mutex
	cfg := pcm.tokenConfig(getPKI(t).clients["p256"])
	cfg.Hooks.OnTokenRefresh = func(o string) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }
	s := newTokenSource(t, cfg)
	ctx := context.Background()

	first, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 30 s token, margin max(5 s, 20% of 30 s) = 6 s: reused until 24 s.
	steps := []struct {
		advance   time.Duration
		wantCalls int64
		wantSame  bool
	}{
		{advance: 10 * time.Second, wantCalls: 1, wantSame: true},
		{advance: 13*time.Second + 999*time.Millisecond, wantCalls: 1, wantSame: true},
		{advance: time.Millisecond, wantCalls: 2, wantSame: false},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		got, err := s.Token(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n := pcm.tokenCalls.Load(); n != st.wantCalls {
			t.Fatalf("step %d: %d token calls, want %d", i, n, st.wantCalls)
		}
		if (got == first) != st.wantSame {
			t.Fatalf("step %d: same token = %v, want %v", i, got == first, st.wantSame)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(outcomes, ",") != "ok,ok" {
		t.Fatalf("refresh outcomes %v", outcomes)
	}
}

func TestTokenSourceRefreshMarginConfigured(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	cfg := pcm.tokenConfig(getPKI(t).clients["p256"])
	cfg.RefreshMargin = 10 * time.Second
	s := newTokenSource(t, cfg)
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(19 * time.Second)
	if _, err := s.Token(context.Background()); err != nil || pcm.tokenCalls.Load() != 1 {
		t.Fatalf("at 19 s: err %v, calls %d, want reuse", err, pcm.tokenCalls.Load())
	}
	clock.Advance(time.Second)
	if _, err := s.Token(context.Background()); err != nil || pcm.tokenCalls.Load() != 2 {
		t.Fatalf("at 20 s: err %v, calls %d, want refresh", err, pcm.tokenCalls.Load())
	}
}

// TestTokenSourceFailuresBackOff: a failed refresh is shared by every
// caller until its backoff has passed, then tried again; a success ends
// the backoff.
func TestTokenSourceFailuresBackOff(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	pcm.set(func(p *fakePCM) { p.failTokens = 2 })
	cfg := pcm.tokenConfig(getPKI(t).clients["p256"])
	cfg.Rand = func() float64 { return 1 } // no jitter: the full backoff
	var outcomes []string
	cfg.Hooks.OnTokenRefresh = func(o string) { outcomes = append(outcomes, o) }
	s := newTokenSource(t, cfg)
	steps := []struct {
		advance   time.Duration
		wantErr   bool
		wantCalls int64
	}{
		{0, true, 1},                      // first failure: backoff 0.5 s
		{0, true, 1},                      // shared, no new call
		{499 * time.Millisecond, true, 1}, // still inside the backoff
		{time.Millisecond, true, 2},       // second failure: backoff 1 s
		{999 * time.Millisecond, true, 2}, // inside
		{time.Millisecond, false, 3},      // PCM is back
		{0, false, 3},                     // cached token
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		_, err := s.Token(context.Background())
		if (err != nil) != st.wantErr || (err != nil && !errors.Is(err, ErrUnavailable)) {
			t.Fatalf("step %d: err %v, want error %v", i, err, st.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "500 (temporarily_unavailable)") {
			t.Fatalf("step %d: error %q lacks status and OAuth error code", i, err)
		}
		if n := pcm.tokenCalls.Load(); n != st.wantCalls {
			t.Fatalf("step %d: %d token calls, want %d", i, n, st.wantCalls)
		}
	}
	if got := strings.Join(outcomes, ","); got != "error,backoff,backoff,error,backoff,ok" {
		t.Fatalf("refresh outcomes %s", got)
	}
}

func TestTokenSourceBackoffIsBoundedExponentialWithJitter(t *testing.T) {
	tests := []struct {
		name     string
		backoff  time.Duration
		max      time.Duration
		rand     float64
		failures int
		want     time.Duration
	}{
		{"first, full", 0, 0, 1, 1, 500 * time.Millisecond},
		{"first, half", 0, 0, 0, 1, 250 * time.Millisecond},
		{"second", 0, 0, 1, 2, time.Second},
		{"fifth", 0, 0, 1, 5, 8 * time.Second},
		{"capped", 0, 0, 1, 6, 10 * time.Second},
		{"capped, half", 0, 0, 0, 6, 5 * time.Second},
		{"far beyond the cap does not overflow", 0, 0, 1, 1000, 10 * time.Second},
		{"jitter in the middle", 0, 0, 0.5, 2, 750 * time.Millisecond},
		{"rand out of range is clamped", 0, 0, 7, 1, 500 * time.Millisecond},
		{"configured", time.Second, 4 * time.Second, 1, 4, 4 * time.Second},
	}
	pcm := newFakePCM(t, newFakeClock())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := pcm.tokenConfig(getPKI(t).clients["p256"])
			cfg.RetryBackoff, cfg.MaxRetryBackoff = tt.backoff, tt.max
			cfg.Rand = func() float64 { return tt.rand }
			s := newTokenSource(t, cfg)
			if got := s.backoffFor(tt.failures); got != tt.want {
				t.Fatalf("backoff after %d failures = %s, want %s", tt.failures, got, tt.want)
			}
		})
	}
}

// TestTokenEndpointOutageBoundsTokenCalls is the scenario of issue #16:
// the PEP's own token has expired, PCM's token endpoint fails, and 300
// requests with fresh tokens arrive over 3 s (one every 10 ms, 16 at a
// time). Without the backoff each request made its own token request
// (72 in the run); with it the calls follow the backoff schedule.
func TestTokenEndpointOutageBoundsTokenCalls(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	var refreshes sync.Map
	in := newIntrospector(t, pcm, func(c *Config) {
		c.Token.Rand = func() float64 { return 0 } // shortest waits: the most calls
		// No introspection budget: every request reaches the token source.
		c.Budget = BudgetConfig{MemberRate: -1, MemberInFlight: -1, TotalRate: -1, TotalInFlight: -1}
		c.Hooks.OnTokenRefresh = func(o string) {
			n, _ := refreshes.LoadOrStore(o, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	})
	if _, _, err := in.IntrospectFor(context.Background(), "org-sp-a", randomToken(t)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute) // the PEP's token has expired
	pcm.set(func(p *fakePCM) { p.failTokens = 1 << 30 })
	before := pcm.tokenCalls.Load()

	const requests, parallel = 300, 16
	for i := 0; i < requests; i += parallel {
		var wg sync.WaitGroup
		for range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := in.IntrospectFor(context.Background(), "org-sp-a", randomToken(t)); !errors.Is(err, ErrUnavailable) {
					t.Errorf("err %v, want ErrUnavailable", err)
				}
			}()
		}
		wg.Wait()
		clock.Advance(parallel * 10 * time.Millisecond)
	}
	calls := pcm.tokenCalls.Load() - before
	// 3 s of outage with the shortest jitter: attempts at 0, 0.25, 0.75,
	// 1.75 s (and the clock steps in 160 ms): 4 to 5 calls, never one per
	// request.
	backoffs, _ := refreshes.Load(OutcomeRefreshBackoff)
	t.Logf("token endpoint calls during the outage: %d for %d requests (%d refused during backoff)", calls, requests, backoffs.(*atomic.Int64).Load())
	if calls < 1 || calls > 5 {
		t.Fatalf("%d token endpoint calls for %d requests, want 1 to 5", calls, requests)
	}
	if pcm.introspectCalls.Load() != 1 {
		t.Fatalf("%d introspection calls: PCM was asked without a PEP token", pcm.introspectCalls.Load())
	}
}

func TestTokenSourceFallsBackToValidTokenWhenRefreshFails(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	var outcomes []string
	var mu sync.Mutex
	cfg := pcm.tokenConfig(getPKI(t).clients["p256"])
	cfg.Hooks.OnTokenRefresh = func(o string) { mu.Lock(); outcomes = append(outcomes, o); mu.Unlock() }
	s := newTokenSource(t, cfg)
	first, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pcm.set(func(p *fakePCM) { p.failTokens = 100 })

	clock.Advance(25 * time.Second) // inside the refresh window, still valid
	got, err := s.Token(context.Background())
	if err != nil || got != first {
		t.Fatalf("at 25 s: err %v, same %v; want the current token", err, got == first)
	}
	clock.Advance(5 * time.Second) // exactly at expiry
	if _, err := s.Token(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("at 30 s: err %v, want ErrUnavailable", err)
	}
	if n := pcm.tokenCalls.Load(); n != 3 {
		t.Fatalf("%d token calls, want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(outcomes, ",") != "ok,error,stale_in_use,error" {
		t.Fatalf("refresh outcomes %v", outcomes)
	}
}

func TestTokenSourceInvalidate(t *testing.T) {
	pcm := newFakePCM(t, newFakeClock())
	s := newTokenSource(t, pcm.tokenConfig(getPKI(t).clients["p256"]))
	ctx := context.Background()
	first, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Invalidate("some-other-token")
	if got, _ := s.Token(ctx); got != first || pcm.tokenCalls.Load() != 1 {
		t.Fatalf("Invalidate of another token refreshed (calls %d)", pcm.tokenCalls.Load())
	}
	s.Invalidate(first)
	second, err := s.Token(ctx)
	if err != nil || second == first || pcm.tokenCalls.Load() != 2 {
		t.Fatalf("after Invalidate: err %v, new %v, calls %d", err, second != first, pcm.tokenCalls.Load())
	}
	// A late 401 for the first token must not drop the second.
	s.Invalidate(first)
	if got, _ := s.Token(ctx); got != second || pcm.tokenCalls.Load() != 2 {
		t.Fatalf("stale Invalidate dropped the new token (calls %d)", pcm.tokenCalls.Load())
	}
}

func TestTokenSourceConcurrentCallersShareOneRefresh(t *testing.T) {
	pcm := newFakePCM(t, newFakeClock())
	release := make(chan struct{})
	pcm.set(func(p *fakePCM) {
		p.tokenReply = func(http.ResponseWriter) bool {
			select {
			case <-release:
			case <-p.done:
			}
			return false
		}
	})
	s := newTokenSource(t, pcm.tokenConfig(getPKI(t).clients["p256"]))

	const callers = 100
	tokens := make(chan string, callers)
	var started, wg sync.WaitGroup
	started.Add(callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			tok, err := s.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			tokens <- tok
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	close(tokens)
	var first string
	for tok := range tokens {
		if first == "" {
			first = tok
		}
		if tok != first {
			t.Fatal("callers got different tokens")
		}
	}
	// Late callers either joined the flight or found the cached token.
	if n := pcm.tokenCalls.Load(); n != 1 {
		t.Fatalf("%d token calls, want 1", n)
	}
}

func TestTokenSourceCallerCancellationDoesNotFailOthers(t *testing.T) {
	pcm := newFakePCM(t, newFakeClock())
	entered := make(chan struct{})
	release := make(chan struct{})
	pcm.set(func(p *fakePCM) {
		p.tokenReply = func(http.ResponseWriter) bool {
			close(entered)
			select {
			case <-release:
			case <-p.done:
			}
			return false
		}
	})
	s := newTokenSource(t, pcm.tokenConfig(getPKI(t).clients["p256"]))

	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := s.Token(ctx)
		firstErr <- err
	}()
	<-entered
	cancel()
	if err := <-firstErr; !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatalf("second caller: %v", err)
	}
	if n := pcm.tokenCalls.Load(); n != 1 {
		t.Fatalf("%d token calls, want 1 (the detached call must complete)", n)
	}
}

func TestTokenResponseDecoding(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantErr     string
	}{
		{name: "valid", status: 200, contentType: "application/json", body: `{"access_token":"abc.DEF-_~+/=","token_type":"bearer","expires_in":30,"scope":"x"}`},
		{name: "extra members ignored", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":30,"refresh_token":"r"}`},
		{name: "not Bearer", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"DPoP","expires_in":30}`, wantErr: "token_type"},
		{name: "token_type missing", status: 200, contentType: "application/json", body: `{"access_token":"abc","expires_in":30}`, wantErr: "token_type"},
		{name: "expires_in zero", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":0}`, wantErr: "expires_in"},
		{name: "expires_in negative", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":-30}`, wantErr: "expires_in"},
		{name: "expires_in string", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":"30"}`, wantErr: "expires_in"},
		{name: "expires_in fraction", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":30.5}`, wantErr: "expires_in"},
		{name: "expires_in huge", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":9223372036854775807}`, wantErr: "expires_in"},
		{name: "expires_in missing", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer"}`, wantErr: "expires_in"},
		{name: "access_token missing", status: 200, contentType: "application/json", body: `{"token_type":"Bearer","expires_in":30}`, wantErr: "access_token"},
		{name: "access_token empty", status: 200, contentType: "application/json", body: `{"access_token":"","token_type":"Bearer","expires_in":30}`, wantErr: "access_token"},
		{name: "access_token with space", status: 200, contentType: "application/json", body: `{"access_token":"a b","token_type":"Bearer","expires_in":30}`, wantErr: "access_token"},
		{name: "access_token number", status: 200, contentType: "application/json", body: `{"access_token":12,"token_type":"Bearer","expires_in":30}`, wantErr: "access_token"},
		{name: "scope wrong type", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":30,"scope":[]}`, wantErr: "scope"},
		{name: "duplicate access_token", status: 200, contentType: "application/json", body: `{"access_token":"abc","access_token":"def","token_type":"Bearer","expires_in":30}`, wantErr: "duplicate"},
		{name: "not JSON", status: 200, contentType: "application/json", body: `<html>`, wantErr: "invalid JSON"},
		{name: "wrong content type", status: 200, contentType: "text/html", body: `{"access_token":"abc","token_type":"Bearer","expires_in":30}`, wantErr: "content type"},
		{name: "oversized", status: 200, contentType: "application/json", body: `{"access_token":"abc","token_type":"Bearer","expires_in":30,"pad":"` + strings.Repeat("x", DefaultTokenMaxBytes) + `"}`, wantErr: "limit"},
		{name: "400 invalid_client", status: 400, contentType: "application/json", body: `{"error":"invalid_client","error_description":"secret detail"}`, wantErr: "400 (invalid_client)"},
		{name: "401 odd error code omitted", status: 401, contentType: "application/json", body: `{"error":"<script>"}`, wantErr: "answered 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := newFakePCM(t, newFakeClock())
			pcm.set(func(p *fakePCM) {
				p.tokenReply = func(w http.ResponseWriter) bool {
					w.Header().Set("Content-Type", tt.contentType)
					w.WriteHeader(tt.status)
					_, _ = w.Write([]byte(tt.body))
					return true
				}
			})
			s := newTokenSource(t, pcm.tokenConfig(getPKI(t).clients["p256"]))
			tok, err := s.Token(context.Background())
			if tt.wantErr == "" {
				if err != nil || tok == "" {
					t.Fatalf("Token: %q, %v", tok, err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err %v, want ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %q, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret detail") {
				t.Fatalf("error %q leaks error_description", err)
			}
		})
	}
}

func TestTokenSourceRefusesUntrustedPCM(t *testing.T) {
	pk := getPKI(t)
	pcm := newFakePCM(t, newFakeClock())
	cfg := pcm.tokenConfig(pk.clients["p256"])
	cfg.HTTPClient = mtlsClient(t, pk.otherRoots, pk.clients["p256"])
	s := newTokenSource(t, cfg)
	if _, err := s.Token(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if n := pcm.tokenCalls.Load(); n != 0 {
		t.Fatalf("%d requests reached a PCM the client does not trust", n)
	}
}

func TestNewTokenSourceRejectsBadConfig(t *testing.T) {
	pk := getPKI(t)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid := func() TokenSourceConfig {
		return TokenSourceConfig{
			TokenEndpoint: "https://pcm.test/token",
			ClientID:      testClientID,
			Signer:        pk.clients["p256"].key,
			HTTPClient:    &http.Client{},
		}
	}
	tests := []struct {
		name string
		edit func(*TokenSourceConfig)
	}{
		{name: "http endpoint", edit: func(c *TokenSourceConfig) { c.TokenEndpoint = "http://pcm.test/token" }},
		{name: "relative endpoint", edit: func(c *TokenSourceConfig) { c.TokenEndpoint = "/token" }},
		{name: "no client id", edit: func(c *TokenSourceConfig) { c.ClientID = "" }},
		{name: "no HTTP client", edit: func(c *TokenSourceConfig) { c.HTTPClient = nil }},
		{name: "no signer", edit: func(c *TokenSourceConfig) { c.Signer = nil }},
		{name: "HS256", edit: func(c *TokenSourceConfig) { c.Algorithm = "HS256" }},
		{name: "none", edit: func(c *TokenSourceConfig) { c.Algorithm = "none" }},
		{name: "ES384 on P-256", edit: func(c *TokenSourceConfig) { c.Algorithm = "ES384" }},
		{name: "PS256 on P-256", edit: func(c *TokenSourceConfig) { c.Algorithm = "PS256" }},
		{name: "ES256 on RSA", edit: func(c *TokenSourceConfig) { c.Signer = pk.clients["rsa"].key; c.Algorithm = "ES256" }},
		{name: "RSA 1024", edit: func(c *TokenSourceConfig) { c.Signer = rsa1024 }},
		{name: "P-224", edit: func(c *TokenSourceConfig) { c.Signer = p224 }},
		{name: "assertion lifetime too long", edit: func(c *TokenSourceConfig) { c.AssertionLifetime = time.Hour }},
		{name: "negative margin", edit: func(c *TokenSourceConfig) { c.RefreshMargin = -time.Second }},
	}
	if _, err := NewTokenSource(valid()); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.edit(&cfg)
			if _, err := NewTokenSource(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
