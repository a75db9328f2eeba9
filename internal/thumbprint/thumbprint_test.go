package thumbprint

import (
	"crypto/sha256"
	"testing"
)

func TestOf(t *testing.T) {
	cases := []struct {
		name string
		der  []byte
		want string
	}{
		// sha256("") is e3b0c442...; its unpadded base64url is fixed.
		{"empty input", nil, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"},
		{"abc", []byte("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Of(tc.der)
			if got != tc.want {
				t.Fatalf("Of(%q) = %q, want %q", tc.der, got, tc.want)
			}
			if len(got) != Size {
				t.Fatalf("len = %d, want %d", len(got), Size)
			}
			if enc := Encode(sha256.Sum256(tc.der)); enc != got {
				t.Fatalf("Encode = %q, Of = %q", enc, got)
			}
		})
	}
}
