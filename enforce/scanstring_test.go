package enforce

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"unsafe"
)

// The bytes the tests put at each position: the four classes indexSpecial
// flags, each at its edges, and plain bytes next to them.
var specialProbe = []byte{'"', '\\', 0x00, 0x1F, 0x20, 0x7F, 0x80, 0xFF, 0x21, 0x5B, 0x5D}

// withAVX2 runs fn with useAVX2 set to on, and restores it. Tests of this
// package do not run in parallel, so flipping the package switch is safe.
func withAVX2(on bool, fn func()) {
	saved := useAVX2
	useAVX2 = on
	defer func() { useAVX2 = saved }()
	fn()
}

// bothPaths runs fn through the pure-Go path and, where the CPU has it,
// the AVX2 one.
func bothPaths(t testing.TB, fn func(t testing.TB)) {
	withAVX2(false, func() { fn(t) })
	if cpuAVX2 {
		withAVX2(true, func() { fn(t) })
	}
}

// TestAVX2Choice: the default build runs the assembly wherever the CPU and
// OS can (the both-paths tests set useAVX2 themselves, so they pass with
// the switch stuck off), and only there: under GODEBUG=cpu.avx2=off, the
// operators' way to turn the assembly off without a rebuild, and which
// x/sys/cpu reads into HasAVX2 as it reads the OS's YMM support, a child
// run of this test must see it off (a check of another CPU flag, HasAVX
// say, would stay on).
func TestAVX2Choice(t *testing.T) {
	if useAVX2 != cpuAVX2 {
		t.Fatalf("useAVX2 %v, cpuAVX2 %v: the default must be the CPU's", useAVX2, cpuAVX2)
	}
	if os.Getenv("FHIR_PEP_TEST_AVX2_OFF") != "" {
		if cpuAVX2 {
			t.Fatal("GODEBUG=cpu.avx2=off, yet the assembly is chosen")
		}
		return
	}
	if !cpuAVX2 {
		t.Skip("no AVX2 assembly on this CPU or build")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAVX2Choice$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=cpu.avx2=off", "FHIR_PEP_TEST_AVX2_OFF=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child run with GODEBUG=cpu.avx2=off: %v\n%s", err, out)
	}
}

// uintptrOf is the address of b's first byte, to place test slices at a
// chosen alignment.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func needAVX2(t testing.TB) {
	if !cpuAVX2 {
		t.Skip("no AVX2 assembly on this CPU or build")
	}
}

// checkIndexSpecial compares the assembly with indexSpecialBlocks on b, and
// on a copy of b with 64 bytes of quotes in its spare capacity: the
// assembly must go by len, not cap (scanString's bodies often have spare
// capacity, pooled buffers with old bytes in it).
func checkIndexSpecial(t testing.TB, b []byte) {
	t.Helper()
	want := indexSpecialBlocks(b)
	if got := indexSpecialAVX2(b); got != want {
		t.Fatalf("len %d: indexSpecialAVX2 %d, indexSpecialBlocks %d\n%q", len(b), got, want, b)
	}
	spare := append(append(make([]byte, 0, len(b)+64), b...), repeatByte('"', 64)...)
	if got := indexSpecialAVX2(spare[:len(b)]); got != want {
		t.Fatalf("len %d, quotes past it in cap: indexSpecialAVX2 %d, indexSpecialBlocks %d\n%q", len(b), got, want, b)
	}
}

// TestIndexSpecialBlocksNaive pins the oracle itself to a byte loop.
func TestIndexSpecialBlocksNaive(t *testing.T) {
	for n := range 100 {
		for pos := range n + 1 {
			for _, c := range specialProbe {
				b := make([]byte, n)
				for i := range b {
					b[i] = 'a'
				}
				if pos < n {
					b[pos] = c
				}
				want := n &^ 31
				if pos < want && (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) {
					want = pos
				}
				if got := indexSpecialBlocks(b); got != want {
					t.Fatalf("len %d, %#x at %d: %d, want %d", n, c, pos, got, want)
				}
			}
		}
	}
}

// TestIndexSpecialAVX2Exhaustive: every length 0..300 at every offset
// 0..63 from a 64-byte aligned address, with each probe byte at every
// position (and also a second special byte after it, which must not win),
// on plain fillers; then every byte value at every position of a block.
func TestIndexSpecialAVX2Exhaustive(t *testing.T) {
	needAVX2(t)
	backing := make([]byte, 300+64+64)
	base := 64 - int(uintptrOf(backing)%64)
	for off := range 64 {
		for n := range 301 {
			b := backing[base+off : base+off+n : base+off+n]
			for i := range b {
				b[i] = "abcdefgh ~!#[]{}"[i%16]
			}
			checkIndexSpecial(t, b)
			// The expected index is known without a byte loop: the
			// filler is plain, so it is pos if that is special and in
			// a whole block, else the quote at pos+1 if that is in one,
			// else the end of the blocks.
			blocks := n &^ 31
			expect := func(pos int, c byte, quoteNext bool) int {
				switch {
				case pos < blocks && stringSpecial[c]:
					return pos
				case quoteNext && pos+1 < blocks:
					return pos + 1
				}
				return blocks
			}
			for pos := range n {
				for _, c := range specialProbe {
					b[pos] = c
					if got, want := indexSpecialAVX2(b), expect(pos, c, false); got != want {
						t.Fatalf("offset %d len %d, %#x at %d: %d, want %d", off, n, c, pos, got, want)
					}
					if pos+1 < n {
						keep := b[pos+1]
						b[pos+1] = '"'
						if got, want := indexSpecialAVX2(b), expect(pos, c, true); got != want {
							t.Fatalf("offset %d len %d, %#x at %d and a quote after: %d, want %d", off, n, c, pos, got, want)
						}
						b[pos+1] = keep
					}
				}
				b[pos] = "abcdefgh ~!#[]{}"[pos%16]
			}
		}
	}
	b := make([]byte, 96)
	for pos := range b {
		for c := range 256 {
			for i := range b {
				b[i] = 'x'
			}
			b[pos] = byte(c)
			checkIndexSpecial(t, b)
		}
	}
}

