package caddymodule

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hdp-il/fhir-pep/internal/testpki"
	"github.com/hdp-il/fhir-pep/introspection"
)

func TestPCMBudgetDenial(t *testing.T) {
	tests := []struct {
		retryAfter time.Duration
		want       string
	}{
		{0, "1"},
		{time.Second, "1"},
		{2500 * time.Millisecond, "3"},
		{100 * time.Second, "100"},
	}
	p := &PEP{Realm: "hmo-b"}
	for _, tt := range tests {
		t.Run(tt.retryAfter.String(), func(t *testing.T) {
			res := p.answer(pcmBudgetDenial(tt.retryAfter))
			if res.status != http.StatusServiceUnavailable || res.out.reason != "pcm_budget" || res.out.failClosed {
				t.Fatalf("status %d reason %q failClosed %v", res.status, res.out.reason, res.out.failClosed)
			}
			if got := res.header.Get("Retry-After"); got != tt.want {
				t.Fatalf("Retry-After %q, want %q", got, tt.want)
			}
			var oo outcomeBody
			if err := json.Unmarshal(res.body, &oo); err != nil || oo.code() != national+"PCM_001" || oo.Issue[0].Code != "throttled" {
				t.Fatalf("body %s", res.body)
			}
		})
	}
}

// TestGateBudget: a burst of random tokens from one member is answered 503
// pcm_budget with Retry-After once the member's budget is spent, without
// calling PCM; another member is not affected; the refusals are counted.
func TestGateBudget(t *testing.T) {
	f := newGateFixture(t, func(p *PEP) {
		// Three calls, then one per 100 s: the test's real time earns none.
		p.PCM.Budget = &PCMBudget{MemberRate: 0.01, MemberBurst: 3, TotalRate: -1}
	})
	other := testpki.SelfSigned(t, "clinic c")
	f.trust.mu.Lock()
	f.trust.members[introspection.Thumbprint(other.Cert.Raw)] = "org-sp-clinic-c"
	f.trust.mu.Unlock()
	f.pcm.set("clinic-token", activeAnswer(other, time.Now(), nil))

	const flood = 10
	statuses := map[int]int{}
	for i := range flood {
		w := f.serve(f.request("GET", "/R4/Observation", f.caller, fmt.Sprintf("random-%d", i)))
		statuses[w.Code]++
		if w.Code == http.StatusServiceUnavailable {
			if secs, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || secs < 1 {
				t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
			}
			if f.reached != nil {
				t.Fatal("a refused request reached the upstream")
			}
		}
	}
	if statuses[http.StatusUnauthorized] != 3 || statuses[http.StatusServiceUnavailable] != flood-3 {
		t.Fatalf("statuses %v, want 3 × 401 (PCM asked: inactive) and %d × 503", statuses, flood-3)
	}
	if n := f.pcm.introsps.Load(); n != 3 {
		t.Fatalf("%d introspection calls at PCM, want 3", n)
	}
	// A token PCM already answered is served from the cache: no budget.
	if w := f.serve(f.request("GET", "/R4/Observation", f.caller, "random-0")); w.Code != http.StatusUnauthorized {
		t.Fatalf("cached inactive token: %d, want 401", w.Code)
	}
	// Another member has its own budget.
	if w := f.serve(f.request("GET", "/R4/Observation", other, "clinic-token")); w.Code == http.StatusServiceUnavailable {
		t.Fatalf("another member was refused: %s", w.Body)
	}
	if got := testutil.ToFloat64(f.pep.metrics.budgetRefusals.WithLabelValues("member", "rate")); got != flood-3 {
		t.Fatalf("pcm_budget_refusals_total{member,rate} = %v, want %d", got, flood-3)
	}
	if got := testutil.ToFloat64(f.pep.metrics.decisions.WithLabelValues("deny", "pcm_budget")); got != flood-3 {
		t.Fatalf("decisions_total{deny,pcm_budget} = %v, want %d", got, flood-3)
	}
}

func TestPCMBudgetCheck(t *testing.T) {
	tests := []struct {
		name string
		b    PCMBudget
		ok   bool
	}{
		{"zero means defaults", PCMBudget{}, true},
		{"all set", PCMBudget{MemberRate: 2.5, MemberBurst: 5, MemberInFlight: 4, TotalRate: 50, TotalBurst: 100, TotalInFlight: 64}, true},
		{"off", PCMBudget{MemberRate: -1, MemberInFlight: -1, TotalRate: -1, TotalInFlight: -1}, true},
		{"negative rate", PCMBudget{MemberRate: -2}, false},
		{"NaN rate", PCMBudget{TotalRate: math.NaN()}, false},
		{"infinite rate", PCMBudget{TotalRate: math.Inf(1)}, false},
		{"negative burst", PCMBudget{MemberBurst: -1}, false},
		{"in flight below -1", PCMBudget{TotalInFlight: -2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.b.check(); (err == nil) != tt.ok {
				t.Fatalf("check = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestPCMConfigIntrospectionAuth(t *testing.T) {
	base := func() *PCMConfig {
		return &PCMConfig{
			Issuer:                "https://pcm.test/",
			TokenEndpoint:         "https://pcm.test/token",
			IntrospectionEndpoint: "https://pcm.test/introspect",
			ClientID:              "pep",
			CA:                    "/ca.pem",
		}
	}
	tests := []struct {
		name   string
		edit   func(*PCMConfig)
		option string // "" when valid
	}{
		{"bearer by default", func(*PCMConfig) {}, ""},
		{"bearer needs a token endpoint", func(c *PCMConfig) { c.IntrospectionAuth, c.TokenEndpoint = "bearer", "" }, "token_endpoint"},
		{"bearer needs a client id", func(c *PCMConfig) { c.ClientID = "" }, "client_id"},
		{"mtls needs neither", func(c *PCMConfig) { c.IntrospectionAuth, c.TokenEndpoint, c.ClientID = "mtls", "", "" }, ""},
		{"mtls still checks a token endpoint given", func(c *PCMConfig) { c.IntrospectionAuth, c.TokenEndpoint = "mtls", "http://pcm.test/token" }, "token_endpoint"},
		{"unknown mode", func(c *PCMConfig) { c.IntrospectionAuth = "basic" }, "introspection_auth"},
		{"bad budget", func(c *PCMConfig) { c.Budget = &PCMBudget{MemberBurst: -1} }, "budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			e := c.check()
			switch {
			case tt.option == "" && e != nil:
				t.Fatalf("rejected: %v", e)
			case tt.option != "" && (e == nil || e.option != tt.option):
				t.Fatalf("check = %v, want an error about %s", e, tt.option)
			}
		})
	}
}
