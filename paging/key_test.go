package paging

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name, text string
		ok         bool
	}{
		{"base64 std", base64.StdEncoding.EncodeToString(raw), true},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(append(raw, 0xfb, 0xff)), true},
		{"hex", hex.EncodeToString(raw), true},
		{"with white space", "\n  " + hex.EncodeToString(raw) + "  \r\n", true},
		{"64 bytes", base64.StdEncoding.EncodeToString(append(raw, raw...)), true},
		{"too short", base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"empty", "", false},
		{"not encoded", "this is a passphrase, not a key!!!!!!!!!!!!!!!!!!!!", false},
		{"raw bytes", string(raw[:16]) + "\x00\x01" + string(raw), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey([]byte(tc.text))
			if tc.ok != (err == nil) {
				t.Fatalf("ParseKey error = %v, ok want %v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), tc.text) && tc.text != "" {
				t.Fatalf("error shows the key text: %v", err)
			}
			if err == nil && k.aead == nil {
				t.Fatal("no AEAD")
			}
		})
	}
	// The same key in two encodings is one key.
	a := mustKey(t, base64.StdEncoding.EncodeToString(raw))
	b := mustKey(t, hex.EncodeToString(raw))
	if a.ID() != b.ID() {
		t.Fatal("hex and base64 of one key differ")
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("A", maxKeyFileBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("c2VjcmV0"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		ok         bool
	}{
		{"good", writeKeyFile(t, testKeyText), true},
		{"missing", filepath.Join(dir, "nope"), false},
		{"too large", big, false},
		{"too short", short, false},
		{"directory", dir, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyFile(tc.path)
			if tc.ok != (err == nil) {
				t.Fatalf("LoadKeyFile error = %v, ok want %v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "c2VjcmV0") {
				t.Fatalf("error shows the file content: %v", err)
			}
		})
	}
}
