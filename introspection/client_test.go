package introspection

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientFixture is a Client wired to a fake PCM, recording hook outcomes.
type clientFixture struct {
	pcm      *fakePCM
	tokens   *TokenSource
	client   *Client
	mu       sync.Mutex
	outcomes []string
}

func newClientFixture(t *testing.T, edit func(*ClientConfig)) *clientFixture {
	t.Helper()
	clock := newFakeClock()
	f := &clientFixture{pcm: newFakePCM(t, clock)}
	tcfg := f.pcm.tokenConfig(getPKI(t).clients["p256"])
	f.tokens = newTokenSource(t, tcfg)
	cfg := ClientConfig{
		Endpoint:   f.pcm.introspectURL,
		HTTPClient: tcfg.HTTPClient,
		Tokens:     f.tokens,
		Hooks: Hooks{OnIntrospection: func(o string, d time.Duration) {
			if d < 0 {
				t.Errorf("negative duration %s", d)
			}
			f.mu.Lock()
			f.outcomes = append(f.outcomes, o)
			f.mu.Unlock()
		}},
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	f.client = c
	return f
}

func (f *clientFixture) outcomeList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.outcomes, ",")
}

func TestClientAnswers(t *testing.T) {
	f := newClientFixture(t, nil)
	active, inactive := randomToken(t), randomToken(t)
	f.pcm.setAnswer(active, activeAnswer(t, f.pcm.clock, spThumbprint(t), nil))
	f.pcm.setAnswer(inactive, []byte(`{"active":false}`))

	c, err := f.client.Introspect(context.Background(), active)
	if err != nil || !c.Active || c.Confirmation.X5tS256 != spThumbprint(t) || c.PatientValue != "000000018" {
		t.Fatalf("active: %+v, %v", c, err)
	}
	c, err = f.client.Introspect(context.Background(), inactive)
	if err != nil || c.Active {
		t.Fatalf("inactive: %+v, %v", c, err)
	}
	if got := f.outcomeList(); got != "active,inactive" {
		t.Fatalf("outcomes %s", got)
	}
	if n := f.pcm.tokenCalls.Load(); n != 1 {
		t.Fatalf("%d token calls, want 1", n)
	}
}

