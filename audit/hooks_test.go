package audit

import (
	"sync"
	"testing"
	"time"
)

// counts records the Auditor's hook calls as "written/<sink>",
// "failed/<sink>/<reason>" and "dropped/<sink>", and lets a test wait for
// asynchronous ones.
type counts struct {
	mu      sync.Mutex
	n       map[string]int
	changed chan struct{}
}

func newCounts() *counts {
	return &counts{n: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (c *counts) hooks() Hooks {
	return Hooks{
		OnWritten: func(sink string) { c.add("written/" + sink) },
		OnFailed:  func(sink, reason string) { c.add("failed/" + sink + "/" + reason) },
		OnDropped: func(sink string) { c.add("dropped/" + sink) },
	}
}

func (c *counts) add(key string) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *counts) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.n))
	for k, v := range c.n {
		m[k] = v
	}
	return m
}

func (c *counts) total() int {
	n := 0
	for _, v := range c.snapshot() {
		n += v
	}
	return n
}

// waitTotal waits until n hook calls happened in all. The bound only
// keeps a broken test from hanging; passing tests never reach it.
func (c *counts) waitTotal(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for c.total() < n {
		select {
		case <-c.changed:
		case <-deadline.C:
			t.Fatalf("waited for %d hook calls, have %v", n, c.snapshot())
		}
	}
}
