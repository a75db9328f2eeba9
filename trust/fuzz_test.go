package trust

import (
	"crypto/x509"
	"encoding/json"
	"testing"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

func FuzzParseManifestPayload(f *testing.F) {
	pinned := ntntest.SelfSigned(f, ntntest.CertOptions{CommonName: "seed"})
	ca := ntntest.NewRootCA(f, "seed CA", ntntest.ECDSAP256)
	valid, err := json.Marshal(ntntest.NewManifest(3,
		ntntest.ActiveMember("org-a", ntntest.TLS(pinned.Cert)),
		ntntest.ActiveMember("org-b", ntntest.CA(ca.Cert))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"version":1,"issued_at":"2026-11-22T10:00:00Z","expires_at":"2026-11-23T10:00:00Z","members":[]}`))
	f.Add([]byte(`{"version":1,"version":2}`))
	f.Add([]byte(`{"members":[{"certificates":[{"x5c":[[[]]]}]}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifestPayload(data)
		if err != nil {
			if ReasonOf(err) != ReasonSchema {
				t.Fatalf("error without schema reason: %v", err)
			}
			return
		}
		// Whatever parses must satisfy the invariants the Snapshot relies on.
		if m.Version <= 0 || !m.ExpiresAt.After(m.IssuedAt) {
			t.Fatalf("invariants broken: %+v", m)
		}
		seen := map[string]bool{}
		for _, mem := range m.Members {
			if mem.ID == "" || seen[mem.ID] {
				t.Fatalf("bad member id %q", mem.ID)
			}
			seen[mem.ID] = true
			for _, c := range mem.Certificates {
				if c.Certificate == nil || (c.Use == UseCA && !c.Certificate.IsCA) {
					t.Fatalf("bad certificate entry %+v", c)
				}
			}
		}
		NewSnapshot(m)
	})
}

func FuzzVerify(f *testing.F) {
	pki := ntntest.NewPKI(f, ntntest.ECDSAP256)
	pinned := ntntest.SelfSigned(f, ntntest.CertOptions{CommonName: "seed"})
	signer := pki.Signer()
	f.Add(signer.SignManifest(f, ntntest.NewManifest(1, ntntest.ActiveMember("org-a", ntntest.TLS(pinned.Cert)))))
	f.Add(signer.Sign(f, []byte(`{"version":1}`)))
	f.Add(rawJWS(`{"alg":"none"}`, []byte(`{}`), nil))
	f.Add([]byte("a.b.c"))
	f.Add([]byte(".."))
	opts := VerifyOptions{TrustAnchors: []*x509.Certificate{pki.TrustAnchor.Cert}, Now: ntntest.Epoch}
	f.Fuzz(func(t *testing.T, jws []byte) {
		m, err := Verify(jws, opts)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		if m.Signer == nil || m.Version <= 0 {
			t.Fatalf("accepted without signer or version: %+v", m)
		}
	})
}
