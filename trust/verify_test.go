package trust

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hdp-il/fhir-pep/trust/ntntest"
)

func verifyOpts(pki *ntntest.PKI) VerifyOptions {
	return VerifyOptions{TrustAnchors: []*x509.Certificate{pki.TrustAnchor.Cert}, Now: ntntest.Epoch}
}

func sampleManifest(t *testing.T, version int64) ntntest.Manifest {
	t.Helper()
	pinned := ntntest.SelfSigned(t, ntntest.CertOptions{CommonName: "member client"})
	return ntntest.NewManifest(version, ntntest.ActiveMember("org-a", ntntest.TLS(pinned.Cert)))
}

func TestVerifyAccepts(t *testing.T) {
	cases := []struct {
		name    string
		keyType ntntest.KeyType
		alg     jose.SignatureAlgorithm
	}{
		{"ES256", ntntest.ECDSAP256, jose.ES256},
		{"ES384", ntntest.ECDSAP384, jose.ES384},
		{"PS256", ntntest.RSA2048, jose.PS256},
		{"RS256", ntntest.RSA2048, jose.RS256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pki := ntntest.NewPKI(t, tc.keyType)
			signer := pki.Signer()
			signer.Alg = tc.alg
			jws := signer.SignManifest(t, sampleManifest(t, 9))
			m, err := Verify(append(jws, '\n'), verifyOpts(pki))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if m.Version != 9 || m.Algorithm != string(tc.alg) || !m.Signer.Equal(pki.Download.Cert) {
				t.Fatalf("got version %d alg %s signer %s", m.Version, m.Algorithm, m.Signer.Subject)
			}
			if string(m.Raw) != string(jws) {
				t.Fatal("Raw is not the JWS without surrounding whitespace")
			}
		})
	}
}

func TestVerifyAcceptsApplicationTyp(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	signer := pki.Signer()
	signer.Type = "application/ntn-manifest+jws"
	if _, err := Verify(signer.SignManifest(t, sampleManifest(t, 1)), verifyOpts(pki)); err != nil {
		t.Fatal(err)
	}
}

// rawJWS assembles a compact JWS from a header JSON, payload and signature
// without any library, to produce what no well-behaved signer would.
func rawJWS(header string, payload []byte, sig []byte) []byte {
	enc := base64.RawURLEncoding
	return []byte(enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig))
}

