package introspection

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Defaults for BudgetConfig. A data source sees one new token per consent
// session of a service provider; even a large HMO answering every hospital
// in the country starts far fewer than 20 sessions per second from one
// member. The limits exist so that the PEP never turns a flood of random
// tokens into a flood of calls to PCM, a national service shared by every
// data source.
const (
	DefaultMemberRate     = 20  // PCM calls per second started for one NTN member
	DefaultMemberBurst    = 40  // calls one member may start at once after a quiet period
	DefaultMemberInFlight = 32  // PCM calls running at once for one member
	DefaultTotalRate      = 100 // PCM calls per second, all members together
	DefaultTotalBurst     = 200
	DefaultTotalInFlight  = 128
	// maxBudgetMembers bounds the per-member bookkeeping. Member ids come
	// from the verified NTN certificate, so there are only as many as NTN
	// has members; the bound only matters if a caller passes something
	// else. Idle, full buckets are dropped first.
	maxBudgetMembers = 10000
)

// Budget scopes and limits reported in a *BudgetError and to
// Hooks.OnBudget. The sets are fixed and small, fit for metric labels.
const (
	BudgetScopeMember = "member" // the calling NTN member's own budget
	BudgetScopeTotal  = "total"  // the budget shared by every member
	BudgetLimitRate   = "rate"   // calls per second
	BudgetLimitFlight = "in_flight"
)

// ErrBudgetExceeded marks a PCM call that was not made because the
// introspection budget was spent. Every *BudgetError matches it, and also
// ErrUnavailable, so a caller that only knows ErrUnavailable still fails
// closed with 503.
var ErrBudgetExceeded = errors.New("introspection: PCM call budget exceeded")

// BudgetError says which budget refused a PCM call and when trying again
// may succeed (for Retry-After). It carries no token and no member id.
type BudgetError struct {
	Scope      string // BudgetScopeMember or BudgetScopeTotal
	Limit      string // BudgetLimitRate or BudgetLimitFlight
	RetryAfter time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%s: %s %s limit reached", ErrBudgetExceeded, e.Scope, e.Limit)
}

// Is makes errors.Is(err, ErrBudgetExceeded) and errors.Is(err,
// ErrUnavailable) hold.
func (e *BudgetError) Is(target error) bool {
	return target == ErrBudgetExceeded || target == ErrUnavailable
}

