package paging

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/internal/linksplice"
	"github.com/hdp-il/fhir-pep/internal/testclock"
)

const (
	testUpstream = "http://hapi.internal:8080/fhir"
	testPublic   = "https://fhir.hmo-b.example/R4"
)

// testKeyText is a fixed 32-byte key, base64 encoded, so failures reproduce.
var (
	testKeyText  = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	otherKeyText = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
)

func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
}

func writeKeyFile(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "paging.key")
	if err := os.WriteFile(p, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKey(t testing.TB, text string) Key {
	t.Helper()
	k, err := ParseKey([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSealer(t testing.TB, clock *testclock.Clock, current Key, previous *Key) *Sealer {
	t.Helper()
	s, err := New(Options{
		UpstreamBase: testUpstream,
		PublicBase:   testPublic,
		Current:      current,
		Previous:     previous,
		Now:          clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testBinding() Binding {
	return Binding{
		TokenSHA256: TokenDigest("token-of-sp-a"),
		Thumbprint:  "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU",
		PatientIDs:  []string{"p-18", "p-18-old"},
		Obligations: ObligationsDigest([]byte(`{"buckets":["LaboratoryTests"]}`)),
	}
}

// testOrigin is the client request the test links belong to.
const testOrigin = "/Observation?category=laboratory"

// openURL opens a sealed value and returns the upstream URL.
func openURL(s *Sealer, sealed string, b Binding) (string, error) {
	p, err := s.Open(sealed, b)
	if err != nil {
		return "", err
	}
	if p.Origin != testOrigin {
		return "", fmt.Errorf("origin %q", p.Origin)
	}
	return p.Upstream, nil
}

// openQuery opens the query of a page URL and returns the upstream URL.
func openQuery(s *Sealer, rawQuery string, b Binding) (string, error) {
	v, err := SealedValue(rawQuery)
	if err != nil {
		return "", err
	}
	return openURL(s, v, b)
}

// rewriteBundle and selfOnlyBundle splice the link arrays into a whole
// Bundle the way the PEP's response check does, through the frozen
// reference splice (internal/linksplice).
func rewriteBundle(s *Sealer, body []byte, self, origin string, b Binding) ([]byte, error) {
	return linksplice.Splice(body, func(raw []byte) ([]byte, error) {
		return s.RewriteLinkArray(raw, self, origin, b)
	})
}

func selfOnlyBundle(body []byte, self string) ([]byte, error) {
	return linksplice.Splice(body, func(raw []byte) ([]byte, error) {
		return SelfOnlyLinkArray(raw, self)
	})
}
