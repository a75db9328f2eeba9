package enforce

// This file is a frozen copy of oldScanner.go, keys.go and oldAppendUnescaped as
// they were before the issue #13 speed work, with every identifier renamed
// (old prefix). FuzzScannerDifferential runs it and the live oldScanner side
// by side: the live one must accept, reject, report and position exactly
// as this one does. Do not "fix" or speed up this copy: its value is that
// it does not change.

import (
	"encoding/binary"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// oldScanner is a strict, validating, non-allocating JSON reader over a byte
// slice. It never builds a tree: callers walk the few members they need and
// skip every other value with skipValue, which still validates it completely
// (grammar, UTF-8, escapes, depth, duplicate keys). Every object the oldScanner
// enters, through any path, goes through oldKeyTracker, so "duplicate keys
// anywhere" holds by construction.
type oldScanner struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
	keyStart int   // offset of the opening quote of the last key read
	keyFlags uint8 // str flags of the last key nextKey read
	keys     oldKeyTracker
	// Deep scan (see work.resource): while deep is on, every "reference"
	// string met by skipObject or skipMember that names another patient
	// sets deepForeign. acc classifies the references.
	deep        bool
	deepForeign bool
	acc         *Access
	buf         []byte // scratch for decoded escaped strings
}

// str, mark and the str flags are shared with the live scanner.

func (s *oldScanner) reset(data []byte, maxDepth int) {
	s.data = data
	s.pos = 0
	s.depth = 0
	s.maxDepth = maxDepth
	s.keys.reset()
	s.buf = s.buf[:0]
	s.deep, s.deepForeign = false, false
}

func (s *oldScanner) mark() mark {
	return mark{pos: s.pos, depth: s.depth, frames: len(s.keys.frames)}
}

// rewind returns to m, closing the objects opened since.
func (s *oldScanner) rewind(m mark) {
	for len(s.keys.frames) > m.frames {
		s.keys.pop()
	}
	s.pos = m.pos
	s.depth = m.depth
}

var oldIsSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (s *oldScanner) skipWS() {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return // compact JSON: nothing to skip
	}
	d, i := s.data, s.pos
	for i < len(d) && oldIsSpace[d[i]] {
		i++
	}
	s.pos = i
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *oldScanner) peek() byte {
	s.skipWS()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// atEnd reports whether only white space is left.
func (s *oldScanner) atEnd() bool {
	s.skipWS()
	return s.pos == len(s.data)
}

const (
	oldSwarOnes = 0x0101010101010101
	oldSwarHigh = 0x8080808080808080
)

// oldSpecialBytes returns a mask with the high bit set in every byte of x (read
// little-endian) that needs attention inside a string: '"', '\\', a control
// character, or a byte >= 0x80. For a byte below 0x80, adding 0x7F (or 0x60)
// sets its high bit without carrying into the next byte, so the flag of the
// lowest special byte is exact; bytes >= 0x80 may carry upwards, but they are
// flagged themselves and only bytes above them can be disturbed.
func oldSpecialBytes(x uint64) uint64 {
	notQuote := (x ^ (oldSwarOnes * '"')) + oldSwarOnes*0x7F
	notBackslash := (x ^ (oldSwarOnes * '\\')) + oldSwarOnes*0x7F
	notControl := x + oldSwarOnes*0x60
	return ^(notQuote & notBackslash & notControl & ^x) & oldSwarHigh
}

// readString reads the string at s.pos (which must be '"') and validates it.
func (s *oldScanner) readString() (str, error) {
	d := s.data
	i := s.pos + 1
	st := str{start: i}
	for {
		for i+8 <= len(d) {
			m := oldSpecialBytes(binary.LittleEndian.Uint64(d[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(d) {
			return str{}, ErrSyntax
		}
		c := d[i]
		switch {
		case c == '"':
			st.end = i
			s.pos = i + 1
			return st, nil
		case c == '\\':
			st.flags |= strEscaped
			next, ok := oldValidEscape(d, i)
			if !ok {
				return str{}, ErrSyntax
			}
			i = next
		case c < 0x20:
			return str{}, ErrSyntax
		case c >= utf8.RuneSelf:
			st.flags |= strNonASCII
			size := oldRuneLen(d, i)
			if size == 0 {
				return str{}, ErrSyntax
			}
			i += size
		default:
			i++
		}
	}
}

// oldRuneLen returns the length of the valid UTF-8 sequence at d[i] (a byte
// >= 0x80), or 0 if it is invalid. Two-byte sequences (Hebrew, Arabic) are
// decoded inline; the rest goes to the standard decoder.
func oldRuneLen(d []byte, i int) int {
	c := d[i]
	if c >= 0xC2 && c <= 0xDF && i+1 < len(d) && d[i+1]&0xC0 == 0x80 {
		return 2
	}
	r, size := utf8.DecodeRune(d[i:])
	if r == utf8.RuneError && size <= 1 {
		return 0
	}
	return size
}

// oldValidEscape checks the escape sequence starting at d[i] == '\\' and returns
// the index after it. Lone or mismatched UTF-16 surrogates are rejected:
// decoders disagree on them (encoding/json turns them into U+FFFD, which
// would make distinct keys collide).
func oldValidEscape(d []byte, i int) (int, bool) {
	if i+1 >= len(d) {
		return 0, false
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, true
	case 'u':
		r, ok := oldHex4(d, i+2)
		if !ok {
			return 0, false
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if i+12 > len(d) || d[i+6] != '\\' || d[i+7] != 'u' {
				return 0, false
			}
			r2, ok := oldHex4(d, i+8)
			if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
				return 0, false
			}
			return i + 12, true
		case r >= 0xDC00 && r <= 0xDFFF:
			return 0, false
		}
		return i + 6, true
	}
	return 0, false
}

func oldHex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// text returns the decoded content of st. For strings without escapes it is a
// sub-slice of the body; otherwise it lives in s.buf and is valid until the
// next call to text.
func (s *oldScanner) text(st str) []byte {
	raw := s.data[st.start:st.end]
	if st.flags&strEscaped == 0 {
		return raw
	}
	s.buf = oldAppendUnescaped(s.buf[:0], raw)
	return s.buf
}

func (s *oldScanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return ErrSyntax
	}
	s.pos += len(lit)
	return nil
}

func (s *oldScanner) skipNumber() error {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return ErrSyntax
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return ErrSyntax
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return ErrSyntax
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return ErrSyntax
		}
	}
	s.pos = i
	return nil
}

// openObject consumes the '{' at s.pos.
func (s *oldScanner) openObject() error {
	s.depth++
	if s.depth > s.maxDepth {
		return ErrTooDeep
	}
	s.pos++
	s.keys.push()
	return nil
}

// nextKey moves to the next member of the object being read. It returns the
// member's key and true, with s.pos at the value, or false once the closing
// brace is consumed. first is true for the first call after openObject.
// The key is only valid until the value has been read: keep a decision about
// it, never the slice.
func (s *oldScanner) nextKey(first bool) ([]byte, bool, error) {
	s.skipWS()
	if s.pos >= len(s.data) {
		return nil, false, ErrSyntax
	}
	c := s.data[s.pos]
	if c == '}' {
		s.pos++
		s.depth--
		s.keys.pop()
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, ErrSyntax
		}
		s.pos++
		s.skipWS()
		if s.pos >= len(s.data) {
			return nil, false, ErrSyntax
		}
		c = s.data[s.pos]
	}
	if c != '"' {
		return nil, false, ErrSyntax
	}
	s.keyStart = s.pos
	st, err := s.readString()
	if err != nil {
		return nil, false, err
	}
	s.keyFlags = st.flags
	key, err := s.keys.add(s, st)
	if err != nil {
		return nil, false, err
	}
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, false, ErrSyntax
		}
	}
	s.pos++
	s.skipWS()
	return key, true, nil
}

// openArray consumes the '[' at s.pos.
func (s *oldScanner) openArray() error {
	s.depth++
	if s.depth > s.maxDepth {
		return ErrTooDeep
	}
	s.pos++
	return nil
}

// nextElem moves to the next element of the array being read: true with
// s.pos at the element, or false once the closing bracket is consumed.
func (s *oldScanner) nextElem(first bool) (bool, error) {
	s.skipWS()
	if s.pos >= len(s.data) {
		return false, ErrSyntax
	}
	c := s.data[s.pos]
	if c == ']' {
		s.pos++
		s.depth--
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, ErrSyntax
		}
		s.pos++
		s.skipWS()
	}
	return true, nil
}

