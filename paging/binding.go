package paging

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// Binding is what a page link is bound to: the request that received it.
// Following the link with any field different is ErrBindingMismatch.
type Binding struct {
	// TokenSHA256 is the SHA-256 of the bearer token (TokenDigest), the same
	// value the introspection cache keys by; the token itself never enters
	// the blob.
	TokenSHA256 [sha256.Size]byte
	// Thumbprint is the client certificate's x5t#S256 thumbprint.
	Thumbprint string
	// PatientIDs are the patient's upstream logical ids. Order and
	// duplicates do not matter: two instances resolving the same patient
	// may list the ids in another order.
	PatientIDs []string
	// Obligations is a digest of the decision's obligations (see
	// ObligationsDigest): a link sealed under a narrower decision (fewer
	// buckets, another query constraint) does not open under a wider one,
	// and the other way round.
	Obligations [sha256.Size]byte
}

// TokenDigest is the SHA-256 of a bearer token.
func TokenDigest(token string) [sha256.Size]byte {
	return sha256.Sum256([]byte(token))
}

// ObligationsDigest hashes a canonical encoding of the decision's
// obligations (for example their JSON with sorted keys). The caller chooses
// the encoding; it must be deterministic across instances and releases
// that share a key, or links stop opening after a rolling upgrade (which is
// safe: the answer is 403, and the client starts a new search).
func ObligationsDigest(canonical []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte("fhir-pep paging v1 obligations\x00"))
	h.Write(canonical)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// complete reports whether the binding names a token and a certificate:
// a link bound to nothing would open for anyone.
func (b *Binding) complete() bool {
	return b.TokenSHA256 != [sha256.Size]byte{} && b.Thumbprint != ""
}

// digest hashes the binding with every variable-length field length-prefixed
// so that no two different bindings encode to the same bytes.
func (b *Binding) digest() [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	writeField := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write([]byte("fhir-pep paging v1 binding\x00"))
	h.Write(b.TokenSHA256[:])
	writeField(b.Thumbprint)
	ids := b.PatientIDs
	if !slices.IsSorted(ids) || hasAdjacentDup(ids) {
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(ids)))
	h.Write(n[:])
	for _, id := range ids {
		writeField(id)
	}
	h.Write(b.Obligations[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func hasAdjacentDup(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return true
		}
	}
	return false
}
