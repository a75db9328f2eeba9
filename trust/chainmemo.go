package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"
)

// maxMemoChains bounds a snapshot's chain memo. A snapshot lives one
// refresh interval; past the bound, chains are simply verified every time.
const maxMemoChains = 4096

// chainMemo remembers, per snapshot, which (leaf, intermediates, member)
// chains x509.Verify accepted and for which time window. The handler
// re-checks the client certificate on every request (so a revocation
// reaches open connections); re-running the signature checks of an
// unchanged chain against an unchanged snapshot only repeats the same
// answer. Inside the window the answer is the same: the only input of
// Verify that changes is the time, and the window is where every
// certificate of the accepted chain is valid. Refusals are never
// remembered, and a new manifest is a new snapshot with an empty memo.
type chainMemo struct {
	m sync.Map // chainKey -> window
	n atomic.Int64
}

type chainKey struct {
	leaf          [sha256.Size]byte
	intermediates [sha256.Size]byte // SHA-256 over the intermediates' SHA-256s, in order
	member        *memberEntry
}

type window struct{ notBefore, notAfter time.Time }

func newChainKey(leafSum [sha256.Size]byte, intermediates []*x509.Certificate, m *memberEntry) chainKey {
	k := chainKey{leaf: leafSum, member: m}
	if len(intermediates) > 0 {
		h := sha256.New()
		for _, c := range intermediates {
			sum := Digest(c)
			h.Write(sum[:])
		}
		h.Sum(k.intermediates[:0])
	}
	return k
}

// verified reports whether k was accepted for a window holding now.
func (c *chainMemo) verified(k chainKey, now time.Time) bool {
	v, ok := c.m.Load(k)
	if !ok {
		return false
	}
	w := v.(window)
	return !now.Before(w.notBefore) && !now.After(w.notAfter)
}

// remember records an accepted chain with the window in which all its
// certificates are valid.
func (c *chainMemo) remember(k chainKey, chain []*x509.Certificate) {
	if len(chain) == 0 || c.n.Load() >= maxMemoChains {
		return
	}
	w := window{notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(w.notBefore) {
			w.notBefore = cert.NotBefore
		}
		if cert.NotAfter.Before(w.notAfter) {
			w.notAfter = cert.NotAfter
		}
	}
	if _, loaded := c.m.Swap(k, w); !loaded {
		c.n.Add(1)
	}
}
