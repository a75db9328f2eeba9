// Package ntntest builds NTN test fixtures: a small PKI (trust anchor,
// download certificate, member CAs and client certificates) and signed
// manifests in the wire format of docs/ntn.md. It deliberately does not
// import package trust, so that manifests are encoded independently of the
// code that parses them. For tests and demos only.
package ntntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Epoch is the fixed "now" of NTN tests: the default manifest is issued an
// hour before it and expires a day after it.
var Epoch = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// Default validity of fixture certificates: wide enough to cover both
// Epoch and the wall clock (TLS servers in tests check the real time).
var (
	DefaultNotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	DefaultNotAfter  = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
)

// KeyType selects the key algorithm of a fixture certificate.
type KeyType int

// Key types.
const (
	ECDSAP256 KeyType = iota
	ECDSAP384
	RSA2048
)

var (
	rsaMu   sync.Mutex
	rsaKeys []*rsa.PrivateKey
	rsaNext int
)

// rsaPoolSize RSA keys are generated once per process and handed out in
// turn: RSA key generation is slow, and tests only need distinct keys
// within one chain.
const rsaPoolSize = 3

// NewKey returns a private key of the given type.
func NewKey(tb testing.TB, kt KeyType) crypto.Signer {
	tb.Helper()
	switch kt {
	case ECDSAP256, ECDSAP384:
		curve := elliptic.P256()
		if kt == ECDSAP384 {
			curve = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	case RSA2048:
		rsaMu.Lock()
		defer rsaMu.Unlock()
		if len(rsaKeys) < rsaPoolSize {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				tb.Fatal(err)
			}
			rsaKeys = append(rsaKeys, k)
			return k
		}
		k := rsaKeys[rsaNext%rsaPoolSize]
		rsaNext++
		return k
	}
	tb.Fatalf("unknown key type %d", kt)
	return nil
}

// Issuer is a certificate with its private key.
type Issuer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertOptions describe a fixture certificate.
type CertOptions struct {
	CommonName string
	KeyType    KeyType
	// Zero times mean DefaultNotBefore / DefaultNotAfter.
	NotBefore time.Time
	NotAfter  time.Time
	IsCA      bool
	// ExtKeyUsage defaults to clientAuth+serverAuth for leaves and none
	// for CAs.
	ExtKeyUsage []x509.ExtKeyUsage
	// KeyUsage defaults to certSign+CRLSign for CAs and digitalSignature
	// for leaves.
	KeyUsage    x509.KeyUsage
	DNSNames    []string
	IPAddresses []net.IP
}

func (o CertOptions) template(tb testing.TB) *x509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatal(err)
	}
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"fhir-pep test"}},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.IsCA,
		KeyUsage:              o.KeyUsage,
		ExtKeyUsage:           o.ExtKeyUsage,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPAddresses,
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = DefaultNotBefore
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = DefaultNotAfter
	}
	if t.KeyUsage == 0 {
		if o.IsCA {
			t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		} else {
			t.KeyUsage = x509.KeyUsageDigitalSignature
		}
	}
	if t.ExtKeyUsage == nil && !o.IsCA {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	}
	return t
}

func create(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// SelfSigned returns a self-signed certificate (a root CA when opts.IsCA).
func SelfSigned(tb testing.TB, opts CertOptions) *Issuer {
	tb.Helper()
	key := NewKey(tb, opts.KeyType)
	tmpl := opts.template(tb)
	return &Issuer{Cert: create(tb, tmpl, tmpl, key.Public(), key), Key: key}
}

// NewRootCA returns a self-signed CA.
func NewRootCA(tb testing.TB, cn string, kt KeyType) *Issuer {
	tb.Helper()
	return SelfSigned(tb, CertOptions{CommonName: cn, KeyType: kt, IsCA: true})
}

// Issue returns a certificate signed by i.
func (i *Issuer) Issue(tb testing.TB, opts CertOptions) *Issuer {
	tb.Helper()
	key := NewKey(tb, opts.KeyType)
	return &Issuer{Cert: create(tb, opts.template(tb), i.Cert, key.Public(), i.Key), Key: key}
}

// TLSCertificate returns i as a tls.Certificate, followed by chain.
func (i *Issuer) TLSCertificate(chain ...*x509.Certificate) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{i.Cert.Raw}, PrivateKey: i.Key, Leaf: i.Cert}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// CertPEM encodes certificates as PEM.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes a private key as PKCS#8 PEM.
func KeyPEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Thumbprint is the base64url (unpadded) SHA-256 of the certificate's DER,
// as in x5t#S256 and cnf. It is computed here rather than with
// internal/thumbprint on purpose: like the rest of ntntest, it is an
// independent encoder the product code is checked against.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Manifest is the manifest payload in wire format.
type Manifest struct {
	Version   int64    `json:"version"`
	IssuedAt  string   `json:"issued_at"`
	ExpiresAt string   `json:"expires_at"`
	Members   []Member `json:"members"`
}

