package introspection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/internal/testclock"
)

func newTestBudget(t *testing.T, clock *testclock.Clock, cfg BudgetConfig) *Budget {
	t.Helper()
	cfg.Now = clock.Now
	b, err := NewBudget(cfg)
	if err != nil {
		t.Fatalf("NewBudget: %v", err)
	}
	return b
}

// budgetStep is one Acquire (or a release of an earlier one, or a clock
// step) in a budget scenario.
type budgetStep struct {
	advance time.Duration
	release int    // release the n-th admitted call (1-based) instead of acquiring
	member  string // acquire for this member
	want    string // "" admitted, else "scope/limit"
	retry   time.Duration
}

func TestBudgetAcquire(t *testing.T) {
	tests := []struct {
		name  string
		cfg   BudgetConfig
		steps []budgetStep
	}{
		{
			name: "member rate and burst",
			cfg:  BudgetConfig{MemberRate: 2, MemberBurst: 2, MemberInFlight: -1},
			steps: []budgetStep{
				{member: "a"}, {member: "a"},
				{member: "a", want: "member/rate", retry: time.Second},
				{member: "b"}, // another member has its own bucket
				{advance: 499 * time.Millisecond, member: "a", want: "member/rate", retry: time.Second},
				{advance: time.Millisecond, member: "a"}, // 0.5 s at 2/s earns one
				{member: "a", want: "member/rate"},
			},
		},
		{
			name: "burst defaults to one second of rate",
			cfg:  BudgetConfig{MemberRate: 3, MemberInFlight: -1},
			steps: []budgetStep{
				{member: "a"}, {member: "a"}, {member: "a"},
				{member: "a", want: "member/rate"},
			},
		},
		{
			name: "refill never exceeds the burst",
			cfg:  BudgetConfig{MemberRate: 1, MemberBurst: 1, MemberInFlight: -1},
			steps: []budgetStep{
				{advance: time.Hour, member: "a"},
				{member: "a", want: "member/rate", retry: time.Second},
			},
		},
		{
			name: "slow rate: Retry-After in whole seconds, rounded up",
			cfg:  BudgetConfig{MemberRate: 0.1, MemberBurst: 1, MemberInFlight: -1},
			steps: []budgetStep{
				{member: "a"},
				{member: "a", want: "member/rate", retry: 10 * time.Second},
				{advance: 2500 * time.Millisecond, member: "a", want: "member/rate", retry: 8 * time.Second},
			},
		},
		{
			name: "member in flight",
			cfg:  BudgetConfig{MemberRate: -1, MemberInFlight: 2},
			steps: []budgetStep{
				{member: "a"}, {member: "a"},
				{member: "a", want: "member/in_flight", retry: time.Second},
				{member: "b"},
				{release: 1},
				{member: "a"},
				{release: 1}, // a second release of the same call changes nothing
				{member: "a", want: "member/in_flight"},
			},
		},
		{
			name: "total rate is shared",
			cfg:  BudgetConfig{MemberRate: -1, MemberInFlight: -1, TotalRate: 2, TotalBurst: 3},
			steps: []budgetStep{
				{member: "a"}, {member: "b"}, {member: "c"},
				{member: "d", want: "total/rate", retry: time.Second},
			},
		},
		{
			name: "total in flight",
			cfg:  BudgetConfig{MemberRate: -1, TotalRate: -1, TotalInFlight: 2},
			steps: []budgetStep{
				{member: "a"}, {member: "b"},
				{member: "c", want: "total/in_flight"},
				{release: 2},
				{member: "c"},
			},
		},
		{
			name: "a refused call costs nothing",
			cfg:  BudgetConfig{MemberRate: 1, MemberBurst: 1, MemberInFlight: -1, TotalRate: 1, TotalBurst: 2},
			steps: []budgetStep{
				{member: "a"},
				{member: "a", want: "member/rate"},
				{member: "a", want: "member/rate"},
				{member: "b"}, // the refusals above did not drain the total
				{member: "c", want: "total/rate"},
			},
		},
		{
			name: "a clock going backwards earns nothing",
			cfg:  BudgetConfig{MemberRate: 1, MemberBurst: 1, MemberInFlight: -1},
			steps: []budgetStep{
				{member: "a"},
				{advance: -time.Hour, member: "a", want: "member/rate"},
				{advance: time.Hour, member: "a", want: "member/rate"},
				{advance: time.Second, member: "a"},
			},
		},
		{
			name: "defaults",
			cfg:  BudgetConfig{},
			steps: func() []budgetStep {
				var s []budgetStep
				for range DefaultMemberInFlight {
					s = append(s, budgetStep{member: "a"})
				}
				return append(s, budgetStep{member: "a", want: "member/in_flight"})
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			b := newTestBudget(t, clock, tt.cfg)
			var releases []func()
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				if st.release > 0 {
					releases[st.release-1]()
					continue
				}
				release, err := b.Acquire(st.member)
				got := ""
				var be *BudgetError
				if errors.As(err, &be) {
					got = be.Scope + "/" + be.Limit
					if !errors.Is(err, ErrBudgetExceeded) || !errors.Is(err, ErrUnavailable) {
						t.Fatalf("step %d: %v does not match ErrBudgetExceeded and ErrUnavailable", i, err)
					}
					if st.retry != 0 && be.RetryAfter != st.retry {
						t.Fatalf("step %d: RetryAfter %s, want %s", i, be.RetryAfter, st.retry)
					}
					if be.RetryAfter < time.Second || be.RetryAfter%time.Second != 0 {
						t.Fatalf("step %d: RetryAfter %s is not whole seconds", i, be.RetryAfter)
					}
				} else if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got != st.want {
					t.Fatalf("step %d (member %q): got %q, want %q", i, st.member, got, st.want)
				}
				if err == nil {
					releases = append(releases, release)
				}
			}
		})
	}
}

func TestNewBudgetRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  BudgetConfig
	}{
		{"NaN rate", BudgetConfig{MemberRate: math.NaN()}},
		{"infinite rate", BudgetConfig{TotalRate: math.Inf(1)}},
		{"negative burst", BudgetConfig{MemberBurst: -1}},
		{"negative total burst", BudgetConfig{TotalBurst: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewBudget(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestBudgetMemberMapIsBounded: once maxBudgetMembers ids are known, idle
// full buckets are forgotten instead of growing the map.
func TestBudgetMemberMapIsBounded(t *testing.T) {
	clock := newFakeClock()
	b := newTestBudget(t, clock, BudgetConfig{MemberRate: 1, MemberBurst: 1, TotalRate: -1, TotalInFlight: -1})
	for i := range maxBudgetMembers + 10 {
		release, err := b.Acquire(fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		release()
		if i == maxBudgetMembers/2 {
			clock.Advance(time.Second) // the first half refill completely
		}
	}
	b.mu.Lock()
	n := len(b.members)
	b.mu.Unlock()
	if n > maxBudgetMembers {
		t.Fatalf("%d member buckets, want at most %d", n, maxBudgetMembers)
	}
}

// TestIntrospectorBudgetCapsOneMember is the burst of issue #16: one
// member sends 400 random tokens over 16 connections at once; PCM sees at
// most the member's burst, the rest are refused with a *BudgetError
// without a PCM call, and another member's requests in the same instant
// are all answered.
func TestIntrospectorBudgetCapsOneMember(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	var refusals sync.Map
	in := newIntrospector(t, pcm, func(c *Config) {
		c.Hooks.OnBudget = func(scope, limit string) {
			n, _ := refusals.LoadOrStore(scope+"/"+limit, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	})
	// Warm the PEP's own token so only introspection calls are counted.
	if err := in.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}

	const flood, conns, others = 400, 16, 20
	var admitted, refused, otherOK atomic.Int64
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < flood; i += conns {
				_, _, err := in.IntrospectFor(context.Background(), "org-sp-flood", randomToken(t))
				var be *BudgetError
				switch {
				case err == nil:
					admitted.Add(1)
				case errors.As(err, &be) && be.Scope == BudgetScopeMember && be.RetryAfter >= time.Second:
					refused.Add(1)
				default:
					t.Errorf("flood: %v", err)
				}
			}
		}()
	}
	for range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := in.IntrospectFor(context.Background(), "org-sp-quiet", randomToken(t)); err != nil {
				t.Errorf("another member was refused: %v", err)
				return
			}
			otherOK.Add(1)
		}()
	}
	wg.Wait()

	calls := pcm.introspectCalls.Load()
	t.Logf("flood of %d tokens from one member: %d PCM calls, %d refused; other member %d/%d answered",
		flood, admitted.Load(), refused.Load(), otherOK.Load(), others)
	if admitted.Load() > DefaultMemberBurst || admitted.Load()+refused.Load() != flood {
		t.Fatalf("flood: %d admitted, %d refused; want at most %d admitted", admitted.Load(), refused.Load(), DefaultMemberBurst)
	}
	if otherOK.Load() != others {
		t.Fatalf("other member: %d of %d answered", otherOK.Load(), others)
	}
	if calls != admitted.Load()+others {
		t.Fatalf("%d PCM calls, want %d: a refused call reached PCM", calls, admitted.Load()+others)
	}
	var hooked int64
	refusals.Range(func(_, v any) bool { hooked += v.(*atomic.Int64).Load(); return true })
	if hooked != refused.Load() {
		t.Fatalf("OnBudget called %d times for %d refusals", hooked, refused.Load())
	}

	// A second later the member has earned DefaultMemberRate new calls.
	clock.Advance(time.Second)
	for i := range DefaultMemberRate {
		if _, _, err := in.IntrospectFor(context.Background(), "org-sp-flood", randomToken(t)); err != nil {
			t.Fatalf("call %d after refill: %v", i, err)
		}
	}
	if _, _, err := in.IntrospectFor(context.Background(), "org-sp-flood", randomToken(t)); !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("after refill: err %v, want ErrBudgetExceeded", err)
	}
}

// TestIntrospectorBudgetSkipsCacheHitsAndJoiners: cached answers and
// callers joining a running call cost no budget.
func TestIntrospectorBudgetSkipsCacheHitsAndJoiners(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, func(c *Config) {
		c.Budget = BudgetConfig{MemberRate: 1, MemberBurst: 1}
	})
	token := randomToken(t)
	pcm.setAnswer(token, activeAnswer(t, clock, spThumbprint(t), nil))
	gate := make(chan struct{})
	pcm.set(func(p *fakePCM) { p.gate = gate })
	const callers = 50
	var joined atomic.Int64
	in.cache.afterJoin = func() {
		if joined.Add(1) == callers {
			close(gate)
		}
	}
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := in.IntrospectFor(context.Background(), "org-sp-a", token); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	in.cache.afterJoin = nil
	for range 10 {
		if _, hit, err := in.IntrospectFor(context.Background(), "org-sp-a", token); err != nil || !hit {
			t.Fatalf("hit %v err %v", hit, err)
		}
	}
	if _, _, err := in.IntrospectFor(context.Background(), "org-sp-a", randomToken(t)); !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("a new token after the one allowed call: %v, want ErrBudgetExceeded", err)
	}
	if n := pcm.introspectCalls.Load(); n != 1 {
		t.Fatalf("%d PCM calls, want 1", n)
	}
}

// TestIntrospectorBudgetReleasesOnFailure: a PCM call that fails still
// ends, and its in-flight slot is returned.
func TestIntrospectorBudgetReleasesOnFailure(t *testing.T) {
	clock := newFakeClock()
	pcm := newFakePCM(t, clock)
	in := newIntrospector(t, pcm, func(c *Config) {
		c.Budget = BudgetConfig{MemberRate: -1, MemberInFlight: 1}
	})
	pcm.set(func(p *fakePCM) {
		p.introspectFn = func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
	})
	for i := range 5 {
		_, _, err := in.IntrospectFor(context.Background(), "org-sp-a", randomToken(t))
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBudgetExceeded) {
			t.Fatalf("call %d: %v, want a PCM failure, not the budget", i, err)
		}
	}
}
