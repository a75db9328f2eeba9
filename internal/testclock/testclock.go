// Package testclock is the clock tests inject where code takes a
// func() time.Time: time moves only when the test moves it, so TTL,
// refresh and staleness tests never sleep.
package testclock

import (
	"sync"
	"time"
)

// Clock is a manually driven clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock standing at start.
func New(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time; pass the method value as the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t (backwards too, to test clock steps).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
