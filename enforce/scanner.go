package enforce

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// scanner is a strict, validating, non-allocating JSON reader over a byte
// slice. It never builds a tree: callers walk the few members they need and
// skip every other value with skipValue, which still validates it completely
// (grammar, UTF-8, escapes, depth, duplicate keys). Every object the scanner
// enters, through any path, goes through keyTracker, so "duplicate keys
// anywhere" holds by construction.
type scanner struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
	keyStart int   // offset of the opening quote of the last key read
	keyFlags uint8 // str flags of the last key nextKey read
	keys     keyTracker
	// Deep scan (see work.resource): while deep is on, every "reference"
	// string met by skipObject or skipMember that names another patient
	// sets deepForeign. acc classifies the references.
	deep        bool
	deepForeign bool
	acc         *Access
	buf         []byte // scratch for decoded escaped strings
}

// str is a JSON string token: data[start:end] is the raw content between the quotes.
type str struct {
	start, end int
	flags      uint8
}

const (
	strEscaped  uint8 = 1 << iota // contains a backslash escape
	strNonASCII                   // contains bytes >= 0x80
)

func (s *scanner) reset(data []byte, maxDepth int) {
	s.data = data
	s.pos = 0
	s.depth = 0
	s.maxDepth = maxDepth
	s.keys.reset()
	s.buf = s.buf[:0]
	s.deep, s.deepForeign = false, false
}

// mark is a position to come back to (see rewind).
type mark struct {
	pos, depth, frames int
}

func (s *scanner) mark() mark {
	return mark{pos: s.pos, depth: s.depth, frames: len(s.keys.frames)}
}

// rewind returns to m, closing the objects opened since.
func (s *scanner) rewind(m mark) {
	for len(s.keys.frames) > m.frames {
		s.keys.pop()
	}
	s.pos = m.pos
	s.depth = m.depth
}

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (s *scanner) skipWS() { s.pos = skipSpace(s.data, s.pos) }

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipWS()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// atEnd reports whether only white space is left.
func (s *scanner) atEnd() bool {
	s.skipWS()
	return s.pos == len(s.data)
}

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// specialBytes returns a mask with the high bit set in every byte of x (read
// little-endian) that needs attention inside a string: '"', '\\', a control
// character, or a byte >= 0x80. For a byte below 0x80, adding 0x7F (or 0x60)
// sets its high bit without carrying into the next byte, so the flag of the
// lowest special byte is exact; bytes >= 0x80 may carry upwards, but they are
// flagged themselves and only bytes above them can be disturbed.
func specialBytes(x uint64) uint64 {
	return ^plainBytes(x) & swarHigh
}

// plainBytes is specialBytes before the inversion: the high bit of a byte
// is set in it when the byte needs no attention (bits below the high bits
// are noise). Several words' results can be and-ed, to test them at once.
func plainBytes(x uint64) uint64 {
	notQuote := (x ^ (swarOnes * '"')) + swarOnes*0x7F
	notBackslash := (x ^ (swarOnes * '\\')) + swarOnes*0x7F
	notControl := x + swarOnes*0x60
	return notQuote & notBackslash & notControl & ^x
}

// readString reads the string at s.pos (which must be '"') and validates it.
func (s *scanner) readString() (str, error) {
	// The one-word short cut of skipObjectAt, for the walkers' values.
	d, i := s.data, s.pos
	end, flags, from := -1, uint8(0), i+1
	if i+9 <= len(d) {
		m := specialBytes(binary.LittleEndian.Uint64(d[i+1:]))
		if m == 0 {
			from = i + 9
		} else if j := i + 1 + bits.TrailingZeros64(m)>>3; d[j] == '"' {
			end = j
		}
	}
	if end < 0 {
		if end, flags = scanString(d, from); end < 0 {
			return str{}, ErrSyntax
		}
	}
	st := str{start: s.pos + 1, end: end, flags: flags}
	s.pos = end + 1
	return st, nil
}