// skipValue validates and steps over one value.
func (s *oldScanner) skipValue() error {
	s.skipWS()
	if s.pos >= len(s.data) {
		return ErrSyntax
	}
	switch s.data[s.pos] {
	case '{':
		return s.skipObject()
	case '[':
		return s.skipArray()
	case '"':
		_, err := s.readString()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.skipNumber()
	}
}

// skipObject is skipValue for an object. It does what openObject and
// nextKey do, inlined: this loop carries most of the bytes of a body.
func (s *oldScanner) skipObject() error {
	if err := s.openObject(); err != nil {
		return err
	}
	d := s.data
	s.skipWS()
	if s.pos < len(d) && d[s.pos] == '}' {
		s.pos++
		s.depth--
		s.keys.pop()
		return nil
	}
	for {
		if s.pos >= len(d) || d[s.pos] != '"' {
			return ErrSyntax
		}
		s.keyStart = s.pos
		st, err := s.readString()
		if err != nil {
			return err
		}
		key, err := s.keys.add(s, st)
		if err != nil {
			return err
		}
		if s.pos >= len(d) || d[s.pos] != ':' {
			s.skipWS()
			if s.pos >= len(d) || d[s.pos] != ':' {
				return ErrSyntax
			}
		}
		s.pos++
		if s.deep && oldKeyIs(key, "reference") {
			err = s.deepReference()
		} else {
			err = s.skipValue()
		}
		if err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(d) {
			return ErrSyntax
		}
		switch d[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			s.depth--
			s.keys.pop()
			return nil
		default:
			return ErrSyntax
		}
	}
}

// skipArray is skipValue for an array.
func (s *oldScanner) skipArray() error {
	if err := s.openArray(); err != nil {
		return err
	}
	d := s.data
	s.skipWS()
	if s.pos < len(d) && d[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.skipValue(); err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(d) {
			return ErrSyntax
		}
		switch d[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return ErrSyntax
		}
	}
}

// readStringValue reads a string if one is next; ok is false (and the value is
// skipped) for any other JSON type.
func (s *oldScanner) readStringValue() (st str, ok bool, err error) {
	if s.peek() != '"' {
		return str{}, false, s.skipValue()
	}
	st, err = s.readString()
	return st, err == nil, err
}

// skipMember skips the value of the member key, unless a deep scan is on
// and key is "reference": for walkers that read members themselves.
func (s *oldScanner) skipMember(key []byte) error {
	if s.deep && oldKeyIs(key, "reference") {
		return s.deepReference()
	}
	return s.skipValue()
}

func (s *oldScanner) deepReference() error {
	st, ok, err := s.readStringValue()
	if err == nil && ok && s.acc.classify(s.text(st)) == refForeign {
		s.deepForeign = true
	}
	return err
}

