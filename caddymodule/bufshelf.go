package caddymodule

import (
	"slices"
	"sync"
)

// Big capture buffers (a 2 MB searchset read from the upstream) are kept
// on a shelf between answers instead of in a sync.Pool. A pool is emptied
// by every garbage collection, and with megabytes allocated per answer the
// collector runs every few requests: each big search then allocated a fresh
// buffer and the runtime cleared it, part of the 2.7% of the process spent
// clearing on the 2 MB search (docs/benchmarks.md, fourth round). Small
// buffers stay in the pool.
const (
	// shelfMinCap is the capacity from which a buffer goes on a shelf.
	shelfMinCap = 256 << 10
	// shelfMaxBytes bounds what the shelf holds between answers: 16
	// connections' worth of 2 MB answers. Beyond it buffers go to the
	// collector as before.
	shelfMaxBytes = 32 << 20
)

// shelf holds spare big buffers, bounded in bytes. The buffers hold
// earlier answers' bytes: a capture's Buffer starts empty on one, so its
// user reads only what it wrote.
type shelf struct {
	mu   sync.Mutex
	bufs [][]byte // by increasing capacity
	held int      // sum of their capacities
	max  int
}

// captureShelf holds the capture buffers of big answers.
var captureShelf = &shelf{max: shelfMaxBytes}

// take returns an empty buffer of capacity at least n, the smallest that
// fits, or nil when the shelf has none.
func (s *shelf) take(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.bufs, n, func(b []byte, n int) int { return cap(b) - n })
	if i == len(s.bufs) {
		return nil
	}
	b := s.bufs[i]
	s.bufs = slices.Delete(s.bufs, i, i+1)
	s.held -= cap(b)
	return b[:0]
}

// give puts b on the shelf. Buffers below shelfMinCap are not shelved, nor
// those above maxPooledCapture (one huge answer must not pin its memory).
// When the shelf is full, smaller buffers make room for a bigger one, the
// size the answers of the moment need; otherwise b goes to the collector.
// The caller must not use b afterwards.
func (s *shelf) give(b []byte) {
	c := cap(b)
	if c < shelfMinCap || c > maxPooledCapture || c > s.max {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.held+c > s.max && len(s.bufs) > 0 && cap(s.bufs[0]) < c {
		s.held -= cap(s.bufs[0])
		s.bufs[0] = nil
		s.bufs = s.bufs[1:]
	}
	if s.held+c > s.max {
		return
	}
	i, _ := slices.BinarySearchFunc(s.bufs, c, func(b []byte, n int) int { return cap(b) - n })
	s.bufs = slices.Insert(s.bufs, i, b[:0])
	s.held += c
}
