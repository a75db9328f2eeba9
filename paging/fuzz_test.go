package paging

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// FuzzOpen: Open never panics, accepts only the exact values Seal produced,
// and a modified blob is never accepted.
func FuzzOpen(f *testing.F) {
	clock := newClock()
	s := newSealer(f, clock, mustKey(f, testKeyText), nil)
	// Fuzz workers are separate processes that each run this setup: a
	// fixed nonce makes every worker seal the same good blob.
	s.nonces = zeroReader{}
	good, err := s.Seal(hapiNext, testOrigin, testBinding())
	if err != nil {
		f.Fatal(err)
	}
	goodBlob, _ := base64.RawURLEncoding.DecodeString(good)
	f.Add(good)
	f.Add("")
	f.Add(good[:len(good)-1])
	f.Add(good + "A")
	f.Add("AQ" + good[2:])
	f.Fuzz(func(t *testing.T, v string) {
		got, err := openURL(s, v, testBinding())
		if err == nil {
			// Only an authentic blob opens; under a fixed key that means one
			// whose decoded bytes are exactly a sealed blob. The only one
			// sealed in this test is good.
			blob, derr := base64.RawURLEncoding.Strict().DecodeString(v)
			if derr != nil || !bytes.Equal(blob, goodBlob) || got != hapiNext {
				t.Fatalf("Open accepted %q -> %q", v, got)
			}
			return
		}
		if err != ErrInvalid && err != ErrBindingMismatch && err != ErrExpired {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzOpenMutation flips arbitrary bytes of a genuine blob: never accepted.
func FuzzOpenMutation(f *testing.F) {
	s := newSealer(f, newClock(), mustKey(f, testKeyText), nil)
	good, _ := s.Seal(hapiNext, testOrigin, testBinding())
	blob, _ := base64.RawURLEncoding.DecodeString(good)
	f.Add(uint16(0), byte(1))
	f.Add(uint16(1), byte(0x80))
	f.Add(uint16(len(blob)-1), byte(0xff))
	f.Fuzz(func(t *testing.T, pos uint16, mask byte) {
		if mask == 0 {
			return
		}
		c := append([]byte(nil), blob...)
		c[int(pos)%len(c)] ^= mask
		if got, err := openURL(s, base64.RawURLEncoding.EncodeToString(c), testBinding()); err != ErrInvalid {
			t.Fatalf("modified blob: %q, %v", got, err)
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
