package trust

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

// memberPKI is the member side of the tests: what each member uploaded to
// NTN and the client certificates they present.
type memberPKI struct {
	pinnedA        *ntntest.Issuer // org-a, self-signed, pinned
	pinnedCAFlagA  *ntntest.Issuer // org-a, self-signed with CA:TRUE (openssl req -x509 default), pinned
	expiredPinnedA *ntntest.Issuer // org-a, pinned but expired
	futurePinnedA  *ntntest.Issuer // org-a, pinned but not yet valid
	caB            *ntntest.Issuer // org-b CA
	subB           *ntntest.Issuer // org-b issuing CA under caB
	leafB          *ntntest.Issuer // issued by caB
	leafViaSubB    *ntntest.Issuer // issued by subB
	expiredLeafB   *ntntest.Issuer
	serverOnlyB    *ntntest.Issuer // issued by caB, serverAuth only
	caRSA          *ntntest.Issuer // org-r CA (RSA)
	leafRSA        *ntntest.Issuer
	pinnedC        *ntntest.Issuer // org-c, suspended
	caC            *ntntest.Issuer
	leafC          *ntntest.Issuer
	pinnedD        *ntntest.Issuer // org-d, removed
	shared         *ntntest.Issuer // pinned by org-e and org-f
	impostorCA     *ntntest.Issuer // same subject as caB, different key
	impostorLeaf   *ntntest.Issuer
	unknown        *ntntest.Issuer
}

func newMemberPKI(t *testing.T) *memberPKI {
	t.Helper()
	p := &memberPKI{}
	p.pinnedA = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-a client"})
	p.pinnedCAFlagA = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-a openssl", IsCA: true})
	p.expiredPinnedA = ntntest.SelfSigned(t, ntntest.CertOptions{
		CommonName: "org-a old", NotBefore: ntntest.Epoch.Add(-365 * 24 * time.Hour), NotAfter: ntntest.Epoch.Add(-time.Minute),
	})
	p.futurePinnedA = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-a next", NotBefore: ntntest.Epoch.Add(time.Hour)})
	p.caB = ntntest.NewRootCA(t, "org-b CA", ntntest.ECDSAP256)
	p.subB = p.caB.Issue(t, ntntest.CertOptions{CommonName: "org-b issuing CA", IsCA: true})
	p.leafB = p.caB.Issue(t, ntntest.CertOptions{CommonName: "org-b client"})
	p.leafViaSubB = p.subB.Issue(t, ntntest.CertOptions{CommonName: "org-b client 2"})
	p.expiredLeafB = p.caB.Issue(t, ntntest.CertOptions{CommonName: "org-b expired", NotAfter: ntntest.Epoch.Add(-time.Second)})
	p.serverOnlyB = p.caB.Issue(t, ntntest.CertOptions{CommonName: "org-b server", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.caRSA = ntntest.NewRootCA(t, "org-r CA", ntntest.RSA2048)
	p.leafRSA = p.caRSA.Issue(t, ntntest.CertOptions{CommonName: "org-r client", KeyType: ntntest.RSA2048})
	p.pinnedC = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-c client"})
	p.caC = ntntest.NewRootCA(t, "org-c CA", ntntest.ECDSAP256)
	p.leafC = p.caC.Issue(t, ntntest.CertOptions{CommonName: "org-c issued"})
	p.pinnedD = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "org-d client"})
	p.shared = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "shared"})
	p.impostorCA = ntntest.NewRootCA(t, "org-b CA", ntntest.ECDSAP256)
	p.impostorLeaf = p.impostorCA.Issue(t, ntntest.CertOptions{CommonName: "org-b client"})
	p.unknown = ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "stranger"})
	return p
}

func (p *memberPKI) manifest(version int64) ntntest.Manifest {
	suspended := ntntest.ActiveMember("org-c", ntntest.TLS(p.pinnedC.Cert), ntntest.CA(p.caC.Cert))
	suspended.Status = "suspended"
	removed := ntntest.ActiveMember("org-d", ntntest.TLS(p.pinnedD.Cert))
	removed.Status = "removed"
	return ntntest.NewManifest(version,
		ntntest.ActiveMember("org-a", ntntest.TLS(p.pinnedA.Cert), ntntest.TLS(p.expiredPinnedA.Cert), ntntest.TLS(p.futurePinnedA.Cert), ntntest.TLS(p.pinnedCAFlagA.Cert)),
		ntntest.ActiveMember("org-b", ntntest.CA(p.caB.Cert)),
		ntntest.ActiveMember("org-r", ntntest.CA(p.caRSA.Cert)),
		suspended,
		removed,
		ntntest.ActiveMember("org-e", ntntest.TLS(p.shared.Cert)),
		ntntest.ActiveMember("org-f", ntntest.TLS(p.shared.Cert)),
	)
}

func buildSnapshot(t *testing.T, pki *ntntest.PKI, m ntntest.Manifest) *Snapshot {
	t.Helper()
	verified, err := Verify(pki.Signer().SignManifest(t, m), verifyOpts(pki))
	if err != nil {
		t.Fatal(err)
	}
	return NewSnapshot(verified)
}

