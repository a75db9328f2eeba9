package audit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

const nationalIDSystem = "http://fhir.health.gov.il/identifier/il-national-id"

// testKey is 0x00..0x1f.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func TestPatientHasher(t *testing.T) {
	h, err := NewPatientHasher(testKey())
	if err != nil {
		t.Fatal(err)
	}
	// Expected values computed independently:
	//   printf '<system>|<value>' | openssl dgst -sha256 -mac HMAC \
	//     -macopt hexkey:000102...1f -binary | base64 | tr '+/' '-_' | tr -d '='
	tests := []struct {
		name, system, value, want string
	}{
		{"national id", nationalIDSystem, "000000018", "Me72Sa-sLROKmZSmExh-Jk8nCW4uAsUC1PgJR1H0T-I"},
		{"another national id", nationalIDSystem, "000000026", "LCPQakkB3uQQtOf19EKLZ9CK3Enj0QR01LnpR6s9fcc"},
		{"empty value", nationalIDSystem, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the pooled MAC must be reset between uses.
			for range 2 {
				if got := h.Hash(tt.system, tt.value); got != tt.want {
					t.Fatalf("Hash = %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestPatientHasherKey(t *testing.T) {
	t.Run("short key", func(t *testing.T) {
		if _, err := NewPatientHasher(bytes.Repeat([]byte{1}, 31)); err == nil {
			t.Fatal("31-byte key accepted")
		}
	})
	t.Run("key copied", func(t *testing.T) {
		key := testKey()
		h, err := NewPatientHasher(key)
		if err != nil {
			t.Fatal(err)
		}
		key[0] = 0xff
		if got := h.Hash(nationalIDSystem, "000000018"); got != "Me72Sa-sLROKmZSmExh-Jk8nCW4uAsUC1PgJR1H0T-I" {
			t.Fatalf("hash changed with the caller's key slice: %q", got)
		}
	})
	t.Run("different key different hash", func(t *testing.T) {
		h, err := NewPatientHasher(bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Hash(nationalIDSystem, "000000018"); got == "Me72Sa-sLROKmZSmExh-Jk8nCW4uAsUC1PgJR1H0T-I" {
			t.Fatal("hash does not depend on the key")
		}
	})
	t.Run("long input", func(t *testing.T) {
		h, err := NewPatientHasher(testKey())
		if err != nil {
			t.Fatal(err)
		}
		long := strings.Repeat("x", 1000)
		if a, b := h.Hash(long, "1"), h.Hash(long, "2"); a == b || len(a) != 43 {
			t.Fatalf("long inputs: %q %q", a, b)
		}
	})
}

func TestPatientHasherConcurrent(t *testing.T) {
	h, err := NewPatientHasher(testKey())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := h.Hash(nationalIDSystem, "000000018"); got != "Me72Sa-sLROKmZSmExh-Jk8nCW4uAsUC1PgJR1H0T-I" {
					t.Errorf("concurrent Hash = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkPatientHash(b *testing.B) {
	h, err := NewPatientHasher(testKey())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Hash(nationalIDSystem, "000000018")
	}
}
