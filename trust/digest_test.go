package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// The memoised digest is the SHA-256 of the certificate it is asked for:
// for distinct certificates, for a second parse of the same DER (another
// connection presenting the same certificate) and on repeated calls.
func TestDigestIsTheCertificatesSHA256(t *testing.T) {
	ca := ntntest.NewRootCA(t, "org-a CA", ntntest.ECDSAP256)
	certs := []*x509.Certificate{ca.Cert}
	for i := range 5 {
		certs = append(certs, ca.Issue(t, ntntest.CertOptions{CommonName: fmt.Sprintf("leaf %d", i)}).Cert)
	}
	again, err := x509.ParseCertificate(certs[1].Raw)
	if err != nil {
		t.Fatal(err)
	}
	certs = append(certs, again)
	for round := range 2 {
		for i, c := range certs {
			want := sha256.Sum256(c.Raw)
			if got := Digest(c); got != want {
				t.Fatalf("round %d, cert %d: digest differs from SHA-256", round, i)
			}
			if got, want := Thumbprint(c), base64.RawURLEncoding.EncodeToString(want[:]); got != want {
				t.Fatalf("round %d, cert %d: thumbprint %q, want %q", round, i, got, want)
			}
		}
	}
}

// The memo starts over at its bound: it never holds more than
// maxCertDigests certificates, whatever number it is asked about.
func TestDigestMemoBounded(t *testing.T) {
	ca := ntntest.NewRootCA(t, "org-a CA", ntntest.ECDSAP256)
	leaf := ca.Issue(t, ntntest.CertOptions{CommonName: "leaf"}).Cert
	for range maxCertDigests + 10 {
		// A fresh parse per call: a new certificate value each time.
		c, err := x509.ParseCertificate(leaf.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if Digest(c) != sha256.Sum256(leaf.Raw) {
			t.Fatal("wrong digest")
		}
		if n := certDigests.n.Load(); n > maxCertDigests {
			t.Fatalf("memo holds %d certificates, bound %d", n, maxCertDigests)
		}
	}
}

// A certificate whose DER changed length after it was first hashed (no
// parser does this; the guard is cheap) is hashed again.
func TestDigestGuardsAgainstAChangedDER(t *testing.T) {
	ca := ntntest.NewRootCA(t, "org-a CA", ntntest.ECDSAP256)
	c := *ca.Issue(t, ntntest.CertOptions{CommonName: "leaf"}).Cert
	_ = Digest(&c)
	c.Raw = append([]byte(nil), c.Raw[:len(c.Raw)-1]...)
	if Digest(&c) != sha256.Sum256(c.Raw) {
		t.Fatal("a stale digest was returned for a changed DER")
	}
}

// A certificate value overwritten with another certificate of the same
// DER length, or whose Raw is reassigned to another DER of the same
// length, is hashed again (review finding: the length alone was the
// guard, and the digest decides pins, the chain memo and cnf binding).
func TestDigestGuardsAgainstASameLengthDER(t *testing.T) {
	ca := ntntest.NewRootCA(t, "org-a CA", ntntest.ECDSAP256)
	a := ca.Issue(t, ntntest.CertOptions{CommonName: "leaf-a"}).Cert

	c := *a
	_ = Digest(&c)
	other := append([]byte(nil), a.Raw...)
	other[len(other)-1] ^= 1
	c.Raw = other
	if Digest(&c) != sha256.Sum256(other) {
		t.Fatal("Raw reassigned to a same-length DER: the old digest was returned")
	}

	var b *x509.Certificate
	for range 200 { // ECDSA signatures vary in length by a byte or two
		if b = ca.Issue(t, ntntest.CertOptions{CommonName: "leaf-b"}).Cert; len(b.Raw) == len(a.Raw) {
			break
		}
	}
	if len(b.Raw) != len(a.Raw) {
		t.Fatal("no certificate of the same DER length in 200 tries")
	}
	d := new(x509.Certificate)
	*d = *a
	_ = Digest(d)
	*d = *b // the same object now holds certificate b
	if Digest(d) != sha256.Sum256(b.Raw) || Thumbprint(d) != Thumbprint(b) {
		t.Fatal("a certificate value overwritten with another of the same length kept the old digest")
	}
}

func BenchmarkDigestMemoised(b *testing.B) {
	ca := ntntest.NewRootCA(b, "org-a CA", ntntest.ECDSAP256)
	leaf := ca.Issue(b, ntntest.CertOptions{CommonName: "leaf"}).Cert
	b.ReportAllocs()
	for b.Loop() {
		_ = Thumbprint(leaf)
	}
}

// BenchmarkDigestUnmemoised is what the gate and the NTN re-check paid
// per request before the memo (compare BenchmarkDigestMemoised).
func BenchmarkDigestUnmemoised(b *testing.B) {
	ca := ntntest.NewRootCA(b, "org-a CA", ntntest.ECDSAP256)
	leaf := ca.Issue(b, ntntest.CertOptions{CommonName: "leaf"}).Cert
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(leaf.Raw)
		_ = base64.RawURLEncoding.EncodeToString(sum[:])
	}
}
