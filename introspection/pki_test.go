package introspection

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// testPKI is a throw-away CA with a PCM server certificate and NTN client
// certificates for each supported key type. It is built once per test
// binary because RSA key generation is slow under -race.
type testPKI struct {
	roots   *x509.CertPool
	server  tls.Certificate
	clients map[string]*testClientCert // "p256", "p384", "rsa"
	// stranger is a client certificate from another CA: PCM must refuse it.
	stranger *testClientCert
	// otherRoots trusts only the other CA: a client using it must refuse
	// PCM's certificate.
	otherRoots *x509.CertPool
}

type testClientCert struct {
	tls tls.Certificate
	key crypto.Signer
	der []byte
}

var (
	pkiOnce sync.Once
	pki     *testPKI
	pkiErr  error
)

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pki, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatalf("build test PKI: %v", pkiErr)
	}
	return pki
}

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(name string) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key}, nil
}

var serial int64 = 100

func (ca *testCA) issue(name string, key crypto.Signer, usage x509.ExtKeyUsage) (*testClientCert, error) {
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	return &testClientCert{
		tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		key: key,
		der: der,
	}, nil
}

func buildPKI() (*testPKI, error) {
	ca, err := newTestCA("test PCM and NTN CA")
	if err != nil {
		return nil, err
	}
	other, err := newTestCA("some other CA")
	if err != nil {
		return nil, err
	}
	p := &testPKI{roots: x509.NewCertPool(), otherRoots: x509.NewCertPool(), clients: map[string]*testClientCert{}}
	p.roots.AddCert(ca.cert)
	p.otherRoots.AddCert(other.cert)

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	server, err := ca.issue("pcm.test", serverKey, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	p.server = server.tls

	keys := map[string]func() (crypto.Signer, error){
		"p256": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"p384": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
		"rsa":  func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	}
	for name, gen := range keys {
		key, err := gen()
		if err != nil {
			return nil, err
		}
		if p.clients[name], err = ca.issue("ds-"+name, key, x509.ExtKeyUsageClientAuth); err != nil {
			return nil, err
		}
	}
	strangerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if p.stranger, err = other.issue("stranger", strangerKey, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return p, nil
}

// mtlsClient is what the Caddy module builds: the NTN client certificate
// and only PCM's roots.
func mtlsClient(t testing.TB, roots *x509.CertPool, cert *testClientCert) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert.tls},
			MinVersion:   tls.VersionTLS12,
		},
		MaxIdleConnsPerHost: 16,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
