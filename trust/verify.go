package trust

import (
	"bytes"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hdp-il/fhir-pep/internal/thumbprint"
)

// ManifestType is the required JWS "typ" header of a manifest.
const ManifestType = "ntn-manifest+jws"

// MaxManifestBytes bounds the size of a manifest JWS, whatever its source.
const MaxManifestBytes = 16 << 20

// AllowedAlgorithms is the explicit JWS algorithm allow list. Symmetric
// algorithms and "none" can never verify a manifest.
var AllowedAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.PS256, jose.RS256}

// allowedHeaderParams are the protected header parameters a manifest may
// carry. Everything else (jwk, jku, x5u, crit, b64, ...) is refused: the
// only key source is the x5c chain to the configured trust anchor.
var allowedHeaderParams = []string{"alg", "typ", "x5c", "kid", "x5t", "x5t#S256"}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// TrustAnchors are the NTN trust anchor certificates. The manifest's
	// x5c chain must end at one of them. Required.
	TrustAnchors []*x509.Certificate
	// Now is the time at which the chain and expires_at are checked.
	Now time.Time
}

type protectedHeader struct {
	Alg     string   `json:"alg"`
	Typ     string   `json:"typ"`
	X5C     []string `json:"x5c"`
	Kid     string   `json:"kid"`
	X5t     string   `json:"x5t"`
	X5tS256 string   `json:"x5t#S256"`
}

// Verify checks a manifest JWS and returns the manifest. The JWS must be in
// compact serialization with an allowed alg, typ ntn-manifest+jws and an
// x5c chain that leads to one of opts.TrustAnchors and is valid at
// opts.Now; the signature must verify with the x5c leaf's key; the payload
// must satisfy the strict schema; and opts.Now must be before expires_at.
// Version ordering (rollback) is the Store's business, not Verify's.
// Errors are *Error with a Reason.
func Verify(jws []byte, opts VerifyOptions) (*Manifest, error) {
	if len(opts.TrustAnchors) == 0 {
		return nil, newError(ReasonChain, "no trust anchors configured")
	}
	if len(jws) > MaxManifestBytes {
		return nil, newError(ReasonTooLarge, "manifest larger than %d bytes", MaxManifestBytes)
	}
	compact := string(bytes.TrimSpace(jws))
	parts := strings.Split(compact, ".")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return nil, newError(ReasonFormat, "not a compact JWS")
	}
	hdr, err := parseProtectedHeader(parts[0])
	if err != nil {
		return nil, err
	}
	alg := jose.SignatureAlgorithm(hdr.Alg)
	if !slices.Contains(AllowedAlgorithms, alg) {
		return nil, newError(ReasonAlgorithm, "algorithm %q is not allowed", truncate(hdr.Alg, 16))
	}
	if !strings.EqualFold(hdr.Typ, ManifestType) && !strings.EqualFold(hdr.Typ, "application/"+ManifestType) {
		return nil, newError(ReasonHeader, "typ must be %s", ManifestType)
	}
	signer, err := verifySignerChain(hdr, opts)
	if err != nil {
		return nil, err
	}

	obj, err := jose.ParseSignedCompact(compact, AllowedAlgorithms)
	if err != nil {
		return nil, wrapError(ReasonFormat, err)
	}
	if len(obj.Signatures) != 1 || obj.Signatures[0].Header.Algorithm != hdr.Alg {
		return nil, newError(ReasonFormat, "unexpected signature structure")
	}
	payload, err := obj.Verify(signer.PublicKey)
	if err != nil {
		return nil, wrapError(ReasonSignature, err)
	}

	m, err := ParseManifestPayload(payload)
	if err != nil {
		return nil, err
	}
	if !opts.Now.Before(m.ExpiresAt) {
		return nil, newError(ReasonExpired, "manifest version %d expired at %s", m.Version, m.ExpiresAt.Format(time.RFC3339))
	}
	m.Signer = signer
	m.Algorithm = hdr.Alg
	m.Payload = payload
	m.Raw = []byte(compact)
	return m, nil
}

func parseProtectedHeader(b64 string) (*protectedHeader, error) {
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return nil, newError(ReasonFormat, "protected header is not base64url")
	}
	var hdr protectedHeader
	if err := decodeJSONObjectStrict(raw, allowedHeaderParams, &hdr); err != nil {
		return nil, wrapError(ReasonHeader, err)
	}
	return &hdr, nil
}

// verifySignerChain parses x5c and verifies it up to a trust anchor at
// opts.Now. It returns the leaf, whose key must have signed the JWS.
func verifySignerChain(hdr *protectedHeader, opts VerifyOptions) (*x509.Certificate, error) {
	if len(hdr.X5C) == 0 {
		return nil, newError(ReasonHeader, "x5c is required")
	}
	certs, err := parseX5C(hdr.X5C)
	if err != nil {
		return nil, wrapError(ReasonChain, err)
	}
	leaf := certs[0]
	if hdr.X5tS256 != "" {
		want := thumbprint.Of(leaf.Raw)
		if subtle.ConstantTimeCompare([]byte(want), []byte(hdr.X5tS256)) != 1 {
			return nil, newError(ReasonHeader, "x5t#S256 does not match the x5c leaf")
		}
	}
	roots := x509.NewCertPool()
	for _, ta := range opts.TrustAnchors {
		roots.AddCert(ta)
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   opts.Now,
		// NTN's download certificate profile is not published; accept any
		// extended key usage but insist on digitalSignature when KeyUsage
		// is present at all.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, wrapError(ReasonChain, err)
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, newError(ReasonChain, "signing certificate lacks the digitalSignature key usage")
	}
	return leaf, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