// Member is a manifest member in wire format.
type Member struct {
	MemberID     string        `json:"member_id"`
	Name         string        `json:"name"`
	Status       string        `json:"status"`
	Certificates []Certificate `json:"certificates"`
}

// Certificate is a member certificate entry in wire format.
type Certificate struct {
	Use string   `json:"use"`
	X5C []string `json:"x5c"`
}

// X5C encodes certificates as an x5c array (standard base64 DER).
func X5C(certs ...*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return out
}

// TLS returns a "tls" (pinned) certificate entry.
func TLS(cert *x509.Certificate) Certificate { return Certificate{Use: "tls", X5C: X5C(cert)} }

// CA returns a "ca" certificate entry.
func CA(cert *x509.Certificate) Certificate { return Certificate{Use: "ca", X5C: X5C(cert)} }

// ActiveMember returns an active member with the given certificates.
func ActiveMember(id string, certs ...Certificate) Member {
	return Member{MemberID: id, Name: "Member " + id, Status: "active", Certificates: certs}
}

// NewManifest returns a manifest issued an hour before Epoch and expiring
// a day after it.
func NewManifest(version int64, members ...Member) Manifest {
	if members == nil {
		members = []Member{}
	}
	return Manifest{
		Version:   version,
		IssuedAt:  Epoch.Add(-time.Hour).Format(time.RFC3339),
		ExpiresAt: Epoch.Add(24 * time.Hour).Format(time.RFC3339),
		Members:   members,
	}
}

// Signer signs manifests as NTN does.
type Signer struct {
	Key crypto.Signer
	// Chain is the x5c header: the download certificate first.
	Chain []*x509.Certificate
	// Alg defaults to ES256 for ECDSA P-256 keys, ES384 for P-384, PS256 for RSA.
	Alg jose.SignatureAlgorithm
	// Type is the typ header; default "ntn-manifest+jws".
	Type string
}

func (s Signer) alg() jose.SignatureAlgorithm {
	if s.Alg != "" {
		return s.Alg
	}
	switch k := s.Key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P384() {
			return jose.ES384
		}
		return jose.ES256
	default:
		return jose.PS256
	}
}

// Sign returns a compact JWS of payload.
func (s Signer) Sign(tb testing.TB, payload []byte) []byte {
	tb.Helper()
	typ := s.Type
	if typ == "" {
		typ = "ntn-manifest+jws"
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if len(s.Chain) > 0 {
		opts = opts.WithHeader("x5c", X5C(s.Chain...))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg(), Key: s.Key}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(out)
}

// SignManifest encodes m and signs it.
func (s Signer) SignManifest(tb testing.TB, m Manifest) []byte {
	tb.Helper()
	payload, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return s.Sign(tb, payload)
}

// PKI is an NTN signing hierarchy: a trust anchor, an intermediate and
// the download certificate that signs manifests.
type PKI struct {
	TrustAnchor  *Issuer
	Intermediate *Issuer
	Download     *Issuer
}

// NewPKI builds an NTN PKI whose download certificate has the given key type.
func NewPKI(tb testing.TB, download KeyType) *PKI {
	tb.Helper()
	ta := NewRootCA(tb, "NTN Test Trust Anchor", ECDSAP384)
	inter := ta.Issue(tb, CertOptions{CommonName: "NTN Test Intermediate", KeyType: ECDSAP256, IsCA: true})
	dl := inter.Issue(tb, CertOptions{
		CommonName:  "NTN Test Download",
		KeyType:     download,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	return &PKI{TrustAnchor: ta, Intermediate: inter, Download: dl}
}

// Signer returns a signer with the download key and the x5c chain
// [download, intermediate].
func (p *PKI) Signer() Signer {
	return Signer{Key: p.Download.Key, Chain: []*x509.Certificate{p.Download.Cert, p.Intermediate.Cert}}
}
