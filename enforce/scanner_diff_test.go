package enforce

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// scanAPI is what the walkers (bundle.go, resource.go, facts.go) use of a
// scanner: if the live scanner and the frozen copy in
// scanner_oracle_test.go answer every call alike, with the same positions
// and the same keyStart/keyFlags/deepForeign, the check built on them
// decides alike.
type scanAPI interface {
	reset(data []byte, maxDepth int)
	skipValue() error
	atEnd() bool
	peek() byte
	openObject() error
	nextKey(first bool) ([]byte, bool, error)
	openArray() error
	nextElem(first bool) (bool, error)
	readStringValue() (str, bool, error)
	text(st str) []byte
	skipMember(key []byte) error
	eachMember(fn func(key []byte) error) error
	eachElem(fn func() error) error
	mark() mark
	rewind(m mark)
	setDeep(on bool, acc *Access)
	state() string
}

func (s *scanner) setDeep(on bool, acc *Access) { s.deep, s.acc = on, acc }
func (s *scanner) state() string {
	return fmt.Sprintf("pos=%d depth=%d keyStart=%d keyFlags=%d foreign=%v", s.pos, s.depth, s.keyStart, s.keyFlags, s.deepForeign)
}

func (s *oldScanner) setDeep(on bool, acc *Access) { s.deep, s.acc = on, acc }
func (s *oldScanner) state() string {
	return fmt.Sprintf("pos=%d depth=%d keyStart=%d keyFlags=%d foreign=%v", s.pos, s.depth, s.keyStart, s.keyFlags, s.deepForeign)
}

// scanTrace walks body with s, choosing at each value (from seed, so both
// scanners make the same choices) between the calls the walkers make, and
// records every answer.
func scanTrace(s scanAPI, acc *Access, body []byte, seed uint64, maxDepth int) []string {
	var trace []string
	failed := false
	// After the first error only that error is compared: every walker
	// returns it at once, and the scanner is reset before its next use, so
	// where a failed scan stopped is not part of the contract.
	rec := func(format string, args ...any) {
		if failed {
			return
		}
		for _, a := range args {
			if err, ok := a.(error); ok && err != nil {
				trace = append(trace, "error "+err.Error())
				failed = true
				return
			}
		}
		trace = append(trace, fmt.Sprintf(format, args...)+" | "+s.state())
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	var walk func(level int) error
	walk = func(level int) error {
		c := s.peek()
		rec("peek %q", c)
		choice := r.IntN(10)
		if level > 40 {
			choice = 9
		}
		switch {
		case c == '{' && choice < 4:
			if r.IntN(3) == 0 {
				s.setDeep(r.IntN(2) == 0, acc)
			}
			if err := s.openObject(); err != nil {
				rec("openObject %v", err)
				return err
			}
			for first := true; ; first = false {
				key, more, err := s.nextKey(first)
				rec("nextKey %q %v %v", key, more, err)
				if err != nil || !more {
					return err
				}
				switch r.IntN(4) {
				case 0:
					err = s.skipMember(key)
					rec("skipMember %v", err)
				case 1:
					// the facts pass: read ahead, rewind, read again
					m := s.mark()
					err = walk(level + 1)
					rec("lookahead %v", err)
					s.rewind(m)
					rec("rewind")
					if err == nil {
						err = walk(level + 1)
					}
				default:
					err = walk(level + 1)
				}
				if err != nil {
					return err
				}
			}
		case c == '{' && choice < 6:
			err := s.eachMember(func(key []byte) error {
				rec("member %q", key)
				return walk(level + 1)
			})
			rec("eachMember %v", err)
			return err
		case c == '[' && choice < 4:
			if err := s.openArray(); err != nil {
				rec("openArray %v", err)
				return err
			}
			for first := true; ; first = false {
				more, err := s.nextElem(first)
				rec("nextElem %v %v", more, err)
				if err != nil || !more {
					return err
				}
				if err := walk(level + 1); err != nil {
					return err
				}
			}
		case c == '[' && choice < 6:
			err := s.eachElem(func() error { return walk(level + 1) })
			rec("eachElem %v", err)
			return err
		case choice < 7:
			st, ok, err := s.readStringValue()
			if ok {
				rec("string %+v %q", st, s.text(st))
			} else {
				rec("not a string %v", err)
			}
			return err
		}
		err := s.skipValue()
		rec("skipValue %v", err)
		return err
	}
	s.reset(body, maxDepth)
	s.setDeep(seed%2 == 0, acc)
	err := walk(0)
	if err == nil {
		rec("atEnd %v", s.atEnd())
	}
	return trace
}

// diffScanners fails t where the two scanners part ways.
func diffScanners(t *testing.T, acc *Access, live *scanner, old *oldScanner, body []byte, seed uint64, maxDepth int) {
	t.Helper()
	got := scanTrace(live, acc, body, seed, maxDepth)
	want := scanTrace(old, acc, body, seed, maxDepth)
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("seed %d maxDepth %d: step %d\nlive %s\nold  %s\nbody %q", seed, maxDepth, i, g, w, body)
		}
	}
	// skipValue alone is the path most bytes take: compare it whole too.
	live.reset(body, maxDepth)
	old.reset(body, maxDepth)
	le, oe := live.skipValue(), old.skipValue()
	if le != oe || (le == nil && (live.pos != old.pos || live.depth != old.depth || live.atEnd() != old.atEnd())) {
		t.Fatalf("skipValue: live %v at %d, old %v at %d\nbody %q", le, live.pos, oe, old.pos, body)
	}
}

