package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/hdp-il/fhir-pep/internal/thumbprint"
)

// maxCertDigests bounds the digest memo; past it the memo starts over.
// Each entry holds the DER it hashed (a few KiB at most), so the memo
// holds at most a few MiB.
// A live connection holds one leaf (and its intermediates), so the bound
// is far above the connections a PEP keeps open.
const maxCertDigests = 4096

// certDigests memoises the SHA-256 (and its thumbprint) of parsed
// certificates. The client certificate is re-checked on every request of
// a connection (a revocation must reach open connections), and hashing
// its DER again each time, for the trust check and for the token's cnf
// binding, was the largest cost of the gate on a cache hit. Only the
// digest is memoised, never a verdict: every check still runs against
// the current manifest.
//
// The key is a weak pointer: the memo keeps no certificate alive, and a
// certificate allocated where a collected one was gets a key of its own.
// The certificate's DER is immutable once parsed (crypto/tls and x509
// never change Raw); each entry still compares the DER it hashed (its
// array and length) with the certificate's, so a value overwritten with
// another certificate, or a Raw reassigned, is hashed again.
var certDigests struct {
	m sync.Map // weak.Pointer[x509.Certificate] -> *certDigest
	n atomic.Int64
}

type certDigest struct {
	sum        [sha256.Size]byte
	thumbprint string
	// raw is c.Raw as it was hashed: a certificate value overwritten with
	// another certificate, or its Raw reassigned, no longer matches (same
	// length or not) and is hashed again. Holding the slice keeps its
	// array alive while the entry is, so the comparison can never match a
	// new array at a reused address. Edits in place of the bytes are not
	// detected: nothing edits a parsed certificate's DER.
	raw []byte
}

// digestOf returns the memoised digest of c, computing it on a miss.
func digestOf(c *x509.Certificate) *certDigest {
	k := weak.Make(c)
	if v, ok := certDigests.m.Load(k); ok {
		if d := v.(*certDigest); len(d.raw) == len(c.Raw) && unsafe.SliceData(d.raw) == unsafe.SliceData(c.Raw) {
			return d
		}
	}
	sum := sha256.Sum256(c.Raw)
	d := &certDigest{sum: sum, thumbprint: thumbprint.Encode(sum), raw: c.Raw}
	if certDigests.n.Load() >= maxCertDigests {
		certDigests.m.Clear()
		certDigests.n.Store(0)
	}
	if _, loaded := certDigests.m.Swap(k, d); !loaded {
		certDigests.n.Add(1)
	}
	return d
}

// Digest is the SHA-256 of c's DER, memoised per certificate value.
func Digest(c *x509.Certificate) [sha256.Size]byte { return digestOf(c).sum }

// Thumbprint is the base64url (unpadded) SHA-256 of c's DER, the RFC 8705
// x5t#S256 form, memoised per certificate value.
func Thumbprint(c *x509.Certificate) string { return digestOf(c).thumbprint }