// scanString validates the content of a string from d[i] (just after the
// opening quote) and returns the index of the closing quote and the str
// flags, or -1. It works on a local index, not s.pos, so that the loop
// keeps it in a register: strings carry most of a body's bytes.
func scanString(d []byte, i int) (int, uint8) {
	var flags uint8
	for {
		// Two words per round while there is room, and once a string has
		// gone on for 16 bytes (narratives, URLs), four: one branch per
		// 32 bytes is cheaper than one per 8, but a short string would
		// pay for words past its end. plainBytes of the four words are
		// and-ed, so a round without a special byte costs one test.
		for i+16 <= len(d) {
			m := specialBytes(binary.LittleEndian.Uint64(d[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			m = specialBytes(binary.LittleEndian.Uint64(d[i+8:]))
			if m != 0 {
				i += 8 + bits.TrailingZeros64(m)>>3
				goto special
			}
			i += 16
			// With AVX2, the rest of a long string goes to the
			// assembly, 64 bytes per branch. It reads whole 32-byte
			// blocks of d only (d runs to the end of the body, not
			// of the string, so there is nearly always one); the
			// word loops below finish what is left.
			if useAVX2 && i+32 <= len(d) {
				n := (len(d) - i) &^ 31
				if j := indexSpecialAVX2(d[i:]); j < n {
					i += j
					goto special
				}
				i += n
				continue
			}
			for i+32 <= len(d) {
				w := d[i : i+32]
				p0 := plainBytes(binary.LittleEndian.Uint64(w[0:]))
				p1 := plainBytes(binary.LittleEndian.Uint64(w[8:]))
				p2 := plainBytes(binary.LittleEndian.Uint64(w[16:]))
				p3 := plainBytes(binary.LittleEndian.Uint64(w[24:]))
				if p0&p1&p2&p3&swarHigh != swarHigh {
					switch {
					case p0&swarHigh != swarHigh:
						i += bits.TrailingZeros64(^p0&swarHigh) >> 3
					case p1&swarHigh != swarHigh:
						i += 8 + bits.TrailingZeros64(^p1&swarHigh)>>3
					case p2&swarHigh != swarHigh:
						i += 16 + bits.TrailingZeros64(^p2&swarHigh)>>3
					default:
						i += 24 + bits.TrailingZeros64(^p3&swarHigh)>>3
					}
					goto special
				}
				i += 32
			}
		}
		for i+8 <= len(d) {
			m := specialBytes(binary.LittleEndian.Uint64(d[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(d) && !stringSpecial[d[i]] {
			i++
		}
		if i >= len(d) {
			return -1, 0
		}
	special:
		c := d[i]
		switch {
		case c == '"':
			return i, flags
		case c == '\\':
			flags |= strEscaped
			next, ok := validEscape(d, i)
			if !ok {
				return -1, 0
			}
			i = next
		case c < 0x20:
			return -1, 0
		case c >= utf8.RuneSelf:
			flags |= strNonASCII
			size := runeLen(d, i)
			if size == 0 {
				return -1, 0
			}
			i += size
			// Hebrew and Arabic text is 2-byte runes between spaces
			// and punctuation: going back to the word loops after each
			// rune costs about 30 instructions per letter. Stay in a
			// byte loop while the text is 2-byte runes and plain ASCII,
			// and leave it at anything else (a quote, an escape, a
			// control byte, a 3- or 4-byte or invalid sequence: the
			// code above decides those) or after 8 ASCII bytes in a row
			// (the word loops are faster on ASCII runs). C2..DF followed
			// by 80..BF is always valid UTF-8: no overlong form, no
			// surrogate, nothing above U+10FFFF.
			for ascii := 0; i+1 < len(d); {
				c := d[i]
				if c < utf8.RuneSelf {
					if stringSpecial[c] || ascii == 8 {
						break
					}
					ascii++
					i++
					continue
				}
				if c < 0xC2 || c > 0xDF || d[i+1]&0xC0 != 0x80 {
					break
				}
				ascii = 0
				i += 2
			}
		default:
			i++ // not reached: specialBytes and stringSpecial flag only the cases above
		}
	}
}

// indexSpecialBlocks is the contract of indexSpecialAVX2 in pure Go, the
// oracle of its tests: the index of the first byte of b that stringSpecial
// flags among the whole 32-byte blocks of b, or len(b)&^31 if there is none
// there. Bytes past the last whole block are not looked at.
func indexSpecialBlocks(b []byte) int {
	n := len(b) &^ 31
	for i, c := range b[:n] {
		if stringSpecial[c] {
			return i
		}
	}
	return n
}

// stringSpecial marks the bytes specialBytes flags, for the tail of a body
// shorter than a word.
var stringSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return t
}()

// runeLen returns the length of the valid UTF-8 sequence at d[i] (a byte
// >= 0x80), or 0 if it is invalid. Two-byte sequences (Hebrew, Arabic) are
// decoded inline; the rest goes to the standard decoder.
func runeLen(d []byte, i int) int {
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

// validEscape checks the escape sequence starting at d[i] == '\\' and returns
// the index after it. Lone or mismatched UTF-16 surrogates are rejected:
// decoders disagree on them (encoding/json turns them into U+FFFD, which
// would make distinct keys collide).
func validEscape(d []byte, i int) (int, bool) {
	if i+1 >= len(d) {
		return 0, false
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, true
	case 'u':
		r, ok := hex4(d, i+2)
		if !ok {
			return 0, false
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if i+12 > len(d) || d[i+6] != '\\' || d[i+7] != 'u' {
				return 0, false
			}
			r2, ok := hex4(d, i+8)
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

func hex4(d []byte, i int) (rune, bool) {
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
func (s *scanner) text(st str) []byte {
	raw := s.data[st.start:st.end]
	if st.flags&strEscaped == 0 {
		return raw
	}
	s.buf = appendUnescaped(s.buf[:0], raw)
	return s.buf
}

// scanNumber validates the number at d[i] and returns the index after it,
// or -1.
func scanNumber(d []byte, i int) int {
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return -1
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return -1
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
			return -1
		}
	}
	return i
}

// openObject consumes the '{' at s.pos.
func (s *scanner) openObject() error {
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
func (s *scanner) nextKey(first bool) ([]byte, bool, error) {
	// On a local index like skipObjectAt: the walkers read every key of
	// the resources and entries through here.
	d := s.data
	i := skipSpace(d, s.pos)
	if i >= len(d) {
		return nil, false, ErrSyntax
	}
	c := d[i]
	if c == '}' {
		s.pos = i + 1
		s.depth--
		s.keys.pop()
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, ErrSyntax
		}
		i = skipSpace(d, i+1)
		if i >= len(d) {
			return nil, false, ErrSyntax
		}
		c = d[i]
	}
	if c != '"' {
		return nil, false, ErrSyntax
	}
	s.keyStart = i
	// The one-word short cut of skipObjectAt, for the walkers' keys.
	end, flags, from := -1, uint8(0), i+1
	if i+9 <= len(d) {
		m := specialBytes(binary.LittleEndian.Uint64(d[i+1:]))
		if m == 0 {
			from = i + 9
		} else if j := i + 1 + bits.TrailingZeros64(m)>>3; d[j] == '"' {
			end = j
		}
	}
	if end < 0 {
		if end, flags = scanString(d, from); end < 0 {
			return nil, false, ErrSyntax
		}
	}
	s.keyFlags = flags
	// keyTracker.add's common case, inlined: a plain key of a small
	// object whose bloom bit is still clear cannot be a duplicate.
	key := d[i+1 : end]
	t := &s.keys
	var err error
	if f := &t.frames[len(t.frames)-1]; flags == 0 && f.set == nil && len(t.recs)-f.recStart < linearKeyLimit {
		if bit := uint64(1) << keyHash(key); f.bloom&bit == 0 {
			f.bloom |= bit
			t.recs = append(t.recs, keyRec{off: i + 1, n: len(key)})
			goto colon
		}
	}
	if key, err = t.add(s, str{start: i + 1, end: end, flags: flags}); err != nil {
		return nil, false, err
	}
colon:
	i = end + 1
	if i >= len(d) || d[i] != ':' {
		i = skipSpace(d, i)
		if i >= len(d) || d[i] != ':' {
			return nil, false, ErrSyntax
		}
	}
	s.pos = skipSpace(d, i+1)
	return key, true, nil
}

// openArray consumes the '[' at s.pos.
func (s *scanner) openArray() error {
	s.depth++
	if s.depth > s.maxDepth {
		return ErrTooDeep
	}
	s.pos++
	return nil
}

// nextElem moves to the next element of the array being read: true with
// s.pos at the element, or false once the closing bracket is consumed.
func (s *scanner) nextElem(first bool) (bool, error) {
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
func (s *scanner) skipValue() error {
	i, err := s.skipValueAt(s.pos)
	s.pos = i
	return err
}

// skipSpace returns the index of the first byte at or after i that is not
// white space. Compact JSON has none, so that case is one compare.
func skipSpace(d []byte, i int) int {
	if i < len(d) && d[i] > ' ' {
		return i
	}
	for i < len(d) && isSpace[d[i]] {
		i++
	}
	return i
}

// The literals as little-endian words, to compare four bytes at once.
const (
	wordTrue = uint32('t') | uint32('r')<<8 | uint32('u')<<16 | uint32('e')<<24
	wordAlse = uint32('a') | uint32('l')<<8 | uint32('s')<<16 | uint32('e')<<24
	wordNull = uint32('n') | uint32('u')<<8 | uint32('l')<<16 | uint32('l')<<24
)

// skipValueAt is skipValue on a local index: the skip functions pass the
// position as an argument and result instead of through s.pos, so that it
// stays in a register across the loops that carry most of a body's bytes.
// s.pos is only meaningful again once skipValue returns.
func (s *scanner) skipValueAt(i int) (int, error) {
	d := s.data
	i = skipSpace(d, i)
	if i >= len(d) {
		return i, ErrSyntax
	}
	switch d[i] {
	case '"':
		// The short cut of the keys in skipObjectAt: most values are
		// short strings too.
		from := i + 1
		if i+9 <= len(d) {
			m := specialBytes(binary.LittleEndian.Uint64(d[i+1:]))
			if m == 0 {
				from = i + 9 // a plain word: scanString goes on after it
			} else if j := i + 1 + bits.TrailingZeros64(m)>>3; d[j] == '"' {
				return j + 1, nil
			}
		}
		end, _ := scanString(d, from)
		if end < 0 {
			return i, ErrSyntax
		}
		return end + 1, nil
	case '{':
		return s.skipObjectAt(i)
	case '[':
		return s.skipArrayAt(i)
	case 't':
		if i+4 <= len(d) && binary.LittleEndian.Uint32(d[i:]) == wordTrue {
			return i + 4, nil
		}
		return i, ErrSyntax
	case 'f':
		if i+5 <= len(d) && binary.LittleEndian.Uint32(d[i+1:]) == wordAlse {
			return i + 5, nil
		}
		return i, ErrSyntax
	case 'n':
		if i+4 <= len(d) && binary.LittleEndian.Uint32(d[i:]) == wordNull {
			return i + 4, nil
		}
		return i, ErrSyntax
	default:
		end := scanNumber(d, i)
		if end < 0 {
			return i, ErrSyntax
		}
		return end, nil
	}
}

// smallKeyLimit is how many keys an object skipped by skipObjectAt may
// have before its duplicate check moves to keyTracker. FHIR objects
// mostly have fewer; for them the keys are compared directly, with no
// hashing and no tracker frame.
const smallKeyLimit = 8

// An object's small keys are packed offset and length in one word, which
// halves the stack array skipObjectAt zeroes per object. A longer key, or
// one at an offset that does not fit (past 2^44 bytes, beyond any body
// limit), goes to keyTracker.
const (
	smallKeyLenBits = 20
	smallKeyMaxLen  = 1<<smallKeyLenBits - 1
)

// skipObjectAt is skipValueAt for the object at d[i] == '{'. It does what
// openObject and nextKey do, inlined. Its duplicate check is keyTracker's,
// short cut: while all keys are plain ASCII (str flags 0, so keyTracker
// would compare them raw with asciiFoldEqual) and there are at most
// smallKeyLimit, each new key is compared with asciiFoldEqual against the
// earlier ones of the same length, kept on the stack. The first key with
// escapes or non-ASCII bytes, or one key too many, opens a keyTracker frame
// holding the keys so far, and keyTracker decides from then on.
func (s *scanner) skipObjectAt(i int) (int, error) {
	s.depth++
	if s.depth > s.maxDepth {
		return i, ErrTooDeep
	}
	d := s.data
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == '}' {
		s.depth--
		return i + 1, nil
	}
	var (
		keys    [smallKeyLimit]uint64 // offset<<smallKeyLenBits | length
		lens    uint64                // bit len%64 set for the length of each of keys
		n       int
		tracked bool
		err     error
	)
	for {
		if i >= len(d) || d[i] != '"' {
			return i, ErrSyntax
		}
		s.keyStart = i
		end, flags, from := -1, uint8(0), i+1
		// Most keys are shorter than a word: for them one word answers,
		// without the call to scanString. Only a word whose first special
		// byte is the closing quote takes the short cut; everything else,
		// escapes and non-ASCII bytes included, is scanString's.
		if i+9 <= len(d) {
			m := specialBytes(binary.LittleEndian.Uint64(d[i+1:]))
			if m == 0 {
				from = i + 9 // a plain word: scanString goes on after it
			} else if j := i + 1 + bits.TrailingZeros64(m)>>3; d[j] == '"' {
				end = j
			}
		}
		if end < 0 {
			if end, flags = scanString(d, from); end < 0 {
				return i, ErrSyntax
			}
		}
		key := d[i+1 : end]
		switch {
		case !tracked && flags == 0 && n < smallKeyLimit && len(key) <= smallKeyMaxLen && uint64(i) < 1<<(64-smallKeyLenBits-1):
			// Keys of one object mostly differ in length: only when an
			// earlier key may have this one's length are they compared.
			if bit := uint64(1) << (len(key) & 63); lens&bit == 0 {
				lens |= bit
			} else {
				for _, k := range keys[:n] {
					if int(k&smallKeyMaxLen) == len(key) {
						off := int(k >> smallKeyLenBits)
						if asciiFoldEqual(d[off:off+len(key)], key) {
							return i, ErrDuplicateKey
						}
					}
				}
			}
			keys[n] = uint64(i+1)<<smallKeyLenBits | uint64(len(key))
			n++
		default:
			if !tracked {
				s.keys.push()
				for _, k := range keys[:n] {
					off, kn := int(k>>smallKeyLenBits), int(k&smallKeyMaxLen)
					s.keys.addKnown(d[off:off+kn], off)
				}
				tracked = true
			}
			if key, err = s.keys.add(s, str{start: i + 1, end: end, flags: flags}); err != nil {
				return i, err
			}
		}
		i = end + 1
		if i >= len(d) || d[i] != ':' {
			i = skipSpace(d, i)
			if i >= len(d) || d[i] != ':' {
				return i, ErrSyntax
			}
		}
		i++
		if s.deep && keyIs(key, "reference") {
			s.pos = i
			err = s.deepReference()
			i = s.pos
		} else {
			i, err = s.skipValueAt(i)
		}
		if err != nil {
			return i, err
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, ErrSyntax
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			s.depth--
			if tracked {
				s.keys.pop()
			}
			return i + 1, nil
		default:
			return i, ErrSyntax
		}
	}
}

// skipArrayAt is skipValueAt for the array at d[i] == '['.
func (s *scanner) skipArrayAt(i int) (int, error) {
	s.depth++
	if s.depth > s.maxDepth {
		return i, ErrTooDeep
	}
	d := s.data
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == ']' {
		s.depth--
		return i + 1, nil
	}
	for {
		var err error
		if i, err = s.skipValueAt(i); err != nil {
			return i, err
		}
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, ErrSyntax
		}
		switch d[i] {
		case ',':
			i++
		case ']':
			s.depth--
			return i + 1, nil
		default:
			return i, ErrSyntax
		}
	}
}

// readStringValue reads a string if one is next; ok is false (and the value is
// skipped) for any other JSON type.
func (s *scanner) readStringValue() (st str, ok bool, err error) {
	if s.peek() != '"' {
		return str{}, false, s.skipValue()
	}
	st, err = s.readString()
	return st, err == nil, err
}

// skipMember skips the value of the member key, unless a deep scan is on
// and key is "reference": for walkers that read members themselves.
func (s *scanner) skipMember(key []byte) error {
	if s.deep && keyIs(key, "reference") {
		return s.deepReference()
	}
	return s.skipValue()
}

func (s *scanner) deepReference() error {
	st, ok, err := s.readStringValue()
	if err == nil && ok && s.acc.classify(s.text(st)) == refForeign {
		s.deepForeign = true
	}
	return err
}

// eachElem calls fn with s.pos at each element of the array at s.pos; fn
// must read or skip the element. Any other value is skipped, as walkers
// ignore members of an unexpected type. The first error stops the walk.
func (s *scanner) eachElem(fn func() error) error {
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
func (s *scanner) eachMember(fn func(key []byte) error) error {
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
