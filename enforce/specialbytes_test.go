package enforce

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// TestSpecialBytesLowest checks specialBytes against a byte loop: the
// lowest flagged byte is the first special one, for words of one special
// byte at each position among every plain filler, and words of two.
func TestSpecialBytesLowest(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	check := func(w [8]byte) {
		x := binary.LittleEndian.Uint64(w[:])
		want := 8
		for i, c := range w {
			if special(c) {
				want = i
				break
			}
		}
		got := 8
		if m := specialBytes(x); m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != want {
			t.Fatalf("%q: first special byte at %d, specialBytes says %d", w, want, got)
		}
	}
	for c := range 256 {
		for pos := range 8 {
			for _, fill := range []byte{' ', 'a', '~', '!', '#', '[', ']', 0x7f} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
				for c2 := range 256 {
					if pos < 7 {
						w2 := w
						w2[pos+1] = byte(c2)
						check(w2)
					}
				}
			}
		}
	}
}
