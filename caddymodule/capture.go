package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/hdp-il/fhir-pep/enforce"
)

// maxPooledCapture is the largest capture buffer kept for reuse. Bigger
// ones (rare, bounded by max_response_bytes) go to the garbage collector,
// so one huge answer does not pin its memory for good.
const maxPooledCapture = 8 << 20

// captureBuffers recycles the buffers upstream answers are read into: on a
// big search, growing a fresh buffer for every request was a sixth of the
// CPU (docs/benchmarks.md).
var captureBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// outputBuffers recycles the buffers a checked Bundle is rebuilt in when
// a caller needs it whole (editedBytes: a read answered by a search's
// single match, a batch entry); an answer to the client is written from
// the edits instead (writeEdited).
var outputBuffers = sync.Pool{New: func() any { return new([]byte) }}

// capture buffers what the next handler (reverse_proxy) writes, so that the
// response can be checked whole before a byte of it reaches the client. A
// body larger than limit is not kept: overflow is set and the caller answers
// 502, so a partially checked body can never leave.
//
// Its buffer comes from a pool. Whatever aliases body (the answer of a
// read, a Bundle the enforcer left unchanged) is valid until release,
// which the exchange calls once the answer is written (handler.go).
type capture struct {
	header   http.Header
	status   int
	body     *bytes.Buffer
	limit    int64
	overflow bool
	// links rewrites the top-level Bundle.link of the answer during the
	// response check (enforce.FilterOptions.Links); nil keeps the
	// upstream's links under the usual check. Set by linkRewritingFetch.
	links func(raw []byte) ([]byte, error)
	// out is the pooled buffer a checked Bundle is rebuilt in
	// (editedBytes), released with body.
	out *[]byte
	// edited is the checked Bundle as body and edits (bundle); it
	// aliases body and is emptied on release.
	edited enforce.Edited
}

// captures recycles the capture itself and its header map, which every
// upstream call filled anew (a map grown for the proxy's headers). Only
// released captures return, and release empties them first.
var captures = sync.Pool{New: func() any { return &capture{header: make(http.Header, 8)} }}

func newCapture(limit int64) *capture {
	b := captureBuffers.Get().(*bytes.Buffer)
	b.Reset()
	c := captures.Get().(*capture)
	c.limit, c.body = limit, b
	return c
}

// release returns the capture and its buffers to their pools. The
// capture, its header and every slice of its body must not be used
// afterwards, and it is released once (releaseCaptures): the capture may
// already serve another request.
func (c *capture) release() {
	if c.body == nil {
		return
	}
	switch n := c.body.Cap(); {
	case n >= shelfMinCap:
		// The slice goes on the shelf and the emptied Buffer to the
		// pool: one buffer is never in both.
		c.body.Reset()
		captureShelf.give(c.body.Bytes())
		*c.body = bytes.Buffer{}
		captureBuffers.Put(c.body)
	case n <= maxPooledCapture:
		captureBuffers.Put(c.body)
	}
	if c.out != nil && cap(*c.out) <= maxPooledCapture {
		outputBuffers.Put(c.out)
	}
	// Every field back to its zero value but the emptied map and the
	// Edited's emptied slices: nothing of this answer can reach the next
	// request that gets the capture.
	h := c.header
	clear(h)
	c.edited.Reset()
	*c = capture{header: h, edited: c.edited}
	captures.Put(c)
}

// editedBytes returns the checked Bundle whole: the body itself when the
// check changed nothing, else rebuilt in the output buffer (valid until
// release).
func (c *capture) editedBytes() []byte {
	if c.edited.Unchanged() {
		return c.edited.Body()
	}
	if c.out == nil {
		c.out = outputBuffers.Get().(*[]byte)
	}
	*c.out = c.edited.AppendTo((*c.out)[:0])
	return *c.out
}

// chunks recycles the buffers checked Bundles are written through: a
// 64 KiB chunk stays in cache, where a rebuilt 2 MB body did not.
var chunks = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// writeEdited writes the checked Bundle to w.
func (c *capture) writeEdited(w io.Writer) {
	if c.edited.Unchanged() {
		_, _ = w.Write(c.edited.Body())
		return
	}
	chunk := chunks.Get().(*[]byte)
	_, _ = c.edited.WriteTo(w, *chunk)
	chunks.Put(chunk)
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	if c.status != 0 {
		return
	}
	c.status = status
	// Size the buffer once from the announced length, so a big answer
	// is not copied through every doubling. The announcement is only a
	// hint: the limit is still enforced on what is actually written.
	if n, err := strconv.ParseInt(c.header.Get("Content-Length"), 10, 64); err == nil && n > 0 && n <= c.limit {
		if n >= shelfMinCap && c.body.Cap() < int(n) {
			if b := captureShelf.take(int(n)); b != nil {
				// Nothing is written yet: the pool's small slice
				// is dropped for the shelf's.
				*c.body = *bytes.NewBuffer(b)
			}
		}
		c.body.Grow(int(n))
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.overflow {
		return len(p), nil
	}
	if int64(c.body.Len())+int64(len(p)) > c.limit {
		// Keep accepting (and dropping) bytes so the proxy finishes
		// cleanly instead of logging a client write error.
		c.overflow = true
		c.body.Reset()
		return len(p), nil
	}
	return c.body.Write(p)
}

// Flush is a no-op: nothing may be sent before the whole body is checked.
func (c *capture) Flush() {}

func (c *capture) statusCode() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}
