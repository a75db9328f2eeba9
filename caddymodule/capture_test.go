package caddymodule

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
)

func TestCapture(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	cases := []struct {
		name          string
		contentLength string // announced by the upstream; "" for none
		limit         int64
		writes        int // times body is written
		wantOverflow  bool
		wantMinCap    int // capacity the buffer must have after WriteHeader
	}{
		{"announced length sizes the buffer", "5000", 10000, 5, false, 5000},
		{"no announcement", "", 10000, 5, false, 0},
		{"announcement above the limit is not trusted", "1000000000", 10000, 5, false, 0},
		{"announcement below the truth: the limit still holds", "10", 2500, 3, true, 10},
		{"garbage announcement", "-5", 10000, 1, false, 0},
		{"exactly the limit", "3000", 3000, 3, false, 3000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapture(tc.limit)
			defer c.release()
			if tc.contentLength != "" {
				c.Header().Set("Content-Length", tc.contentLength)
			}
			c.WriteHeader(http.StatusOK)
			if c.body.Cap() < tc.wantMinCap {
				t.Fatalf("buffer capacity %d after WriteHeader, want at least %d", c.body.Cap(), tc.wantMinCap)
			}
			for range tc.writes {
				if n, err := c.Write(body); n != len(body) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if c.overflow != tc.wantOverflow {
				t.Fatalf("overflow = %v, want %v", c.overflow, tc.wantOverflow)
			}
			want := tc.writes * len(body)
			if tc.wantOverflow {
				want = 0 // nothing partial is kept
			}
			if c.body.Len() != want {
				t.Fatalf("kept %d bytes, want %d", c.body.Len(), want)
			}
		})
	}
}

// A capture taken from the pool after another was released starts empty:
// nothing of an earlier answer can leak into the next one.
func TestCaptureReuseStartsEmpty(t *testing.T) {
	for i := range 50 {
		c := newCapture(1 << 20)
		if c.body.Len() != 0 {
			t.Fatalf("round %d: a reused buffer holds %d bytes", i, c.body.Len())
		}
		c.Header().Set("Content-Length", strconv.Itoa(100+i))
		_, _ = c.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 100+i))
		c.release()
		if c.body != nil {
			t.Fatal("release kept the buffer")
		}
		c.release() // twice is harmless
	}
}

// TestCaptureOutput: the output buffer grows once and is kept for the
// pool, but never when the "output" is the body itself (a Bundle the
// check left unchanged), which would put one buffer in two pools.
func TestCaptureOutput(t *testing.T) {
	tests := []struct {
		name     string
		fill     func(c *capture) []byte
		wantKept bool
	}{
		{"grown output kept", func(c *capture) []byte { return append(c.output(), bytes.Repeat([]byte("y"), 4096)...) }, true},
		{"body itself not kept", func(c *capture) []byte { return c.body.Bytes() }, false},
		{"nothing appended", func(c *capture) []byte { return c.output() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCapture(1 << 20)
			c.Header().Set("Content-Length", "8192")
			if _, err := c.Write(bytes.Repeat([]byte("x"), 8192)); err != nil {
				t.Fatal(err)
			}
			before := cap(c.output())
			out := tt.fill(c)
			c.keepOutput(out)
			kept := cap(*c.out) != before
			if kept != tt.wantKept {
				t.Fatalf("kept %v (cap %d -> %d), want %v", kept, before, cap(*c.out), tt.wantKept)
			}
			if kept && &(*c.out)[:1][0] != &out[0] {
				t.Fatal("kept buffer is not the output")
			}
			if body := c.body.Bytes(); cap(*c.out) > 0 && &(*c.out)[:1][0] == &body[0] {
				t.Fatal("the body's buffer was kept as the output buffer")
			}
			c.release()
			if c.out != nil || c.body != nil {
				t.Fatal("buffers not released")
			}
		})
	}
}