func TestSnapshotVerifyLeaf(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	p := newMemberPKI(t)
	snap := buildSnapshot(t, pki, p.manifest(3))

	cases := []struct {
		name          string
		leaf          *ntntest.Issuer
		intermediates []*x509.Certificate
		now           time.Time
		wantMember    string
		wantReason    Reason
	}{
		{"pinned self-signed member", p.pinnedA, nil, ntntest.Epoch, "org-a", ""},
		{"pinned self-signed member with CA:TRUE", p.pinnedCAFlagA, nil, ntntest.Epoch, "org-a", ""},
		{"CA-issued member", p.leafB, nil, ntntest.Epoch, "org-b", ""},
		{"CA-issued through intermediate", p.leafViaSubB, []*x509.Certificate{p.subB.Cert}, ntntest.Epoch, "org-b", ""},
		{"CA-issued RSA member", p.leafRSA, nil, ntntest.Epoch, "org-r", ""},
		{"intermediate not presented", p.leafViaSubB, nil, ntntest.Epoch, "", ReasonUnknownCertificate},
		{"unknown certificate", p.unknown, nil, ntntest.Epoch, "", ReasonUnknownCertificate},
		{"pinned but expired", p.expiredPinnedA, nil, ntntest.Epoch, "org-a", ReasonExpired},
		{"pinned but not yet valid", p.futurePinnedA, nil, ntntest.Epoch, "org-a", ReasonNotYetValid},
		{"CA-issued but expired", p.expiredLeafB, nil, ntntest.Epoch, "", ReasonExpired},
		{"CA-issued without clientAuth", p.serverOnlyB, nil, ntntest.Epoch, "", ReasonChain},
		{"impostor CA with a member CA's name", p.impostorLeaf, nil, ntntest.Epoch, "", ReasonChain},
		{"suspended member, pinned", p.pinnedC, nil, ntntest.Epoch, "org-c", ReasonMemberInactive},
		{"suspended member, CA-issued", p.leafC, nil, ntntest.Epoch, "org-c", ReasonMemberInactive},
		{"removed member", p.pinnedD, nil, ntntest.Epoch, "org-d", ReasonMemberInactive},
		{"certificate listed by two members", p.shared, nil, ntntest.Epoch, "", ReasonAmbiguousMember},
		{"member CA as its own client certificate", p.caB, nil, ntntest.Epoch, "", ReasonChain},
		{"manifest expired", p.pinnedA, nil, ntntest.Epoch.Add(24 * time.Hour), "", ReasonStale},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(method string, member string, err error) {
				t.Helper()
				if member != tc.wantMember || ReasonOf(err) != tc.wantReason || (err == nil) != (tc.wantReason == "") {
					t.Fatalf("%s = (%q, %v), want (%q, reason %q)", method, member, err, tc.wantMember, tc.wantReason)
				}
			}
			member, err := snap.VerifyLeaf(tc.leaf.Cert, tc.intermediates, tc.now)
			check("VerifyLeaf", member, err)

			raw := [][]byte{tc.leaf.Cert.Raw}
			for _, c := range tc.intermediates {
				raw = append(raw, c.Raw)
			}
			member, err = snap.VerifyRawChain(raw, tc.now)
			check("VerifyRawChain", member, err)
		})
	}
}

func TestSnapshotVerifyEdgeCases(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	p := newMemberPKI(t)
	snap := buildSnapshot(t, pki, p.manifest(3))

	var nilSnap *Snapshot
	if _, err := nilSnap.VerifyLeaf(p.pinnedA.Cert, nil, ntntest.Epoch); ReasonOf(err) != ReasonNoManifest {
		t.Errorf("nil snapshot: %v", err)
	}
	if _, err := snap.VerifyLeaf(nil, nil, ntntest.Epoch); ReasonOf(err) != ReasonNoCertificate {
		t.Errorf("nil leaf: %v", err)
	}
	if _, err := snap.VerifyRawChain(nil, ntntest.Epoch); ReasonOf(err) != ReasonNoCertificate {
		t.Errorf("no raw certs: %v", err)
	}
	if _, err := snap.VerifyRawChain([][]byte{[]byte("junk")}, ntntest.Epoch); ReasonOf(err) != ReasonBadCertificate {
		t.Errorf("junk leaf: %v", err)
	}
	if _, err := snap.VerifyRawChain([][]byte{p.leafViaSubB.Cert.Raw, []byte("junk")}, ntntest.Epoch); ReasonOf(err) != ReasonBadCertificate {
		t.Errorf("junk intermediate: %v", err)
	}
}

