package introspection

import "time"

// Outcomes reported to Hooks.OnIntrospection. The set is fixed and small so
// that it can be used as a metrics label.
const (
	OutcomeActive       = "active"       // PCM answered, token active
	OutcomeInactive     = "inactive"     // PCM answered, token inactive
	OutcomeTimeout      = "timeout"      // the per-call deadline expired
	OutcomeTransport    = "transport"    // connection, TLS or I/O failure
	OutcomeUnauthorized = "unauthorized" // 401 even with a fresh PEP token
	OutcomeHTTPStatus   = "http_status"  // any other non-200 status
	OutcomeMalformed    = "malformed"    // wrong content type, oversized or undecodable body
	OutcomeTokenError   = "token_error"  // the PEP's own PCM token could not be obtained
)

// Outcomes reported to Hooks.OnTokenRefresh.
const (
	OutcomeRefreshOK      = "ok"           // token endpoint issued a token
	OutcomeRefreshError   = "error"        // token endpoint call failed
	OutcomeRefreshStale   = "stale_in_use" // refresh failed or backing off, the still-valid current token was used
	OutcomeRefreshBackoff = "backoff"      // no token and a recent refresh failed: refused without a call
)

// Hooks lets the caller observe the library without this package importing
// a metrics library. Every field is optional. The functions are called from
// request goroutines and from the cache's internal goroutine, so they must
// be safe for concurrent use and must not block.
type Hooks struct {
	// OnIntrospection is called once per introspection call to PCM (cache
	// hits do not call PCM) with one of the Outcome* values and the
	// wall-clock duration of the call, retries included.
	OnIntrospection func(outcome string, d time.Duration)
	// OnTokenRefresh is called once per token endpoint call with
	// OutcomeRefreshOK or OutcomeRefreshError, with OutcomeRefreshStale
	// when a caller fell back to the current, still valid token, and with
	// OutcomeRefreshBackoff when a caller was refused without a call
	// because a recent refresh failed.
	OnTokenRefresh func(outcome string)
	// OnCache is called once per Introspect call on the cache.
	OnCache func(hit bool)
	// OnEvict is called when the cache evicts an entry to stay within its
	// memory bound or because its TTL passed.
	OnEvict func()
	// OnBudget is called once per PCM call the introspection budget
	// refused, with the BudgetScope* and BudgetLimit* that refused it.
	OnBudget func(scope, limit string)
}

func (h Hooks) any() bool {
	return h.OnIntrospection != nil || h.OnTokenRefresh != nil || h.OnCache != nil || h.OnEvict != nil || h.OnBudget != nil
}

func (h Hooks) introspection(outcome string, d time.Duration) {
	if h.OnIntrospection != nil {
		h.OnIntrospection(outcome, d)
	}
}

func (h Hooks) tokenRefresh(outcome string) {
	if h.OnTokenRefresh != nil {
		h.OnTokenRefresh(outcome)
	}
}

func (h Hooks) cache(hit bool) {
	if h.OnCache != nil {
		h.OnCache(hit)
	}
}

func (h Hooks) evict() {
	if h.OnEvict != nil {
		h.OnEvict()
	}
}

func (h Hooks) budget(scope, limit string) {
	if h.OnBudget != nil {
		h.OnBudget(scope, limit)
	}
}