func TestVerifyRejects(t *testing.T) {
	pki := ntntest.NewPKI(t, ntntest.ECDSAP256)
	other := ntntest.NewPKI(t, ntntest.ECDSAP256)
	good := pki.Signer()
	manifest := sampleManifest(t, 5)
	goodJWS := good.SignManifest(t, manifest)
	parts := strings.Split(string(goodJWS), ".")
	x5c := `["` + strings.Join(ntntest.X5C(pki.Download.Cert, pki.Intermediate.Cert), `","`) + `"]`

	expiredDownload := pki.Intermediate.Issue(t, ntntest.CertOptions{
		CommonName: "expired download", NotBefore: ntntest.Epoch.Add(-48 * time.Hour), NotAfter: ntntest.Epoch.Add(-time.Hour),
	})
	futureDownload := pki.Intermediate.Issue(t, ntntest.CertOptions{
		CommonName: "future download", NotBefore: ntntest.Epoch.Add(time.Hour),
	})
	noSigUsage := pki.Intermediate.Issue(t, ntntest.CertOptions{
		CommonName: "encipherment only", KeyUsage: x509.KeyUsageKeyEncipherment,
	})
	withChain := func(leaf *ntntest.Issuer) ntntest.Signer {
		return ntntest.Signer{Key: leaf.Key, Chain: []*x509.Certificate{leaf.Cert, pki.Intermediate.Cert}}
	}

	expiredManifest := manifest
	expiredManifest.IssuedAt = ntntest.Epoch.Add(-48 * time.Hour).Format(time.RFC3339)
	expiredManifest.ExpiresAt = ntntest.Epoch.Format(time.RFC3339)

	hmac := func() []byte {
		opts := (&jose.SignerOptions{}).WithType("ntn-manifest+jws").WithHeader("x5c", ntntest.X5C(pki.Download.Cert))
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign([]byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		out, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return []byte(out)
	}

	embeddedJWK := func() []byte {
		opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("ntn-manifest+jws").WithHeader("x5c", ntntest.X5C(pki.Download.Cert, pki.Intermediate.Cert))
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: pki.Download.Key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign([]byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		out, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return []byte(out)
	}

	jsonSerialization := func() []byte {
		opts := (&jose.SignerOptions{}).WithType("ntn-manifest+jws").WithHeader("x5c", ntntest.X5C(pki.Download.Cert, pki.Intermediate.Cert))
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: pki.Download.Key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := s.Sign([]byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(obj.FullSerialize())
	}

	cases := []struct {
		name   string
		jws    []byte
		opts   VerifyOptions
		reason Reason
	}{
		{"tampered payload", []byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"version":6}`)) + "." + parts[2]), verifyOpts(pki), ReasonSignature},
		{"signed by another key", ntntest.Signer{Key: other.Download.Key, Chain: good.Chain}.SignManifest(t, manifest), verifyOpts(pki), ReasonSignature},
		{"signature truncated", []byte(parts[0] + "." + parts[1] + "." + parts[2][:20]), verifyOpts(pki), ReasonSignature},
		{"wrong trust anchor", goodJWS, VerifyOptions{TrustAnchors: []*x509.Certificate{other.TrustAnchor.Cert}, Now: ntntest.Epoch}, ReasonChain},
		{"no trust anchors", goodJWS, VerifyOptions{Now: ntntest.Epoch}, ReasonChain},
		{"intermediate missing from x5c", ntntest.Signer{Key: pki.Download.Key, Chain: []*x509.Certificate{pki.Download.Cert}}.SignManifest(t, manifest), verifyOpts(pki), ReasonChain},
		{"chain of another NTN", other.Signer().SignManifest(t, manifest), verifyOpts(pki), ReasonChain},
		{"expired signing certificate", withChain(expiredDownload).SignManifest(t, manifest), verifyOpts(pki), ReasonChain},
		{"signing certificate not yet valid", withChain(futureDownload).SignManifest(t, manifest), verifyOpts(pki), ReasonChain},
		{"signing certificate without digitalSignature", withChain(noSigUsage).SignManifest(t, manifest), verifyOpts(pki), ReasonChain},
		{"x5c not DER", rawJWS(`{"alg":"ES256","typ":"ntn-manifest+jws","x5c":["AAAA"]}`, []byte(`{}`), []byte("sig")), verifyOpts(pki), ReasonChain},
		{"alg HS256", hmac(), verifyOpts(pki), ReasonAlgorithm},
		{"alg none", rawJWS(`{"alg":"none","typ":"ntn-manifest+jws","x5c":`+x5c+`}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonAlgorithm},
		{"alg ES512", rawJWS(`{"alg":"ES512","typ":"ntn-manifest+jws","x5c":`+x5c+`}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonAlgorithm},
		{"alg missing", rawJWS(`{"typ":"ntn-manifest+jws","x5c":`+x5c+`}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonAlgorithm},
		{"alg lower case", rawJWS(`{"alg":"es256","typ":"ntn-manifest+jws","x5c":`+x5c+`}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonAlgorithm},
		{"typ missing", ntntest.Signer{Key: pki.Download.Key, Chain: good.Chain, Type: " "}.SignManifest(t, manifest), verifyOpts(pki), ReasonHeader},
		{"typ JWT", ntntest.Signer{Key: pki.Download.Key, Chain: good.Chain, Type: "JWT"}.SignManifest(t, manifest), verifyOpts(pki), ReasonHeader},
		{"x5c missing", ntntest.Signer{Key: pki.Download.Key}.SignManifest(t, manifest), verifyOpts(pki), ReasonHeader},
		{"embedded jwk", embeddedJWK(), verifyOpts(pki), ReasonHeader},
		{"crit header", rawJWS(`{"alg":"ES256","typ":"ntn-manifest+jws","x5c":`+x5c+`,"crit":["exp"],"exp":1}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonHeader},
		{"jku header", rawJWS(`{"alg":"ES256","typ":"ntn-manifest+jws","x5c":`+x5c+`,"jku":"https://evil.example/keys"}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonHeader},
		{"duplicate alg", rawJWS(`{"alg":"HS256","alg":"ES256","typ":"ntn-manifest+jws","x5c":`+x5c+`}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonHeader},
		{"x5t#S256 mismatch", rawJWS(`{"alg":"ES256","typ":"ntn-manifest+jws","x5c":`+x5c+`,"x5t#S256":"AAAA"}`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonHeader},
		{"header not JSON", rawJWS(`not json`, []byte(`{}`), []byte("x")), verifyOpts(pki), ReasonHeader},
		{"header not base64url", []byte("!!!." + parts[1] + "." + parts[2]), verifyOpts(pki), ReasonFormat},
		{"JSON serialization", jsonSerialization(), verifyOpts(pki), ReasonFormat},
		{"garbage", []byte("hello, world"), verifyOpts(pki), ReasonFormat},
		{"empty", nil, verifyOpts(pki), ReasonFormat},
		{"two parts", []byte(parts[0] + "." + parts[1]), verifyOpts(pki), ReasonFormat},
		{"four parts", []byte(string(goodJWS) + ".x"), verifyOpts(pki), ReasonFormat},
		{"detached payload", []byte(parts[0] + ".." + parts[2]), verifyOpts(pki), ReasonFormat},
		{"too large", make([]byte, MaxManifestBytes+1), verifyOpts(pki), ReasonTooLarge},
		{"manifest expired", good.SignManifest(t, expiredManifest), verifyOpts(pki), ReasonExpired},
		{"signed payload breaks schema", good.Sign(t, []byte(`{"version":1}`)), verifyOpts(pki), ReasonSchema},
		{"signed payload not JSON", good.Sign(t, []byte(`hello`)), verifyOpts(pki), ReasonSchema},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Verify(tc.jws, tc.opts)
			if err == nil {
				t.Fatalf("accepted manifest version %d", m.Version)
			}
			if r := ReasonOf(err); r != tc.reason {
				t.Fatalf("reason = %q, want %q (err %v)", r, tc.reason, err)
			}
		})
	}
}
