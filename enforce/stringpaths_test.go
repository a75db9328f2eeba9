package enforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// stringProbes are the byte sequences the string paths treat specially:
// the closing quote, every escape form (valid, bad, surrogate pairs and
// lone halves), every single byte value, and UTF-8 sequences valid,
// overlong, surrogate, out of range and cut short.
func stringProbes() [][]byte {
	probes := [][]byte{
		[]byte(`\"`), []byte(`\\`), []byte(`\/`), []byte(`\n`), []byte(`\u00e9`), []byte(`\u0022`),
		[]byte(`\ud83d\ude00`), []byte(`\ud83d`), []byte(`\ude00`), []byte(`\ud83d\u0041`), []byte(`\x`), []byte(`\u12`),
		{0xC2, 0xA9}, {0xD7, 0x90}, {0xE2, 0x82, 0xAC}, {0xF0, 0x9F, 0x98, 0x80},
		{0xC0, 0xAF}, {0xC1, 0xBF}, {0xE0, 0x80, 0xAF}, {0xF0, 0x80, 0x80, 0xAF},
		{0xED, 0xA0, 0x80}, {0xF4, 0x90, 0x80, 0x80}, {0xC2}, {0xE2, 0x82}, {0xF0, 0x9F, 0x98},
	}
	for c := range 256 {
		probes = append(probes, []byte{byte(c)})
	}
	return probes
}

// TestStringPathsEveryOffset puts each probe at every offset of plain
// strings up to 70 bytes, at several alignments, as a value, as a key
// and as a whole body, and compares the live scanner (the one-word short
// cut of skipObjectAt/skipValueAt, scanString's rounds of 16 and 32
// bytes and its tail) with the frozen scanner of scanner_oracle_test.go:
// same acceptance, same error, same end. Whatever either accepts must be
// JSON that encoding/json accepts too.
func TestStringPathsEveryOffset(t *testing.T) {
	const filler = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.:;<>/"
	var live scanner
	var old oldScanner
	var body []byte
	// Every length up to three rounds of 16, then the lengths around
	// the 32-byte rounds' ends.
	var lengths []int
	for l := range 49 {
		lengths = append(lengths, l)
	}
	lengths = append(lengths, 63, 64, 65, len(filler))
	// Single bytes at fewer lengths: up to one round past a word, and
	// around the rounds' ends.
	short := []int{31, 32, 33, 47, 48, 63, 64}
	for l := range 18 {
		short = append(short, l)
	}
	n := 0
	for _, probe := range stringProbes() {
		ls := lengths
		if len(probe) == 1 {
			ls = short
		}
		for _, l := range ls {
			for p := 0; p <= l; p++ {
				for _, pad := range []int{0, 3} {
					for form := range 3 {
						body = body[:0]
						for range pad {
							body = append(body, ' ')
						}
						switch form {
						case 0:
							body = append(body, `{"k":"`...)
						case 1:
							body = append(body, `{"`...)
						case 2:
							body = append(body, `"`...)
						}
						body = append(body, filler[:p]...)
						body = append(body, probe...)
						body = append(body, filler[p:l]...)
						switch form {
						case 0:
							body = append(body, `","x":[true,"`...)
							body = append(body, filler[:l]...)
							body = append(body, `"]}`...)
						case 1:
							body = append(body, `":1,"`...)
							body = append(body, filler[:l]...)
							body = append(body, `":2}`...)
						case 2:
							body = append(body, '"')
						}
						compareSkip(t, &live, &old, body)
						n++
					}
				}
			}
		}
	}
	t.Logf("%d bodies", n)
}

func compareSkip(t *testing.T, live *scanner, old *oldScanner, body []byte) {
	t.Helper()
	live.reset(body, DefaultMaxDepth)
	old.reset(body, DefaultMaxDepth)
	le, oe := live.skipValue(), old.skipValue()
	if le != oe || (le == nil && (live.pos != old.pos || live.atEnd() != old.atEnd())) {
		t.Fatalf("skipValue: live %v at %d, old %v at %d\nbody %q", le, live.pos, oe, old.pos, body)
	}
	if le == nil && live.atEnd() && !json.Valid(body) {
		t.Fatalf("accepted, but encoding/json rejects it: %q", body)
	}
	// The walkers' string reads: the same body through readStringValue
	// or nextKey, as the walkers meet it.
	live.reset(body, DefaultMaxDepth)
	old.reset(body, DefaultMaxDepth)
	if got, want := readFirstString(live), readFirstString(old); got != want {
		t.Fatalf("first string: live %s, old %s\nbody %q", got, want, body)
	}
}

// readFirstString reads the body's string, or its object's first key and
// value, through the calls the walkers make.
func readFirstString(s scanAPI) string {
	if s.peek() != '{' {
		st, ok, err := s.readStringValue()
		return fmt.Sprint(st, ok, err)
	}
	if err := s.openObject(); err != nil {
		return err.Error()
	}
	key, more, err := s.nextKey(true)
	if err != nil || !more {
		return fmt.Sprint(more, err)
	}
	k := string(key)
	st, ok, err := s.readStringValue()
	if err != nil {
		// Where a failed scan stopped is not part of the contract (see
		// scanTrace): only the error is.
		return fmt.Sprint(k, err)
	}
	return fmt.Sprint(k, st, ok, s.state())
}

// TestSkipDuplicateKeys covers skipObjectAt's length mask in front of its
// duplicate check: keys whose lengths share a bit (len%64), keys of one
// length that differ, case twins, and twins spelled with escapes or past
// the small-key limit, against the frozen scanner and the expected error.
func TestSkipDuplicateKeys(t *testing.T) {
	k65 := strings.Repeat("k", 65)
	tests := []struct {
		name string
		body string
		want error
	}{
		{"lengths 1 and 65 share a mask bit", `{"k":1,"` + k65 + `":2}`, nil},
		{"same length, different keys", `{"code":1,"unit":2,"meta":3,"text":4}`, nil},
		{"case twin", `{"code":1,"unit":2,"CODE":3}`, ErrDuplicateKey},
		{"twin after a same-length key", `{"unit":1,"code":2,"cOde":3}`, ErrDuplicateKey},
		{"long twin", `{"` + k65 + `":1,"k":2,"` + strings.ToUpper(k65) + `":3}`, ErrDuplicateKey},
		{"escaped twin", `{"code":1,"c\u006fde":2}`, ErrDuplicateKey},
		{"twin past the small-key limit", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"A":10}`, ErrDuplicateKey},
		{"nested objects keep their own keys", `{"a":{"a":1,"b":{"a":2}},"b":[{"a":1},{"a":2}]}`, nil},
		{"twin in a nested object", `{"a":{"b":1,"c":{"d":1,"D":2}}}`, ErrDuplicateKey},
	}
	var live scanner
	var old oldScanner
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			live.reset(body, DefaultMaxDepth)
			if err := live.skipValue(); !errors.Is(err, tt.want) || (err == nil && !live.atEnd()) {
				t.Fatalf("skipValue = %v, want %v", err, tt.want)
			}
			compareSkip(t, &live, &old, body)
		})
	}
}
