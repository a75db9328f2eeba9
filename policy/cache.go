package policy

import (
	"container/list"
	"slices"
	"sync"
)

// decisionCache is a bounded LRU of decisions by cacheKey. Entries are
// never mutated after insertion; get returns a deep copy, so callers may
// change what they receive.
type decisionCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front: most recently used; values are *cacheEntry
	entries map[cacheKey]*list.Element
}

type cacheEntry struct {
	key      cacheKey
	decision Decision
}

func newDecisionCache(maxEntries int) *decisionCache {
	return &decisionCache{
		max:     maxEntries,
		order:   list.New(),
		entries: make(map[cacheKey]*list.Element, maxEntries),
	}
}

func (c *decisionCache) get(k cacheKey) (Decision, bool) {
	c.mu.Lock()
	el, ok := c.entries[k]
	if ok {
		c.order.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return Decision{}, false
	}
	return copyDecision(el.Value.(*cacheEntry).decision), true
}

// put stores a copy of d, evicting the least recently used entry when full.
func (c *decisionCache) put(k cacheKey, d Decision) {
	d = copyDecision(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		// A concurrent miss evaluated the same input: same decision.
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[k] = c.order.PushFront(&cacheEntry{key: k, decision: d})
}

func copyDecision(d Decision) Decision {
	d.Reasons = slices.Clone(d.Reasons)
	d.Obligations = copyObligations(d.Obligations)
	return d
}

func copyObligations(o Obligations) Obligations {
	o.SearchParams = slices.Clone(o.SearchParams)
	o.Response = o.Response.Clone()
	if o.Entries != nil {
		entries := make([]Obligations, len(o.Entries))
		for i, e := range o.Entries {
			entries[i] = copyObligations(e)
		}
		o.Entries = entries
	}
	return o
}