// TestIndexSpecialAVX2Random: random buffers with few special bytes, so
// that the first one lands anywhere.
func TestIndexSpecialAVX2Random(t *testing.T) {
	needAVX2(t)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(600))
		for i := range b {
			b[i] = byte(0x21 + r.IntN(0x7F-0x21))
		}
		for range r.IntN(4) {
			if len(b) > 0 {
				b[r.IntN(len(b))] = byte(r.IntN(256))
			}
		}
		checkIndexSpecial(t, b)
	}
}

func FuzzIndexSpecial(f *testing.F) {
	f.Add([]byte(`abcdefghijklmnopqrstuvwxyz0123456789"`), uint8(0))
	f.Add(make([]byte, 64), uint8(3))
	f.Add([]byte("<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\"><p><b>Generated Narrative</b></p></div>\xd7\x90"), uint8(5))
	f.Fuzz(func(t *testing.T, b []byte, off uint8) {
		needAVX2(t)
		o := int(off) % 64
		if o > len(b) {
			o = len(b)
		}
		checkIndexSpecial(t, b[o:])
	})
}

// TestScanStringBothPaths: scanString gives the same end and flags with
// and without the assembly, for strings with each special byte or
// sequence at every position past the first 16 bytes and after long plain
// runs, in bodies that end right after the string or run on.
func TestScanStringBothPaths(t *testing.T) {
	needAVX2(t)
	mids := []string{`\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\udc00`, `\x`, `\`, "\u05d0", "\u20ac", "\U0001F600",
		"\xc0\xaf", "\xed\xa0\x80", "\xff", "\x80", "\x01", "\x1f", "\t", "\x7f", `"`, ""}
	r := rand.New(rand.NewPCG(3, 4))
	for pos := range 200 {
		for _, mid := range mids {
			for _, tail := range []string{`"`, `"` + string(make([]byte, 40)), `","x":"` + string(repeatByte('y', 100)) + `"}`, ""} {
				prefix := repeatByte('a', pos)
				for i := range prefix {
					prefix[i] = byte(0x23 + r.IntN(0x5B-0x23)) // plain, no quote or backslash
				}
				body := append(append(append([]byte(nil), prefix...), mid...), repeatByte('b', r.IntN(90))...)
				body = append(body, tail...)
				compareScanString(t, body)
			}
		}
	}
}

func compareScanString(t testing.TB, body []byte) {
	t.Helper()
	for from := range min(len(body), 3) {
		var ge, we int
		var gf, wf uint8
		withAVX2(true, func() { ge, gf = scanString(body, from) })
		withAVX2(false, func() { we, wf = scanString(body, from) })
		if ge != we || gf != wf {
			t.Fatalf("scanString from %d: AVX2 %d %#x, pure Go %d %#x\n%q", from, ge, gf, we, wf, body)
		}
	}
}

func repeatByte(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// FuzzScanStringPaths: scanString through the assembly and the pure-Go
// loops agree on any input.
func FuzzScanStringPaths(f *testing.F) {
	f.Add([]byte(`abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"`))
	f.Add(stubNarrativeSearchset(1)[1000:])
	f.Fuzz(func(t *testing.T, body []byte) {
		needAVX2(t)
		compareScanString(t, body)
	})
}

// BenchmarkScanStringLen: scanString over plain strings of one length,
// with and without the assembly, in one process (so the two paths meet
// the same machine): where the call starts to pay.
func BenchmarkScanStringLen(b *testing.B) {
	for _, n := range []int{16, 24, 32, 40, 48, 64, 96, 128, 256, 1024} {
		// 64 strings of n plain bytes, each closed by a quote, then a
		// run of plain bytes, as a body goes on after a string.
		var body []byte
		for range 64 {
			body = append(body, repeatByte('a', n)...)
			body = append(body, '"', ',', '"')
		}
		body = append(body, repeatByte('z', 256)...)
		for _, path := range []struct {
			name string
			on   bool
		}{{"go", false}, {"avx2", true}} {
			if path.on && !cpuAVX2 {
				continue
			}
			b.Run(fmt.Sprintf("len=%d/%s", n, path.name), func(b *testing.B) {
				withAVX2(path.on, func() {
					b.SetBytes(int64(64 * n))
					for b.Loop() {
						for i := 0; i < 64*(n+3); i += n + 3 {
							if end, _ := scanString(body, i); end != i+n {
								b.Fatal(end)
							}
						}
					}
				})
			})
		}
	}
}
