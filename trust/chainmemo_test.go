package trust

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// The memo may only save work: every answer, at every time, must be the
// one a fresh snapshot gives. Each step is checked against a snapshot
// that never saw the chain before.
func TestChainMemoAnswersAsFreshVerification(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	ca := ntntest.NewRootCA(t, "org-b CA", ntntest.ECDSAP256)
	shortLeaf := ca.Issue(t, ntntest.CertOptions{CommonName: "short", NotAfter: ntntest.Epoch.Add(time.Hour)})
	shortSub := ca.Issue(t, ntntest.CertOptions{CommonName: "short issuing CA", IsCA: true, NotAfter: ntntest.Epoch.Add(time.Hour)})
	leafViaShortSub := shortSub.Issue(t, ntntest.CertOptions{CommonName: "via short sub"})
	serverOnly := ca.Issue(t, ntntest.CertOptions{CommonName: "server", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	otherSub := ca.Issue(t, ntntest.CertOptions{CommonName: "other issuing CA", IsCA: true})
	manifest := ntntest.NewManifest(1, ntntest.ActiveMember("org-b", ntntest.CA(ca.Cert)))
	snap := buildSnapshot(t, pki, manifest)

	steps := []struct {
		name          string
		leaf          *ntntest.Issuer
		intermediates []*x509.Certificate
		at            time.Duration // after ntntest.Epoch
		wantReason    Reason
	}{
		{"first verification", shortLeaf, nil, 0, ""},
		{"same chain again", shortLeaf, nil, 0, ""},
		{"inside the window", shortLeaf, nil, 59 * time.Minute, ""},
		{"leaf expired since", shortLeaf, nil, 61 * time.Minute, ReasonExpired},
		{"through an intermediate", leafViaShortSub, []*x509.Certificate{shortSub.Cert}, 0, ""},
		{"intermediate expired since", leafViaShortSub, []*x509.Certificate{shortSub.Cert}, 61 * time.Minute, ReasonChain},
		{"same leaf, other intermediate that did not issue it", leafViaShortSub, []*x509.Certificate{otherSub.Cert}, 0, ReasonChain},
		{"refused chain", serverOnly, nil, 0, ReasonChain},
		{"refused chain is not remembered as accepted", serverOnly, nil, 0, ReasonChain},
	}
	for _, st := range steps {
		now := ntntest.Epoch.Add(st.at)
		member, err := snap.VerifyLeaf(st.leaf.Cert, st.intermediates, now)
		if ReasonOf(err) != st.wantReason || (err == nil) != (st.wantReason == "") {
			t.Fatalf("%s: VerifyLeaf = (%q, %v), want reason %q", st.name, member, err, st.wantReason)
		}
		freshMember, freshErr := buildSnapshot(t, pki, manifest).VerifyLeaf(st.leaf.Cert, st.intermediates, now)
		if member != freshMember || ReasonOf(err) != ReasonOf(freshErr) {
			t.Fatalf("%s: memo answer (%q, %v) differs from a fresh snapshot's (%q, %v)", st.name, member, err, freshMember, freshErr)
		}
	}
	if n := snap.chains.n.Load(); n != 2 {
		t.Fatalf("memo holds %d chains, want 2 (the two accepted ones)", n)
	}
}

func TestChainMemoBounded(t *testing.T) {
	var c chainMemo
	leaf := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "x"})
	for i := range maxMemoChains + 10 {
		k := chainKey{member: &memberEntry{id: string(rune(i))}}
		c.remember(k, []*x509.Certificate{leaf.Cert})
	}
	if n := c.n.Load(); n != maxMemoChains {
		t.Fatalf("memo holds %d chains, want the bound %d", n, maxMemoChains)
	}
}