// BudgetConfig bounds the introspection calls the PEP makes to PCM, per NTN
// member and overall. A zero field takes its default; a negative rate or
// in-flight limit switches that limit off (for tests and for operators who
// bound PCM traffic elsewhere).
type BudgetConfig struct {
	// MemberRate and MemberBurst: a token bucket per NTN member, refilled
	// at MemberRate calls per second and holding at most MemberBurst.
	MemberRate  float64
	MemberBurst int
	// MemberInFlight caps one member's PCM calls running at once.
	MemberInFlight int
	// TotalRate, TotalBurst and TotalInFlight are the same for all members
	// together.
	TotalRate     float64
	TotalBurst    int
	TotalInFlight int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Budget is the introspection budget: token buckets and in-flight counters
// for each NTN member and for all of them. A call is admitted only when
// every applicable limit has room, and then it is charged to all of them
// at once, so a refused call costs nothing. It is safe for concurrent use.
type Budget struct {
	now         func() time.Time
	memberRate  float64
	memberBurst float64
	memberMax   int
	total       budgetBucket
	totalMax    int

	mu       sync.Mutex
	members  map[string]*budgetBucket
	inFlight int
}

// budgetBucket is one token bucket and its in-flight count.
type budgetBucket struct {
	rate     float64 // tokens per second; < 0 means no rate limit
	burst    float64
	tokens   float64
	last     time.Time
	inFlight int
}

// NewBudget checks cfg and fills in the defaults.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	memberRate, memberBurst, err := rateAndBurst("member", cfg.MemberRate, cfg.MemberBurst, DefaultMemberRate, DefaultMemberBurst)
	if err != nil {
		return nil, err
	}
	totalRate, totalBurst, err := rateAndBurst("total", cfg.TotalRate, cfg.TotalBurst, DefaultTotalRate, DefaultTotalBurst)
	if err != nil {
		return nil, err
	}
	b := &Budget{
		now:         cfg.Now,
		memberRate:  memberRate,
		memberBurst: memberBurst,
		memberMax:   inFlightLimit(cfg.MemberInFlight, DefaultMemberInFlight),
		totalMax:    inFlightLimit(cfg.TotalInFlight, DefaultTotalInFlight),
		members:     make(map[string]*budgetBucket),
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.total = budgetBucket{rate: totalRate, burst: totalBurst, tokens: totalBurst, last: b.now()}
	return b, nil
}

func rateAndBurst(scope string, rate float64, burst int, defRate float64, defBurst int) (float64, float64, error) {
	if math.IsNaN(rate) || math.IsInf(rate, 0) {
		return 0, 0, fmt.Errorf("introspection: %s budget rate must be a finite number", scope)
	}
	if burst < 0 {
		return 0, 0, fmt.Errorf("introspection: %s budget burst must not be negative", scope)
	}
	switch {
	case rate < 0:
		return -1, 0, nil
	case rate == 0:
		rate = defRate
		if burst == 0 {
			burst = defBurst
		}
	}
	if burst == 0 {
		// One second's worth, and at least one call.
		burst = max(int(math.Ceil(rate)), 1)
	}
	return rate, float64(burst), nil
}

func inFlightLimit(configured, def int) int {
	switch {
	case configured < 0:
		return -1
	case configured == 0:
		return def
	}
	return configured
}

// Acquire admits one PCM call for member, or returns a *BudgetError saying
// which limit refused it. On success the caller must call the returned
// release exactly once when the PCM call has ended.
func (b *Budget) Acquire(member string) (release func(), err error) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.member(member, now)
	m.refill(now)
	b.total.refill(now)
	// The member's own limits are checked first: a member that floods is
	// told so, and is refused before it can drain the shared budget.
	switch {
	case b.memberMax >= 0 && m.inFlight >= b.memberMax:
		return nil, &BudgetError{Scope: BudgetScopeMember, Limit: BudgetLimitFlight, RetryAfter: time.Second}
	case m.rate >= 0 && m.tokens < 1:
		return nil, &BudgetError{Scope: BudgetScopeMember, Limit: BudgetLimitRate, RetryAfter: m.wait()}
	case b.totalMax >= 0 && b.inFlight >= b.totalMax:
		return nil, &BudgetError{Scope: BudgetScopeTotal, Limit: BudgetLimitFlight, RetryAfter: time.Second}
	case b.total.rate >= 0 && b.total.tokens < 1:
		return nil, &BudgetError{Scope: BudgetScopeTotal, Limit: BudgetLimitRate, RetryAfter: b.total.wait()}
	}
	if m.rate >= 0 {
		m.tokens--
	}
	if b.total.rate >= 0 {
		b.total.tokens--
	}
	m.inFlight++
	b.inFlight++
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			m.inFlight--
			b.inFlight--
		})
	}, nil
}

// member returns member's bucket, creating a full one. b.mu must be held.
func (b *Budget) member(id string, now time.Time) *budgetBucket {
	if m, ok := b.members[id]; ok {
		return m
	}
	if len(b.members) >= maxBudgetMembers {
		b.pruneMembers(now)
	}
	m := &budgetBucket{rate: b.memberRate, burst: b.memberBurst, tokens: b.memberBurst, last: now}
	b.members[id] = m
	return m
}

// pruneMembers drops buckets with nothing in flight that have refilled
// completely: forgetting them changes nothing, since a new bucket starts
// full. b.mu must be held.
func (b *Budget) pruneMembers(now time.Time) {
	for id, m := range b.members {
		m.refill(now)
		if m.inFlight == 0 && (m.rate < 0 || m.tokens >= m.burst) {
			delete(b.members, id)
		}
	}
}

// refill adds the tokens earned since the last refill. A clock going
// backwards earns nothing.
func (k *budgetBucket) refill(now time.Time) {
	if k.rate < 0 {
		return
	}
	if elapsed := now.Sub(k.last); elapsed > 0 {
		k.tokens = min(k.burst, k.tokens+elapsed.Seconds()*k.rate)
		k.last = now
	}
}

// wait is how long until the bucket holds one token, rounded up to whole
// seconds because Retry-After carries seconds.
// A tiny configured rate cannot overflow it: it is capped at an hour.
func (k *budgetBucket) wait() time.Duration {
	secs := math.Ceil((1 - k.tokens) / k.rate)
	return time.Duration(min(max(secs, 1), 3600)) * time.Second
}
