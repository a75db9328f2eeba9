package paging

import "testing"

func BenchmarkSeal(b *testing.B) {
	s := newSealer(b, newClock(), mustKey(b, testKeyText), nil)
	bind := testBinding()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Link(hapiNext, testOrigin, bind); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newSealer(b, newClock(), mustKey(b, testKeyText), nil)
	bind := testBinding()
	v, err := s.Seal(hapiNext, testOrigin, bind)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openURL(s, v, bind); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenTampered(b *testing.B) {
	s := newSealer(b, newClock(), mustKey(b, testKeyText), nil)
	bind := testBinding()
	v, _ := s.Seal(hapiNext, testOrigin, bind)
	// Flip one character of the tag: still base64, no longer authentic.
	last := byte('A')
	if v[len(v)-2] == 'A' {
		last = 'B'
	}
	bad := v[:len(v)-2] + string(last) + v[len(v)-1:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openURL(s, bad, bind); err != ErrInvalid {
			b.Fatal(err)
		}
	}
}