func TestClientFailures(t *testing.T) {
	tests := []struct {
		name          string
		reply         func(w http.ResponseWriter) // nil: no override
		edit          func(*ClientConfig)
		pcm           func(*fakePCM)
		wantOutcome   string
		wantMalformed bool
		wantMessage   string
	}{
		{
			name:        "500",
			reply:       func(w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) },
			wantOutcome: OutcomeHTTPStatus, wantMessage: "answered 500",
		},
		{
			name:        "403",
			reply:       func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) },
			wantOutcome: OutcomeHTTPStatus, wantMessage: "answered 403",
		},
		{
			name: "redirect is not followed",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Location", "https://attacker.example/collect")
				w.WriteHeader(http.StatusTemporaryRedirect)
			},
			wantOutcome: OutcomeHTTPStatus, wantMessage: "answered 307",
		},
		{
			name: "garbage body",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("<html>PCM maintenance</html>"))
			},
			wantOutcome: OutcomeMalformed, wantMalformed: true, wantMessage: "invalid JSON",
		},
		{
			name: "wrong content type",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write([]byte(`{"active":false}`))
			},
			wantOutcome: OutcomeMalformed, wantMalformed: true, wantMessage: "content type",
		},
		{
			name: "JWT response instead of JSON",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/token-introspection+jwt")
				_, _ = w.Write([]byte(`eyJ.eyJ.sig`))
			},
			wantOutcome: OutcomeMalformed, wantMalformed: true, wantMessage: "content type",
		},
		{
			name: "oversized body",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"active":false,"pad":"` + strings.Repeat("x", 2048) + `"}`))
			},
			edit:        func(c *ClientConfig) { c.MaxResponseBytes = 1024 },
			wantOutcome: OutcomeMalformed, wantMalformed: true, wantMessage: "limit",
		},
		{
			name: "missing required member",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"active":true,"scope":"system/Patient.r"}`))
			},
			wantOutcome: OutcomeMalformed, wantMalformed: true, wantMessage: "without",
		},
		{
			name: "wrong type",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"active":"yes"}`))
			},
			wantOutcome: OutcomeMalformed, wantMalformed: true, wantMessage: "wrong JSON type",
		},
		{
			name:        "401 twice gives up",
			pcm:         func(p *fakePCM) { p.bearersDenied = true },
			wantOutcome: OutcomeUnauthorized, wantMessage: "401",
		},
		{
			name:        "token endpoint down",
			pcm:         func(p *fakePCM) { p.failTokens = 1 },
			wantOutcome: OutcomeTokenError, wantMessage: "token endpoint answered 500",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClientFixture(t, tt.edit)
			if tt.reply != nil {
				f.pcm.set(func(p *fakePCM) {
					p.introspectFn = func(w http.ResponseWriter, _ *http.Request) bool { tt.reply(w); return true }
				})
			}
			if tt.pcm != nil {
				f.pcm.set(tt.pcm)
			}
			token := randomToken(t)
			c, err := f.client.Introspect(context.Background(), token)
			if err == nil {
				t.Fatalf("no error, claims %+v", c)
			}
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err %v does not wrap ErrUnavailable", err)
			}
			if errors.Is(err, ErrMalformedResponse) != tt.wantMalformed {
				t.Fatalf("err %v: ErrMalformedResponse = %v, want %v", err, !tt.wantMalformed, tt.wantMalformed)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Fatalf("err %q, want it to mention %q", err, tt.wantMessage)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("err %q contains the caller's token", err)
			}
			if got := f.outcomeList(); got != tt.wantOutcome {
				t.Fatalf("outcomes %q, want %q", got, tt.wantOutcome)
			}
		})
	}
}

func TestClientRetriesOnceAfter401(t *testing.T) {
	f := newClientFixture(t, nil)
	token := randomToken(t)
	f.pcm.setAnswer(token, activeAnswer(t, f.pcm.clock, spThumbprint(t), nil))
	if _, err := f.client.Introspect(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	old, _ := f.tokens.Token(context.Background())
	f.pcm.revokeAccessTokens() // PCM forgot the PEP's token: next call gets 401

	c, err := f.client.Introspect(context.Background(), token)
	if err != nil || !c.Active {
		t.Fatalf("after 401: %+v, %v", c, err)
	}
	if n := f.pcm.tokenCalls.Load(); n != 2 {
		t.Fatalf("%d token calls, want exactly one refresh (2)", n)
	}
	if n := f.pcm.introspectCalls.Load(); n != 3 {
		t.Fatalf("%d introspection calls, want 3 (ok, 401, retry)", n)
	}
	if cur, _ := f.tokens.Token(context.Background()); cur == old {
		t.Fatal("PEP token not replaced")
	}
}

func TestClient401TwiceMakesExactlyOneRefresh(t *testing.T) {
	f := newClientFixture(t, nil)
	f.pcm.set(func(p *fakePCM) { p.bearersDenied = true })
	_, err := f.client.Introspect(context.Background(), randomToken(t))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if n := f.pcm.tokenCalls.Load(); n != 2 {
		t.Fatalf("%d token calls, want 2", n)
	}
	if n := f.pcm.introspectCalls.Load(); n != 2 {
		t.Fatalf("%d introspection calls, want 2", n)
	}
}

func TestClientTimeout(t *testing.T) {
	f := newClientFixture(t, func(c *ClientConfig) { c.Timeout = 50 * time.Millisecond })
	// The token is fetched before the blocking handler is installed, so
	// the timeout hits the introspection call itself.
	if _, err := f.tokens.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.pcm.set(func(p *fakePCM) {
		p.introspectFn = func(_ http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-p.done:
			}
			return true
		}
	})
	token := randomToken(t)
	_, err := f.client.Introspect(context.Background(), token)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("error contains the token")
	}
	if got := f.outcomeList(); got != OutcomeTimeout {
		t.Fatalf("outcomes %q", got)
	}
}

func TestClientTransportFailure(t *testing.T) {
	pk := getPKI(t)
	tests := []struct {
		name   string
		client func(*fakePCM) *http.Client
	}{
		{name: "PCM certificate from an untrusted CA", client: func(*fakePCM) *http.Client { return mtlsClient(t, pk.otherRoots, pk.clients["p256"]) }},
		{name: "client certificate PCM does not trust", client: func(*fakePCM) *http.Client { return mtlsClient(t, pk.roots, pk.stranger) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClientFixture(t, nil)
			if _, err := f.tokens.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(ClientConfig{Endpoint: f.pcm.introspectURL, HTTPClient: tt.client(f.pcm), Tokens: f.tokens,
				Hooks: Hooks{OnIntrospection: func(o string, _ time.Duration) {
					if o != OutcomeTransport {
						t.Errorf("outcome %q", o)
					}
				}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Introspect(context.Background(), randomToken(t)); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err %v", err)
			}
			if n := f.pcm.introspectCalls.Load(); n != 0 {
				t.Fatalf("%d requests reached PCM", n)
			}
		})
	}
}

func TestClientSendsTheCallersToken(t *testing.T) {
	f := newClientFixture(t, nil)
	token := "tok+with/special=chars"
	received := make(chan string, 1)
	f.pcm.set(func(p *fakePCM) {
		p.introspectFn = func(w http.ResponseWriter, r *http.Request) bool {
			received <- r.PostForm.Get("token")
			return false
		}
	})
	if _, err := f.client.Introspect(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	if got := <-received; got != token {
		t.Fatalf("PCM received %q", got)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	tokens := &TokenSource{}
	tests := []struct {
		name string
		cfg  ClientConfig
	}{
		{name: "http endpoint", cfg: ClientConfig{Endpoint: "http://pcm.test/introspect", HTTPClient: &http.Client{}, Tokens: tokens}},
		{name: "no HTTP client", cfg: ClientConfig{Endpoint: "https://pcm.test/introspect", Tokens: tokens}},
		{name: "no tokens", cfg: ClientConfig{Endpoint: "https://pcm.test/introspect", HTTPClient: &http.Client{}}},
		{name: "negative timeout", cfg: ClientConfig{Endpoint: "https://pcm.test/introspect", HTTPClient: &http.Client{}, Tokens: tokens, Timeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewClient(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
