package demopki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// ServerTLSConfig returns the TLS configuration of a simulator: the named
// server certificate ("pcm", "ntn", "pep") and a required client
// certificate that trust accepts.
func (ix *Index) ServerTLSConfig(server string, trust *MemberTrust, now func() time.Time) (*tls.Config, error) {
	p, ok := ix.TLS.Servers[server]
	if !ok {
		return nil, fmt.Errorf("demopki: no server certificate %q", server)
	}
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, fmt.Errorf("demopki: server %s: %w", server, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// Chain verification is the member trust's job: members bring
		// their own CAs or self-signed certificates.
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: trust.VerifyConnection(now),
	}, nil
}

// ClientTLSConfig returns a TLS client configuration that trusts the demo
// TLS CA and presents the named client certificate (see FindClient); an
// empty name presents no certificate.
func (ix *Index) ClientTLSConfig(client string) (*tls.Config, error) {
	roots, err := ix.TLSRoots()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if client == "" {
		return cfg, nil
	}
	c, ok := ix.FindClient(client)
	if !ok {
		return nil, fmt.Errorf("demopki: no client certificate %q", client)
	}
	pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("demopki: client %s: %w", client, err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg, nil
}

// TLSRoots returns a pool holding the demo TLS CA.
func (ix *Index) TLSRoots() (*x509.CertPool, error) {
	ca, err := LoadCertificate(ix.TLS.CA.Cert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, nil
}
