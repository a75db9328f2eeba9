package enforce

import (
	"math/rand/v2"
	"testing"
)

// runePieces are what the 2-byte rune loop of scanString meets in Hebrew
// or Arabic text, and every way out of it: ASCII, escapes, the closing
// quote, control bytes, valid 3- and 4-byte runes, and invalid UTF-8
// (overlong, surrogate, above U+10FFFF, lone or missing continuation
// bytes).
var runePieces = []string{
	"א", "ב", "ש", "ת", "ع", "ß", "\u0080", "\u07ff", // 2-byte runes: D7 90, D7 91, D7 A9, D7 AA, D8 B9, C3 9F, C2 80, DF BF
	"a", "Z", "0", " ", ".", ";", "<b>", "\x7f", "abcdefgh", "abcdefghi", // ASCII, below and above the loop's 8-byte limit
	`\"`, `\\`, `\n`, `\u05d0`, `\ud83d\ude00`, `\x`, `\`, // escapes, good and bad
	`"`, "\x00", "\x01", "\x1f", "\t", // the closing quote, control bytes
	"\u20ac", "\u0800", "\uffff", "\U0001F600", "\U0010FFFF", // valid 3- and 4-byte runes
	"\xd7", "\xd7\xd7", "\xd7A", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", // cut-off, overlong
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xbf", "\xfe", "\xff", // surrogate, too big, lone continuation, never valid
}

// TestScanStringTwoByteRuns compares scanString, through both paths, with
// the frozen scanner's readString (scanner_oracle_test.go), which takes
// every rune one by one, on random strings of runePieces: open or closed,
// ending the body or followed by more.
func TestScanStringTwoByteRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tails := []string{"", `"`, `","x":1}`, `"` + string(repeatByte('y', 40))}
	for range 60000 {
		body := []byte{'"'}
		for range r.IntN(48) {
			body = append(body, runePieces[r.IntN(len(runePieces))]...)
		}
		body = append(body, tails[r.IntN(len(tails))]...)
		checkScanStringOracle(t, body)
	}
	// Every cut of one Hebrew sentence: a rune split by the end of the body
	// must be refused, as the frozen scanner refuses it.
	sentence := []byte(`"הדגימה נלקחה במרפאה הקהילתית; ערך: 13.2 g/dL, תקין."`)
	for n := 1; n <= len(sentence); n++ {
		checkScanStringOracle(t, sentence[:n])
	}
}

// FuzzScanStringRunes is TestScanStringTwoByteRuns on any bytes.
func FuzzScanStringRunes(f *testing.F) {
	f.Add([]byte(`הדגימה נלקחה במרפאה הקהילתית ונבדקה במעבדה המרכזית של הקופה."`))
	f.Add([]byte("\u05d0\u05d1 \xd7\"x"))
	f.Add([]byte("שלום\xed\xa0\x80עולם\""))
	f.Add([]byte("عربي abcdefghij עברית\\u05d0\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanStringOracle(t, append([]byte{'"'}, data...))
	})
}

// checkScanStringOracle checks scanString on the string that opens body
// against the frozen scanner's readString: the same end and flags, or
// both refuse it.
func checkScanStringOracle(t testing.TB, body []byte) {
	t.Helper()
	var old oldScanner
	old.reset(body, DefaultMaxDepth)
	want, werr := old.readString()
	bothPaths(t, func(t testing.TB) {
		end, flags := scanString(body, 1)
		switch {
		case werr != nil && end >= 0:
			t.Fatalf("scanString accepts a string the frozen scanner refuses (%v): end %d\n%q", werr, end, body)
		case werr == nil && (end != want.end || flags != want.flags):
			t.Fatalf("scanString: end %d flags %#x, frozen scanner: end %d flags %#x\n%q", end, flags, want.end, want.flags, body)
		}
	})
}
