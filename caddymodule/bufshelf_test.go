package caddymodule

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

func TestShelf(t *testing.T) {
	const k = 1 << 10
	type step struct {
		give     int // capacity to give, 0 for none
		take     int // size to take, 0 for none
		wantCap  int // capacity take must return, 0 for nil
		wantHeld int
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"small buffers are not shelved", 4 * shelfMinCap, []step{
			{give: shelfMinCap - 1, wantHeld: 0},
			{take: 1, wantCap: 0},
		}},
		{"huge buffers are not shelved", 4 * maxPooledCapture, []step{
			{give: maxPooledCapture + 1, wantHeld: 0},
		}},
		{"the smallest buffer that fits is taken", 8 * shelfMinCap, []step{
			{give: 3 * shelfMinCap, wantHeld: 3 * shelfMinCap},
			{give: shelfMinCap, wantHeld: 4 * shelfMinCap},
			{give: 2 * shelfMinCap, wantHeld: 6 * shelfMinCap},
			{take: shelfMinCap + k, wantCap: 2 * shelfMinCap, wantHeld: 4 * shelfMinCap},
			{take: 4 * shelfMinCap, wantCap: 0, wantHeld: 4 * shelfMinCap},
			{take: 1, wantCap: shelfMinCap, wantHeld: 3 * shelfMinCap},
			{take: 1, wantCap: 3 * shelfMinCap, wantHeld: 0},
			{take: 1, wantCap: 0, wantHeld: 0},
		}},
		{"full: a bigger buffer evicts smaller ones", 3 * shelfMinCap, []step{
			{give: shelfMinCap, wantHeld: shelfMinCap},
			{give: shelfMinCap, wantHeld: 2 * shelfMinCap},
			{give: 2 * shelfMinCap, wantHeld: 3 * shelfMinCap},
			{take: 2 * shelfMinCap, wantCap: 2 * shelfMinCap, wantHeld: shelfMinCap},
		}},
		{"full: a smaller buffer is dropped", 2 * shelfMinCap, []step{
			{give: 2 * shelfMinCap, wantHeld: 2 * shelfMinCap},
			{give: shelfMinCap, wantHeld: 2 * shelfMinCap},
			{take: 1, wantCap: 2 * shelfMinCap, wantHeld: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &shelf{max: tt.max}
			for i, st := range tt.steps {
				if st.give > 0 {
					s.give(make([]byte, 7, st.give))
				}
				if st.take > 0 {
					b := s.take(st.take)
					if cap(b) != st.wantCap || len(b) != 0 {
						t.Fatalf("step %d: take(%d) = len %d cap %d, want len 0 cap %d", i, st.take, len(b), cap(b), st.wantCap)
					}
				}
				if s.held != st.wantHeld || s.held > s.max {
					t.Fatalf("step %d: held %d, want %d (max %d)", i, s.held, st.wantHeld, s.max)
				}
				sum := 0
				for j, b := range s.bufs {
					sum += cap(b)
					if j > 0 && cap(s.bufs[j-1]) > cap(b) {
						t.Fatalf("step %d: shelf out of order", i)
					}
				}
				if sum != s.held {
					t.Fatalf("step %d: held %d but the buffers sum to %d", i, s.held, sum)
				}
			}
		})
	}
}

// No buffer is ever held by two users at once: each goroutine fills what
// it took with its own byte and finds it unchanged before giving it back.
func TestShelfConcurrentUsersNeverShare(t *testing.T) {
	s := &shelf{max: 8 * shelfMinCap}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				b := s.take(shelfMinCap)
				if b == nil {
					b = make([]byte, 0, shelfMinCap)
				}
				b = b[:shelfMinCap]
				for i := range b {
					b[i] = byte(g)
				}
				if bytes.IndexFunc(b, func(r rune) bool { return r != rune(g) }) >= 0 {
					t.Error("a buffer was changed while held")
					return
				}
				s.give(b)
			}
		}()
	}
	wg.Wait()
}

// A big answer's capture buffer comes from the shelf once an earlier big
// answer was released, starts empty, and goes back on release; the pooled
// Buffer keeps no slice of its own.
func TestCaptureBigBuffersShelved(t *testing.T) {
	// Buffers earlier tests left on the shelf would be taken first.
	for captureShelf.take(0) != nil {
	}
	size := 2 * shelfMinCap
	first := bytes.Repeat([]byte("a"), size)
	answer := func(body []byte) *capture {
		c := newCapture(int64(4 * size))
		c.Header().Set("Content-Length", strconv.Itoa(len(body)))
		c.WriteHeader(http.StatusOK)
		if c.body.Len() != 0 {
			t.Fatalf("a new capture holds %d bytes", c.body.Len())
		}
		if _, err := c.Write(body); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := answer(first)
	bodyArr := &c1.body.Bytes()[0]
	buf := c1.body
	c1.release()
	if buf.Cap() != 0 {
		t.Fatalf("the released Buffer kept a slice of capacity %d", buf.Cap())
	}
	second := bytes.Repeat([]byte("b"), size-10)
	c2 := answer(second)
	defer c2.release()
	if &c2.body.Bytes()[0] != bodyArr {
		t.Fatal("the shelved buffer was not reused")
	}
	if !bytes.Equal(c2.body.Bytes(), second) {
		t.Fatal("a reused buffer shows bytes of the earlier answer")
	}
}
