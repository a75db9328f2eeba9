package enforce

import (
	"unicode"
	"unicode/utf8"
)

// keyTracker rejects duplicate object keys. Two keys are duplicates when they
// are equal after unescaping and after the case folding encoding/json uses to
// match struct fields (bytes.EqualFold: "Subject", "subject" and "ſubject"
// all land in the same Go field). A checker that looked at one key while the
// client's decoder took the other would be bypassed.
//
// Each object keeps a 64-bit bloom mask of its keys' hashes: a key whose bit
// is not set yet cannot be a duplicate, which is the common case, so it costs
// O(1). Otherwise the keys of the object are compared pairwise (FHIR objects
// have a handful of keys); an object with more than linearKeyLimit keys
// switches to a set so a hostile body cannot make the check quadratic.
type keyTracker struct {
	frames []keyFrame
	recs   []keyRec
	arena  []byte // folded forms of keys that had escapes or non-ASCII bytes
}

type keyFrame struct {
	recStart   int
	arenaStart int
	bloom      uint64 // one bit per keyHash of the keys seen so far
	set        map[string]struct{}
}

type keyRec struct {
	off, n  int
	inArena bool
}

const linearKeyLimit = 24

func (t *keyTracker) reset() {
	t.frames = t.frames[:0]
	t.recs = t.recs[:0]
	t.arena = t.arena[:0]
}

func (t *keyTracker) push() {
	t.frames = append(t.frames, keyFrame{recStart: len(t.recs), arenaStart: len(t.arena)})
}

func (t *keyTracker) pop() {
	f := &t.frames[len(t.frames)-1]
	t.recs = t.recs[:f.recStart]
	t.arena = t.arena[:f.arenaStart]
	f.set = nil
	t.frames = t.frames[:len(t.frames)-1]
}

// add registers the key st of the innermost object. It returns the bytes to
// compare names against with asciiFoldEqual: the raw key when it is plain
// ASCII, otherwise its folded form. The slice is only valid until the next add.
func (t *keyTracker) add(s *scanner, st str) ([]byte, error) {
	f := &t.frames[len(t.frames)-1]
	if st.flags == 0 && f.set == nil {
		// The common case, a plain key in a small object, without the
		// general path's folding and set: a bloom miss is all it takes.
		key := s.data[st.start:st.end]
		bit := uint64(1) << keyHash(key)
		if f.bloom&bit == 0 && len(t.recs)-f.recStart < linearKeyLimit {
			f.bloom |= bit
			t.recs = append(t.recs, keyRec{off: st.start, n: len(key)})
			return key, nil
		}
	}
	var key []byte
	rec := keyRec{off: st.start, n: st.end - st.start}
	if st.flags == 0 {
		key = s.data[st.start:st.end]
	} else {
		off := len(t.arena)
		t.arena = appendFolded(t.arena, s.text(st))
		key = t.arena[off:]
		rec = keyRec{off: off, n: len(key), inArena: true}
	}
	if f.set != nil {
		s.buf = appendFolded(s.buf[:0], key)
		k := string(s.buf)
		if _, dup := f.set[k]; dup {
			return nil, ErrDuplicateKey
		}
		f.set[k] = struct{}{}
		t.recs = append(t.recs, rec)
		return key, nil
	}
	bit := uint64(1) << keyHash(key)
	possibleDup := f.bloom&bit != 0
	f.bloom |= bit
	for _, r := range t.recs[f.recStart:] {
		if !possibleDup {
			break
		}
		if r.n != len(key) {
			continue
		}
		var other []byte
		if r.inArena {
			other = t.arena[r.off : r.off+r.n]
		} else {
			other = s.data[r.off : r.off+r.n]
		}
		if asciiFoldEqual(other, key) {
			return nil, ErrDuplicateKey
		}
	}
	t.recs = append(t.recs, rec)
	if len(t.recs)-f.recStart > linearKeyLimit {
		f.set = make(map[string]struct{}, 2*linearKeyLimit)
		for _, r := range t.recs[f.recStart:] {
			var b []byte
			if r.inArena {
				b = t.arena[r.off : r.off+r.n]
			} else {
				b = s.data[r.off : r.off+r.n]
			}
			f.set[string(appendFolded(nil, b))] = struct{}{}
		}
	}
	return key, nil
}

// addKnown registers the plain ASCII key at data[off:], already known not to
// duplicate an earlier key of the innermost object (skipObjectAt checked
// it before handing its keys over).
func (t *keyTracker) addKnown(key []byte, off int) {
	f := &t.frames[len(t.frames)-1]
	f.bloom |= uint64(1) << keyHash(key)
	t.recs = append(t.recs, keyRec{off: off, n: len(key)})
}

// keyHash maps a key to 0..63 so that keys equal under asciiFoldEqual (a raw
// ASCII key and the folded form of its twin) hash alike: it looks only at
// the length and at three bytes with the ASCII case bit cleared.
func keyHash(k []byte) uint {
	n := len(k)
	if n == 0 {
		return 0
	}
	h := uint64(n) | uint64(k[0]&0xDF)<<8 | uint64(k[n-1]&0xDF)<<16 | uint64(k[n/2]&0xDF)<<24
	return uint((h * 0x9E3779B97F4A7C15) >> 58)
}

// appendFolded appends the canonical case fold of b, exactly as encoding/json
// folds names: ASCII letters upper-cased, other runes mapped to the smallest
// rune of their simple-fold orbit. In the result no ASCII letter is lower case,
// so asciiFoldEqual(raw ASCII key, folded key) is exact.
func appendFolded(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// asciiFoldEqual compares with ASCII case folding only.
func asciiFoldEqual[T string | []byte](a []byte, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// keyIs reports whether a key returned by nextKey names the element name
// (ASCII), under the same folding the duplicate check uses.
func keyIs(key []byte, name string) bool { return asciiFoldEqual(key, name) }
