// Package testpki builds throw-away certificate authorities and
// certificates for tests: NTN members, PCM and upstream servers. Keys are
// ECDSA P-256 so that building a PKI stays fast under -race.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Leaf is an issued (or self-signed) certificate with its key.
type Leaf struct {
	Cert  *x509.Certificate
	Key   crypto.Signer
	Chain []*x509.Certificate // issuing CAs, leaf excluded
}

// nextSerial returns a random serial: safe for parallel tests, and unique
// enough that no two certificates of one test share one.
func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

// NewCA returns a self-signed CA valid from an hour ago for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key}
}

// Options adjust an issued certificate.
type Options struct {
	NotBefore, NotAfter time.Time
	DNSNames            []string
	IPs                 []net.IP
}

// Client issues a client-auth certificate.
func (ca *CA) Client(t testing.TB, name string, opts ...Options) *Leaf {
	t.Helper()
	return issue(t, ca, name, x509.ExtKeyUsageClientAuth, opts)
}

// Server issues a server certificate for localhost and 127.0.0.1 (plus any
// names in opts).
func (ca *CA) Server(t testing.TB, name string, opts ...Options) *Leaf {
	t.Helper()
	o := Options{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if len(opts) > 0 {
		o.NotBefore, o.NotAfter = opts[0].NotBefore, opts[0].NotAfter
		o.DNSNames = append(o.DNSNames, opts[0].DNSNames...)
		o.IPs = append(o.IPs, opts[0].IPs...)
	}
	return issue(t, ca, name, x509.ExtKeyUsageServerAuth, []Options{o})
}

// SelfSigned returns a self-signed client certificate (a pinned NTN member).
func SelfSigned(t testing.TB, name string, opts ...Options) *Leaf {
	t.Helper()
	return issue(t, nil, name, x509.ExtKeyUsageClientAuth, opts)
}

func issue(t testing.TB, ca *CA, name string, usage x509.ExtKeyUsage, opts []Options) *Leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if len(opts) > 0 {
		o := opts[0]
		if !o.NotBefore.IsZero() {
			tmpl.NotBefore = o.NotBefore
		}
		if !o.NotAfter.IsZero() {
			tmpl.NotAfter = o.NotAfter
		}
		tmpl.DNSNames, tmpl.IPAddresses = o.DNSNames, o.IPs
	}
	parent, signer := tmpl, crypto.Signer(key)
	var chain []*x509.Certificate
	if ca != nil {
		parent, signer = ca.Cert, ca.Key
		chain = []*x509.Certificate{ca.Cert}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{Cert: cert, Key: key, Chain: chain}
}

// TLS returns the certificate for a tls.Config.
func (l *Leaf) TLS() tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
	for _, ca := range l.Chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c
}

// Pool returns a pool holding only the given CAs.
func Pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
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
func KeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// WriteFiles writes the leaf's certificate and key into dir as
// <name>.crt and <name>.key (0600) and returns both paths.
func (l *Leaf) WriteFiles(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, CertPEM(l.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, KeyPEM(t, l.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// WriteCA writes the CA certificate into dir/<name>.pem and returns the path.
func (ca *CA) WriteCA(t testing.TB, dir, name string) string {
	t.Helper()
	f := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(f, CertPEM(ca.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
