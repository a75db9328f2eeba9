package introspection

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha512" // registers crypto.SHA384 for ES384
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// allowedAlgorithms is the explicit allow list for the client assertion.
// HMAC and "none" are never acceptable for private_key_jwt; EdDSA is not
// offered because NTN certificates are RSA or ECDSA.
var allowedAlgorithms = []string{"ES256", "ES384", "PS256", "RS256"}

// minRSABits rejects RSA keys too short for a 2026 deployment.
const minRSABits = 2048

// assertionSigner signs RFC 7523 client assertions with a crypto.Signer.
// It goes through go-jose's OpaqueSigner so that keys held in an HSM or
// agent (anything implementing crypto.Signer) work the same as in-memory
// *rsa.PrivateKey and *ecdsa.PrivateKey values.
type assertionSigner struct {
	alg    jose.SignatureAlgorithm
	signer jose.Signer
}

func newAssertionSigner(key crypto.Signer, algorithm, keyID string) (*assertionSigner, error) {
	if key == nil {
		return nil, errors.New("introspection: token source needs a Signer")
	}
	alg, err := chooseAlgorithm(key.Public(), algorithm)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if keyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), keyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: opaqueKey{key: key, alg: alg}}, opts)
	if err != nil {
		return nil, fmt.Errorf("introspection: assertion signer: %w", err)
	}
	return &assertionSigner{alg: alg, signer: signer}, nil
}

// chooseAlgorithm picks the algorithm for the key type (P-256 → ES256,
// P-384 → ES384, RSA → RS256) or checks that the configured one is allowed
// and fits the key. RSA defaults to RS256 because that is what the
// national PCM and its reference adapter use for private_key_jwt; PS256
// can still be chosen explicitly for a PCM that accepts it.
func chooseAlgorithm(pub crypto.PublicKey, configured string) (jose.SignatureAlgorithm, error) {
	var natural jose.SignatureAlgorithm
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			natural = jose.ES256
		case elliptic.P384():
			natural = jose.ES384
		default:
			return "", errors.New("introspection: unsupported ECDSA curve (want P-256 or P-384)")
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("introspection: RSA key shorter than %d bits", minRSABits)
		}
		natural = jose.RS256
	default:
		return "", fmt.Errorf("introspection: unsupported key type %T (want RSA or ECDSA)", pub)
	}
	if configured == "" {
		return natural, nil
	}
	alg := jose.SignatureAlgorithm(configured)
	allowed := false
	for _, a := range allowedAlgorithms {
		if string(alg) == a {
			allowed = true
		}
	}
	if !allowed {
		return "", fmt.Errorf("introspection: algorithm %q not in the allow list %v", configured, allowedAlgorithms)
	}
	compatible := alg == natural || (natural == jose.RS256 && alg == jose.PS256)
	if !compatible {
		return "", fmt.Errorf("introspection: algorithm %s does not fit the key (want %s)", alg, natural)
	}
	return alg, nil
}

// sign builds and signs one client assertion: iss = sub = clientID, aud =
// the token endpoint, a random jti, iat = now and exp = now + lifetime.
func (s *assertionSigner) sign(clientID, audience string, now time.Time, lifetime time.Duration) (string, error) {
	jti, err := randomID()
	if err != nil {
		return "", err
	}
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{audience},
		ID:       jti,
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(lifetime)),
	}
	out, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("introspection: sign client assertion: %w", err)
	}
	return out, nil
}

// randomID returns 128 random bits, base64url encoded, for "jti".
func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("introspection: random jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// opaqueKey adapts a crypto.Signer to jose.OpaqueSigner for one algorithm.
type opaqueKey struct {
	key crypto.Signer
	alg jose.SignatureAlgorithm
}

func (k opaqueKey) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: k.key.Public(), Algorithm: string(k.alg), Use: "sig"}
}

func (k opaqueKey) Algs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{k.alg}
}

func (k opaqueKey) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != k.alg {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	switch alg {
	case jose.ES256:
		return k.signECDSA(payload, crypto.SHA256, 32)
	case jose.ES384:
		return k.signECDSA(payload, crypto.SHA384, 48)
	case jose.PS256:
		digest := sha(crypto.SHA256, payload)
		// RFC 7518 section 3.5: the PSS salt is as long as the hash.
		return k.key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	case jose.RS256:
		return k.key.Sign(rand.Reader, sha(crypto.SHA256, payload), crypto.SHA256)
	}
	return nil, jose.ErrUnsupportedAlgorithm
}

// signECDSA converts crypto.Signer's ASN.1 signature into the fixed-size
// R || S form JWS requires (RFC 7518 section 3.4).
func (k opaqueKey) signECDSA(payload []byte, h crypto.Hash, size int) ([]byte, error) {
	der, err := k.key.Sign(rand.Reader, sha(h, payload), h)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 {
		return nil, errors.New("introspection: signer returned an invalid ECDSA signature")
	}
	if sig.R.BitLen() > size*8 || sig.S.BitLen() > size*8 {
		return nil, errors.New("introspection: signer returned an oversized ECDSA signature")
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

func sha(h crypto.Hash, payload []byte) []byte {
	hh := h.New()
	hh.Write(payload)
	return hh.Sum(nil)
}