func TestSnapshotCounts(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	p := newMemberPKI(t)
	snap := buildSnapshot(t, pki, p.manifest(3))
	if snap.Version() != 3 {
		t.Errorf("Version = %d", snap.Version())
	}
	// Active: org-a (4 pins), org-b (1 CA), org-r (1 CA), org-e (1 pin), org-f (1 pin).
	if snap.ActiveMembers() != 5 || snap.TrustedCertificates() != 8 {
		t.Errorf("ActiveMembers = %d, TrustedCertificates = %d; want 5, 8", snap.ActiveMembers(), snap.TrustedCertificates())
	}
	if got := snap.Signer(); got != pki.Download.Cert.Subject.String() {
		t.Errorf("Signer = %q", got)
	}
	info, ok := snap.Member("org-c")
	if !ok || info.Status != StatusSuspended || info.PinnedCertificates != 1 || info.CACertificates != 1 {
		t.Errorf("Member(org-c) = %+v, %v", info, ok)
	}
	if _, ok := snap.Member("nobody"); ok {
		t.Error("Member(nobody) found")
	}
	if got := len(snap.Members()); got != 7 {
		t.Errorf("Members() has %d entries", got)
	}
	want := []string{ntntest.Thumbprint(p.pinnedA.Cert), ntntest.Thumbprint(p.expiredPinnedA.Cert), ntntest.Thumbprint(p.futurePinnedA.Cert), ntntest.Thumbprint(p.pinnedCAFlagA.Cert)}
	slices.Sort(want)
	if got := snap.Thumbprints("org-a"); !slices.Equal(got, want) {
		t.Errorf("Thumbprints(org-a) = %v, want %v", got, want)
	}
	if got := snap.Thumbprints("nobody"); got != nil {
		t.Errorf("Thumbprints(nobody) = %v", got)
	}
}

func TestRemovedThumbprintsAndMembers(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	a1 := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "a1"})
	a2 := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "a2"})
	b1 := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "b1"})
	c1 := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "c1"})
	caD := ntntest.NewRootCA(t, "d CA", ntntest.ECDSAP256)

	old := buildSnapshot(t, pki, ntntest.NewManifest(1,
		ntntest.ActiveMember("org-a", ntntest.TLS(a1.Cert), ntntest.TLS(a2.Cert)),
		ntntest.ActiveMember("org-b", ntntest.TLS(b1.Cert)),
		ntntest.ActiveMember("org-c", ntntest.TLS(c1.Cert)),
		ntntest.ActiveMember("org-d", ntntest.CA(caD.Cert)),
	))
	suspendedB := ntntest.ActiveMember("org-b", ntntest.TLS(b1.Cert))
	suspendedB.Status = "suspended"
	next := buildSnapshot(t, pki, ntntest.NewManifest(2,
		ntntest.ActiveMember("org-a", ntntest.TLS(a1.Cert)), // a2 rotated out
		suspendedB,
		ntntest.ActiveMember("org-x", ntntest.TLS(c1.Cert)), // c1 moved to another member
	)) // org-d removed entirely

	wantThumbs := []string{ntntest.Thumbprint(a2.Cert), ntntest.Thumbprint(b1.Cert), ntntest.Thumbprint(c1.Cert)}
	slices.Sort(wantThumbs)
	if got := RemovedThumbprints(old, next); !slices.Equal(got, wantThumbs) {
		t.Errorf("RemovedThumbprints = %v, want %v", got, wantThumbs)
	}
	if got, want := RemovedMembers(old, next), []string{"org-b", "org-c", "org-d"}; !slices.Equal(got, want) {
		t.Errorf("RemovedMembers = %v, want %v", got, want)
	}
	if got := RemovedThumbprints(nil, next); got != nil {
		t.Errorf("RemovedThumbprints(nil, next) = %v", got)
	}
	if got := RemovedThumbprints(next, next); got != nil {
		t.Errorf("RemovedThumbprints(next, next) = %v", got)
	}
	if got := len(RemovedThumbprints(old, nil)); got != 4 {
		t.Errorf("RemovedThumbprints(old, nil) has %d entries, want 4", got)
	}
}

func BenchmarkSnapshotVerifyRawChainPinned(b *testing.B) {
	pki := ntntest.NewPKI(b, ntntest.ECDSAP256)
	leaf := ntntest.SelfSigned(b, ntntest.CertOptions{CommonName: "client"})
	m, err := Verify(pki.Signer().SignManifest(b, ntntest.NewManifest(1, ntntest.ActiveMember("org-a", ntntest.TLS(leaf.Cert)))), verifyOpts(pki))
	if err != nil {
		b.Fatal(err)
	}
	snap := NewSnapshot(m)
	raw := [][]byte{leaf.Cert.Raw}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := snap.VerifyRawChain(raw, ntntest.Epoch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshotVerifyRawChainCA(b *testing.B) {
	pki := ntntest.NewPKI(b, ntntest.ECDSAP256)
	ca := ntntest.NewRootCA(b, "member CA", ntntest.ECDSAP256)
	leaf := ca.Issue(b, ntntest.CertOptions{CommonName: "client"})
	m, err := Verify(pki.Signer().SignManifest(b, ntntest.NewManifest(1, ntntest.ActiveMember("org-b", ntntest.CA(ca.Cert)))), verifyOpts(pki))
	if err != nil {
		b.Fatal(err)
	}
	snap := NewSnapshot(m)
	raw := [][]byte{leaf.Cert.Raw}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := snap.VerifyRawChain(raw, ntntest.Epoch); err != nil {
			b.Fatal(err)
		}
	}
}
