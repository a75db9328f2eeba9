package enforce

import (
	"cmp"
	"slices"
)

// edit replaces body[start:end] with w.repl[rOff:rOff+rLen]. The output is
// the body with its edits applied; everything else is copied byte for byte.
type edit struct {
	start, end int
	rOff, rLen int
}

// span is the byte range of an array element or object member (key to end of value).
type span struct {
	start, end int
	remove     bool
}

func (w *work) addEdit(start, end int, repl []byte) {
	off := len(w.repl)
	w.repl = append(w.repl, repl...)
	w.edits = append(w.edits, edit{start: start, end: end, rOff: off, rLen: len(repl)})
}

// beginEdit/endEdit bracket replacement bytes appended to w.repl directly.
func (w *work) beginEdit() int { return len(w.repl) }

func (w *work) endEdit(start, end, off int) {
	w.edits = append(w.edits, edit{start: start, end: end, rOff: off, rLen: len(w.repl) - off})
}

// removeSpans adds the edits that delete the marked elements of one array
// or object together with the commas that separate them, so the result is
// still valid JSON. Elements are given in order. When every element goes,
// the container is left empty.
func (w *work) removeSpans(spans []span) {
	lastKept := -1
	for i := 0; i < len(spans); {
		if !spans[i].remove {
			lastKept = i
			i++
			continue
		}
		j := i
		for j < len(spans) && spans[j].remove {
			j++
		}
		switch {
		case j < len(spans): // a kept element follows: delete up to its start
			w.addEdit(spans[i].start, spans[j].start, nil)
		case lastKept >= 0: // trailing run: delete from the end of the last kept one
			w.addEdit(spans[lastKept].end, spans[j-1].end, nil)
		default: // nothing kept
			w.addEdit(spans[i].start, spans[j-1].end, nil)
		}
		i = j
	}
}

// apply appends the edited body to dst. It fails closed if edits overlap,
// which would be a bug in the walkers.
func (w *work) apply(dst, body []byte) ([]byte, error) {
	return applyEdits(dst, body, w.edits, w.repl)
}

// applyEdits appends body with edits (replacement bytes in repl) applied
// to dst; it sorts edits.
func applyEdits(dst, body []byte, edits []edit, repl []byte) ([]byte, error) {
	size, err := sortEdits(edits, len(body))
	if err != nil {
		return nil, err
	}
	out := slices.Grow(dst, size)
	prev := 0
	for _, e := range edits {
		out = append(out, body[prev:e.start]...)
		out = append(out, repl[e.rOff:e.rOff+e.rLen]...)
		prev = e.end
	}
	return append(out, body[prev:]...), nil
}

// sortEdits sorts edits by position and returns the length of a body of n
// bytes once they are applied. It fails closed (errEditOverlap) on edits
// that overlap or reach outside the body, which would be a bug in the
// walkers.
func sortEdits(edits []edit, n int) (int, error) {
	slices.SortFunc(edits, func(x, y edit) int {
		if c := cmp.Compare(x.start, y.start); c != 0 {
			return c
		}
		return cmp.Compare(x.end, y.end)
	})
	size, prev := n, 0
	for _, e := range edits {
		if e.start < prev || e.end < e.start || e.end > n {
			return 0, errEditOverlap
		}
		size += e.rLen - (e.end - e.start)
		prev = e.end
	}
	return size, nil
}