// scannerSeeds are the bodies the other fuzz targets start from, plus
// objects with many keys (the tracker's set mode) and near-duplicates.
func scannerSeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, b := range fixtureBodies(f) {
		out = append(out, b)
	}
	for _, s := range trickySeeds {
		out = append(out, []byte(s))
	}
	for seed := range uint64(20) {
		g := &gen{r: rand.New(rand.NewPCG(seed, 5)), pretty: seed%2 == 0}
		out = append(out, []byte(g.bundle()))
		_, res := (&gen{r: rand.New(rand.NewPCG(seed, 3))}).resource()
		out = append(out, []byte(res))
	}
	var many bytes.Buffer
	many.WriteString("{")
	for i := range 30 {
		fmt.Fprintf(&many, `"k%d":%d,`, i, i)
	}
	many.WriteString(`"K7":0}`)
	out = append(out, many.Bytes(), many.Bytes()[:many.Len()-7], []byte(`{"a":1,"b":{"ab":[1,{"A":2,"a":3}]}}`),
		[]byte(`{"abc":1,"aBc":2}`), []byte(`{"abcdefghi":1,"abcdefghj":2,"ABCDEFGHI":3}`), []byte(`{"\u0061":1,"A":2}`),
		[]byte(`{"ſ":1,"S":2}`), []byte(`{"K":1,"\u212a":2}`), []byte(` { "a" : [ 1 , 2.5e-3 , -0 , true , false , null , "x" ] } `),
		[]byte("{\"a\":\"\t\"}"), []byte(`{"a":01}`), []byte(`{"a":1.}`), []byte(`{"a":-}`), []byte(`[1,]`), []byte(`{"a":1,}`),
		stubSearchset(2), stubNarrativeSearchset(2))
	// Strings past the 16- and 32-byte rounds of scanString, with a
	// special byte or sequence late in them, for the mutator to move.
	long := strings.Repeat("abcdefgh", 9)
	for _, mid := range []string{`\"`, `\u00e9`, `\ud83d\ude00`, "\u05d0", "\xc0\xaf", "\x01", `\ud83d`} {
		out = append(out, []byte(`{"`+long+mid+`k":"`+long+mid+long+`","v":["`+long[:17]+mid+`"]}`))
	}
	return out
}

// FuzzScannerDifferential: the live scanner accepts, rejects (with the same
// error), positions and reports exactly as the frozen copy of the scanner
// from before the issue #13 speed work.
func FuzzScannerDifferential(f *testing.F) {
	for i, b := range scannerSeeds(f) {
		f.Add(b, uint64(i), uint8(DefaultMaxDepth))
		f.Add(b, uint64(i)*7+1, uint8(3+i%5))
	}
	acc := testAccess(f)
	var live scanner
	var old oldScanner
	f.Fuzz(func(t *testing.T, body []byte, seed uint64, maxDepth uint8) {
		// Through scanString's pure-Go loops and, on an AVX2 CPU, the
		// assembly (scanstring_amd64.s).
		bothPaths(t, func(testing.TB) { diffScanners(t, acc, &live, &old, body, seed, int(maxDepth)) })
	})
}

// TestScannerDifferentialBench runs the differential over the benchmark
// bodies (too big for fuzz seeds) with several walk choices.
func TestScannerDifferentialBench(t *testing.T) {
	acc := testAccess(t)
	var live scanner
	var old oldScanner
	for _, body := range [][]byte{stubSearchset(10), stubNarrativeSearchset(10), benchBundle(30, 1), benchBundle(30, 2)} {
		for seed := range uint64(3) {
			bothPaths(t, func(testing.TB) { diffScanners(t, acc, &live, &old, body, seed, DefaultMaxDepth) })
		}
	}
}
