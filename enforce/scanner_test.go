package enforce

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

func validate(b []byte) error {
	var s scanner
	s.reset(b, 64)
	if err := s.skipValue(); err != nil {
		return err
	}
	if !s.atEnd() {
		return ErrSyntax
	}
	return nil
}

// The scanner accepts a subset of what encoding/json accepts; it is only
// stricter about duplicate keys, invalid UTF-8 and lone surrogates.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	corpus := []string{
		`0`, `-0`, `-0.0e+0`, `1E9`, `1e-9`, `123456789012345678901234567890`, `true`, `false`, `null`,
		`""`, `"\"\\\/\b\f\n\r\t\u0000\uffff"`, `"\ud83d\ude00"`, `"é"`, `"日本"`, `"😀"`,
		`[]`, `[ ]`, `[1,2,3]`, `{"a":[{"b":{}}]}`, " \t\r\n{ \"a\" : 1 , \"b\" : [ ] } \n",
		`{"a":1,"b":2}`, `{"":1}`, `{"a":{"a":{"a":1}}}`,
		`[1,]`, `[,1]`, `{"a":1,}`, `{,"a":1}`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{1:1}`, `[1 2]`,
		`01`, `1.`, `.1`, `-`, `--1`, `1e`, `1e+`, `+1`, `0x1`, `Infinity`, `NaN`, `tru`, `nul`, `falsey`,
		`"abc`, `"\x"`, `"\u12g4"`, "\"a\tb\"", "\"\x7f\"", `'a'`, `[`, `]`, `{`, `}`, ``, ` `,
	}
	for _, c := range corpus {
		err := validate([]byte(c))
		if (err == nil) != json.Valid([]byte(c)) {
			t.Errorf("%q: scanner %v, encoding/json %v", c, err, json.Valid([]byte(c)))
		}
	}
	stricter := []string{`{"a":1,"a":2}`, `{"a":1,"A":2}`, `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, "\"\xff\"", "\"\xed\xa0\x80\""}
	for _, c := range stricter {
		if err := validate([]byte(c)); err == nil {
			t.Errorf("%q accepted", c)
		}
	}
}

// specialBytes must flag exactly the first byte that a byte-by-byte check flags.
func TestSpecialBytes(t *testing.T) {
	naive := func(b []byte) int {
		for i, c := range b {
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return 8
	}
	r := rand.New(rand.NewPCG(1, 2))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xa0, 0xff, 'a'}
	var buf [8]byte
	for range 200000 {
		for i := range buf {
			if r.IntN(3) == 0 {
				buf[i] = interesting[r.IntN(len(interesting))]
			} else {
				buf[i] = byte(r.IntN(256))
			}
		}
		m := specialBytes(binary.LittleEndian.Uint64(buf[:]))
		got := 8
		if m != 0 {
			got = bitsTrailing(m) / 8
		}
		if want := naive(buf[:]); got != want {
			t.Fatalf("%x: got %d, want %d", buf, got, want)
		}
	}
}

func bitsTrailing(m uint64) int {
	n := 0
	for m&1 == 0 {
		m >>= 1
		n++
	}
	return n
}

// The duplicate check's fold must equal bytes.EqualFold, as encoding/json uses.
func TestFoldMatchesEqualFold(t *testing.T) {
	words := []string{"subject", "Subject", "SUBJECT", "ſubject", "ſUBJECT", "k", "K", "\u212a", "s", "ſ", "é", "É", "ß", "ẞ", "Σ", "σ", "ς", "id", "İd", "ıd", "a_b", "A_B", "a@", "a`", "{", "["}
	for _, x := range words {
		for _, y := range words {
			want := bytes.EqualFold([]byte(x), []byte(y))
			fx, fy := appendFolded(nil, []byte(x)), appendFolded(nil, []byte(y))
			if got := bytes.Equal(fx, fy); got != want {
				t.Errorf("%q %q: fold %v, EqualFold %v", x, y, got, want)
			}
			if isASCII(x) {
				if got := asciiFoldEqual([]byte(x), fy); got != want {
					t.Errorf("%q raw vs %q folded: %v, EqualFold %v", x, y, got, want)
				}
				if got := keyHash([]byte(x)) == keyHash(fy); want && !got {
					t.Errorf("%q %q: equal keys hash differently", x, y)
				}
			}
			body := `{"` + x + `":1,"` + y + `":2}`
			err := validate([]byte(body))
			if x != y && want != errors.Is(err, ErrDuplicateKey) {
				t.Errorf("%s: %v", body, err)
			}
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func TestStringCodec(t *testing.T) {
	inputs := []string{"", "plain", `q"uote`, `back\slash`, "tab\tnl\ncr\r", "\x00\x01\x1f", "עברית", "😀", "</script>", "\u2028"}
	for _, in := range inputs {
		enc := append(appendJSONStringBody([]byte{'"'}, in), '"')
		var back string
		if err := json.Unmarshal(enc, &back); err != nil || back != in {
			t.Errorf("%q: encoded %s, decoded %q %v", in, enc, back, err)
		}
		var s scanner
		s.reset(enc, 8)
		st, err := s.readString()
		if err != nil || string(s.text(st)) != in {
			t.Errorf("%q: scanner read %q %v", in, s.text(st), err)
		}
		std, _ := json.Marshal(in)
		s.reset(std, 8)
		st, err = s.readString()
		if err != nil || string(s.text(st)) != in {
			t.Errorf("%q: scanner read encoding/json's %s as %q %v", in, std, s.text(st), err)
		}
	}
}