// eachElem calls fn with s.pos at each element of the array at s.pos; fn
// must read or skip the element. Any other value is skipped, as walkers
// ignore members of an unexpected type. The first error stops the walk.
func (s *oldScanner) eachElem(fn func() error) error {
	if s.peek() != '[' {
		return s.skipValue()
	}
	if err := s.openArray(); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := s.nextElem(first)
		if err != nil || !more {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

// eachMember calls fn with each member's key and s.pos at its value, for
// the object at s.pos; fn must read or skip the value (the key is valid
// only until then, see nextKey). Any other value is skipped. The first
// error stops the walk.
func (s *oldScanner) eachMember(fn func(key []byte) error) error {
	if s.peek() != '{' {
		return s.skipValue()
	}
	if err := s.openObject(); err != nil {
		return err
	}
	for first := true; ; first = false {
		key, more, err := s.nextKey(first)
		if err != nil || !more {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
	}
}

type oldKeyTracker struct {
	frames []oldKeyFrame
	recs   []oldKeyRec
	arena  []byte // folded forms of keys that had escapes or non-ASCII bytes
}

type oldKeyFrame struct {
	recStart   int
	arenaStart int
	bloom      uint64 // one bit per oldKeyHash of the keys seen so far
	set        map[string]struct{}
}

type oldKeyRec struct {
	off, n  int
	inArena bool
}

const oldLinearKeyLimit = 24

func (t *oldKeyTracker) reset() {
	t.frames = t.frames[:0]
	t.recs = t.recs[:0]
	t.arena = t.arena[:0]
}

func (t *oldKeyTracker) push() {
	t.frames = append(t.frames, oldKeyFrame{recStart: len(t.recs), arenaStart: len(t.arena)})
}

func (t *oldKeyTracker) pop() {
	f := &t.frames[len(t.frames)-1]
	t.recs = t.recs[:f.recStart]
	t.arena = t.arena[:f.arenaStart]
	f.set = nil
	t.frames = t.frames[:len(t.frames)-1]
}

// add registers the key st of the innermost object. It returns the bytes to
// compare names against with oldAsciiFoldEqual: the raw key when it is plain
// ASCII, otherwise its folded form. The slice is only valid until the next add.
func (t *oldKeyTracker) add(s *oldScanner, st str) ([]byte, error) {
	f := &t.frames[len(t.frames)-1]
	var key []byte
	rec := oldKeyRec{off: st.start, n: st.end - st.start}
	if st.flags == 0 {
		key = s.data[st.start:st.end]
	} else {
		off := len(t.arena)
		t.arena = oldAppendFolded(t.arena, s.text(st))
		key = t.arena[off:]
		rec = oldKeyRec{off: off, n: len(key), inArena: true}
	}
	if f.set != nil {
		s.buf = oldAppendFolded(s.buf[:0], key)
		k := string(s.buf)
		if _, dup := f.set[k]; dup {
			return nil, ErrDuplicateKey
		}
		f.set[k] = struct{}{}
		t.recs = append(t.recs, rec)
		return key, nil
	}
	bit := uint64(1) << oldKeyHash(key)
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
		if oldAsciiFoldEqual(other, key) {
			return nil, ErrDuplicateKey
		}
	}
	t.recs = append(t.recs, rec)
	if len(t.recs)-f.recStart > oldLinearKeyLimit {
		f.set = make(map[string]struct{}, 2*oldLinearKeyLimit)
		for _, r := range t.recs[f.recStart:] {
			var b []byte
			if r.inArena {
				b = t.arena[r.off : r.off+r.n]
			} else {
				b = s.data[r.off : r.off+r.n]
			}
			f.set[string(oldAppendFolded(nil, b))] = struct{}{}
		}
	}
	return key, nil
}

// oldKeyHash maps a key to 0..63 so that keys equal under oldAsciiFoldEqual (a raw
// ASCII key and the folded form of its twin) hash alike: it looks only at
// the length and at three bytes with the ASCII case bit cleared.
func oldKeyHash(k []byte) uint {
	n := len(k)
	if n == 0 {
		return 0
	}
	h := uint64(n) | uint64(k[0]&0xDF)<<8 | uint64(k[n-1]&0xDF)<<16 | uint64(k[n/2]&0xDF)<<24
	return uint((h * 0x9E3779B97F4A7C15) >> 58)
}

// oldAppendFolded appends the canonical case fold of b, exactly as encoding/json
// folds names: ASCII letters upper-cased, other runes mapped to the smallest
// rune of their simple-fold orbit. In the result no ASCII letter is lower case,
// so oldAsciiFoldEqual(raw ASCII key, folded key) is exact.
func oldAppendFolded(dst, b []byte) []byte {
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
		dst = utf8.AppendRune(dst, oldFoldRune(r))
		i += n
	}
	return dst
}

func oldFoldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// oldAsciiFoldEqual compares with ASCII case folding only.
func oldAsciiFoldEqual[T string | []byte](a []byte, b T) bool {
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

// oldKeyIs reports whether a key returned by nextKey names the element name
// (ASCII), under the same folding the duplicate check uses.
func oldKeyIs(key []byte, name string) bool { return oldAsciiFoldEqual(key, name) }
func oldAppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := oldHex4(raw, i+2)
			if utf16.IsSurrogate(r) {
				r2, _ := oldHex4(raw, i+8)
				dst = utf8.AppendRune(dst, utf16.DecodeRune(r, r2))
				i += 12
				continue
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}
