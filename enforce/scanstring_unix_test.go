//go:build unix

package enforce

import (
	"testing"

	"golang.org/x/sys/unix"
)

// guardedTail returns a slice of n bytes that ends exactly where a
// PROT_NONE page starts: reading one byte past its end faults. It uses
// x/sys/unix, not syscall: syscall has Mprotect on Linux and Darwin only,
// and this file builds on every unix (FreeBSD, OpenBSD, Solaris...).
func guardedTail(t testing.TB, n int) ([]byte, func()) {
	t.Helper()
	page := unix.Getpagesize()
	size := (n/page + 2) * page
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	if err := unix.Mprotect(m[size-page:], unix.PROT_NONE); err != nil {
		unix.Munmap(m)
		t.Skipf("mprotect: %v", err)
	}
	end := size - page
	return m[end-n : end : end], func() { unix.Munmap(m) }
}

// TestIndexSpecialAVX2PageEnd: the assembly never reads past the end of
// its slice. Every length up to 300 ends at a guard page, plain (so the
// whole blocks are read up to the end) and with a special byte last.
func TestIndexSpecialAVX2PageEnd(t *testing.T) {
	needAVX2(t)
	for n := range 301 {
		b, free := guardedTail(t, n)
		for i := range b {
			b[i] = 'p'
		}
		checkIndexSpecial(t, b)
		if n > 0 {
			b[n-1] = '"'
			checkIndexSpecial(t, b)
		}
		free()
	}
}

// TestScanStringPageEnd: scanString and the scanner over bodies ending at a
// guard page, through both paths: unterminated strings of every length
// (the scan runs to the end of the body), and ones whose closing quote, an
// escape or a multi-byte rune is the last thing in it.
func TestScanStringPageEnd(t *testing.T) {
	for n := range 300 {
		for _, last := range []string{"", `"`, `\"`, `\`, "\u05d0", "\xd7", `\u00e9`, `\u00e`} {
			src := append(append([]byte{'"'}, repeatByte('q', n)...), last...)
			b, free := guardedTail(t, len(src))
			copy(b, src)
			bothPaths(t, func(t testing.TB) {
				scanString(b, 1)
				_ = validate(b)
			})
			if cpuAVX2 {
				compareScanString(t, b)
			}
			free()
		}
	}
}
