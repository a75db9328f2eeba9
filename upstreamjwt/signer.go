// Package upstreamjwt signs the upstream assertion: a short-lived JWT that
// tells an upstream FHIR server which decision fhir-pep took, for servers
// that enforce as well (defence in depth). It is optional and off by
// default.
//
// The assertion is signed with ES256 (P-256 EC key) or RS256 (RSA key of at
// least 2048 bits), chosen by the key type; its "kid" is the RFC 7638 JWK
// thumbprint (SHA-256, base64url) of the public key, and the public key is
// published as a JWKS document ({"keys":[{"kty",...,"kid","alg","use":"sig"}]})
// so the upstream can verify without any shared secret.
//
// Claims:
//
//	iss             the data source (configured issuer)
//	sub             the calling client (PCM client_id)
//	aud             the upstream FHIR base URL
//	patient         the upstream logical id of the patient in context
//	scope           the granted scopes, space separated
//	consent_id      the consent reference
//	baskets         the granted buckets: [{"code","system","historical_depth"}];
//	                absent when the token had no baskets claim
//	correlation_id  the request's X-Correlation-ID (snake_case like
//	                consent_id; the header name is not a valid claim style)
//	iat, exp        exp = iat + 60 s
//	jti             128 random bits
//
// The header "typ" is "JWT": generic JWT libraries on the upstream side
// (nimbus, jose, go-jose) accept it without configuration.
package upstreamjwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Lifetime is the validity of an assertion: exp = iat + 60 s. It is one
// upstream round trip plus clock skew, so a captured assertion is of
// little use.
const Lifetime = 60 * time.Second

// minRSABits rejects RSA keys too short for a 2026 deployment.
const minRSABits = 2048

// Basket is one granted information bucket.
type Basket struct {
	Code            string `json:"code"`
	System          string `json:"system,omitempty"`
	HistoricalDepth string `json:"historical_depth,omitempty"`
}

// Decision is what one assertion describes. Subject, Audience and Patient
// are required: an assertion that does not say who, for which server and
// about whom cannot be enforced by anybody. Baskets nil means the token
// had no baskets claim (the claim is left out); non-nil and empty means
// no bucket is granted ("baskets": []).
type Decision struct {
	Subject       string
	Audience      string
	Patient       string
	Scope         string
	ConsentID     string
	Baskets       []Basket
	CorrelationID string
}

// Claims is the JSON payload of an assertion. It is exported so that a Go
// upstream (and the tests) can decode it.
type Claims struct {
	jwt.Claims
	Patient       string   `json:"patient"`
	Scope         string   `json:"scope,omitempty"`
	ConsentID     string   `json:"consent_id,omitempty"`
	Baskets       []Basket `json:"baskets,omitempty"`
	CorrelationID string   `json:"correlation_id,omitempty"`
}

// payload is Claims as signed: Baskets is an interface so that a nil list
// is left out and an empty one is written as [].
type payload struct {
	jwt.Claims
	Patient       string `json:"patient"`
	Scope         string `json:"scope,omitempty"`
	ConsentID     string `json:"consent_id,omitempty"`
	Baskets       any    `json:"baskets,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// Signer signs assertions with one key. It is safe for concurrent use.
type Signer struct {
	issuer string
	alg    jose.SignatureAlgorithm
	kid    string
	signer jose.Signer
	jwks   []byte
	now    func() time.Time
	rand   io.Reader
}

// Config configures a Signer.
type Config struct {
	// KeyPEM is the private key: PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC
	// PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
	KeyPEM []byte
	// Issuer is "iss": the data source.
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of jti; nil means crypto/rand.
	Rand io.Reader
}

// NewSigner parses the key and prepares the signer and the JWKS document.
func NewSigner(cfg Config) (*Signer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("upstreamjwt: issuer is required")
	}
	key, err := parsePrivateKey(cfg.KeyPEM)
	if err != nil {
		return nil, err
	}
	alg, err := algorithmFor(key.Public())
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("upstreamjwt: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, fmt.Errorf("upstreamjwt: JWKS: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), pub.KeyID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("upstreamjwt: signer: %w", err)
	}
	s := &Signer{issuer: cfg.Issuer, alg: alg, kid: pub.KeyID, signer: signer, jwks: jwks, now: cfg.Now, rand: cfg.Rand}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s, nil
}

// Algorithm is the JWS algorithm, ES256 or RS256.
func (s *Signer) Algorithm() string { return string(s.alg) }

// KeyID is the "kid": the RFC 7638 SHA-256 thumbprint of the public key.
func (s *Signer) KeyID() string { return s.kid }

// JWKS returns the JWKS document of the public key. The caller must not
// modify it.
func (s *Signer) JWKS() []byte { return s.jwks }

// Sign returns a signed assertion for d, issued now.
func (s *Signer) Sign(d Decision) (string, error) {
	if d.Subject == "" || d.Audience == "" || d.Patient == "" {
		return "", errors.New("upstreamjwt: subject, audience and patient are required")
	}
	var jti [16]byte
	if _, err := io.ReadFull(s.rand, jti[:]); err != nil {
		return "", fmt.Errorf("upstreamjwt: random jti: %w", err)
	}
	now := s.now()
	c := payload{
		Claims: jwt.Claims{
			Issuer:   s.issuer,
			Subject:  d.Subject,
			Audience: jwt.Audience{d.Audience},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(Lifetime)),
			ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Patient:       d.Patient,
		Scope:         d.Scope,
		ConsentID:     d.ConsentID,
		CorrelationID: d.CorrelationID,
	}
	if d.Baskets != nil {
		// Non-nil, even empty: "baskets": [] says "no bucket granted",
		// which is not the same as a token without the claim.
		c.Baskets = d.Baskets
	}
	out, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("upstreamjwt: sign: %w", err)
	}
	return out, nil
}

// algorithmFor picks the algorithm from the key type: the issue asks for
// ES256 or RS256, so P-384 and other curves are refused rather than
// silently given an algorithm an upstream may not expect.
func algorithmFor(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("upstreamjwt: EC key must be P-256 (ES256)")
		}
		return jose.ES256, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("upstreamjwt: RSA key shorter than %d bits", minRSABits)
		}
		return jose.RS256, nil
	}
	return "", fmt.Errorf("upstreamjwt: unsupported key type %T (want P-256 EC or RSA)", pub)
}

// parsePrivateKey reads the first PEM block. Errors never quote the key.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("upstreamjwt: no PEM block in the key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("upstreamjwt: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("upstreamjwt: parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("upstreamjwt: unsupported key type %T", key)
	}
	return signer, nil
}
