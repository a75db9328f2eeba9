package enforce

import (
	"io"
	"slices"
)

// Edited is a checked Bundle kept as the upstream's body and the edits the
// check made to it (entries withheld, fullUrl and links moved to the
// public base, total fixed), so that it can be written out in chunks
// instead of being rebuilt whole in memory first: on a 2 MB searchset the
// rebuild was a cold copy of the whole body (docs/benchmarks.md, fourth
// round). Its bytes are exactly those FilterBundle returns.
//
// An Edited aliases the body it was made from: it is valid while that
// body is. Its own slices are reused by the next FilterBundleEdited into
// it.
type Edited struct {
	body  []byte
	edits []edit // sorted by position, not overlapping
	repl  []byte
	size  int
}

// FilterBundleEdited is FilterBundle giving its result as an Edited in
// out (reset first) instead of a rebuilt body. On error out is empty.
func (a *Access) FilterBundleEdited(body []byte, opts FilterOptions, out *Edited) (Stats, error) {
	out.Reset()
	w, stats, err := a.walkBundle(body, opts)
	if err != nil {
		return Stats{}, err
	}
	defer putWork(w)
	if err := out.set(body, w.edits, w.repl); err != nil {
		return Stats{}, err
	}
	return stats, nil
}

// set makes e the body with edits applied (edits and repl are copied: they
// belong to the pooled walk). It fails closed on overlapping edits, as
// applyEdits does.
func (e *Edited) set(body []byte, edits []edit, repl []byte) error {
	e.edits = append(e.edits[:0], edits...)
	size, err := sortEdits(e.edits, len(body))
	if err != nil {
		e.Reset()
		return err
	}
	e.body, e.repl, e.size = body, append(e.repl[:0], repl...), size
	return nil
}

// Reset empties e, keeping its slices for reuse unless one huge answer
// grew them beyond what a pooled walk may keep (putWork): an Edited lives
// in a pooled capture, and must not pin that answer's memory.
func (e *Edited) Reset() {
	edits, repl := e.edits[:0], e.repl[:0]
	if cap(edits) > retainLimit/32 {
		edits = nil
	}
	if cap(repl) > retainLimit {
		repl = nil
	}
	*e = Edited{edits: edits, repl: repl}
}

// Len is the length of the edited body.
func (e *Edited) Len() int { return e.size }

// Unchanged tells that the check made no edit: the body is the answer.
func (e *Edited) Unchanged() bool { return len(e.edits) == 0 }

// Body returns the upstream body the edits apply to.
func (e *Edited) Body() []byte { return e.body }

// AppendTo appends the edited body to dst.
func (e *Edited) AppendTo(dst []byte) []byte {
	dst = slices.Grow(dst, e.size)
	prev := 0
	for _, ed := range e.edits {
		dst = append(dst, e.body[prev:ed.start]...)
		dst = append(dst, e.repl[ed.rOff:ed.rOff+ed.rLen]...)
		prev = ed.end
	}
	return append(dst, e.body[prev:]...)
}

// WriteTo writes the edited body to w through chunk, which it fills before
// each Write (so w sees few large writes, as with a rebuilt body, from a
// buffer that stays in cache); a chunk of capacity 0 writes the body's
// unchanged spans directly. It returns the bytes written.
func (e *Edited) WriteTo(w io.Writer, chunk []byte) (int64, error) {
	cw := chunkWriter{w: w, buf: chunk[:0]}
	prev := 0
	for _, ed := range e.edits {
		cw.write(e.body[prev:ed.start])
		cw.write(e.repl[ed.rOff : ed.rOff+ed.rLen])
		prev = ed.end
	}
	cw.write(e.body[prev:])
	cw.flush()
	return cw.n, cw.err
}

// chunkWriter gathers small writes into buf and passes writes at least as
// big as buf straight through.
type chunkWriter struct {
	w   io.Writer
	buf []byte
	n   int64
	err error
}

func (c *chunkWriter) write(p []byte) {
	for len(p) > 0 && c.err == nil {
		if len(c.buf) == 0 && len(p) >= cap(c.buf) {
			c.out(p)
			return
		}
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf, p = c.buf[:len(c.buf)+k], p[k:]
		if len(c.buf) == cap(c.buf) {
			c.flush()
		}
	}
}

func (c *chunkWriter) flush() {
	if len(c.buf) > 0 && c.err == nil {
		c.out(c.buf)
	}
	c.buf = c.buf[:0]
}

func (c *chunkWriter) out(p []byte) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	c.err = err
}
