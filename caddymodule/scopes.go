package caddymodule

import (
	"sync"

	"github.com/hdp-il/fhir-pep/smart"
)

// maxParsedScopes bounds scopeCache; distinct scope strings are few (one
// per consent shape), so the bound is only a guard against abuse.
const maxParsedScopes = 10000

// scopeCache parses each distinct scope string once. Every request of a
// token carries the same scope string, and parsing it is a few
// microseconds and over a dozen allocations that would otherwise be paid
// on every request. The returned scopes are shared: read-only.
type scopeCache struct {
	mu     sync.RWMutex
	parsed map[string][]smart.Scope
}

func (c *scopeCache) parse(scope string) []smart.Scope {
	if c == nil {
		return smart.Parse(scope)
	}
	c.mu.RLock()
	s, ok := c.parsed[scope]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = smart.Parse(scope)
	c.mu.Lock()
	if c.parsed == nil || len(c.parsed) >= maxParsedScopes {
		c.parsed = make(map[string][]smart.Scope)
	}
	c.parsed[scope] = s
	c.mu.Unlock()
	return s
}
