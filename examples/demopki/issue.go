package demopki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 397 * 24 * time.Hour
	// renewBefore: a reused certificate must stay valid at least this long,
	// so a demo started today does not fail next week.
	renewBefore = 30 * 24 * time.Hour
	// backdate absorbs clock skew between the generator and the verifiers.
	backdate = time.Hour
)

// issued is a certificate with its key, as loaded or generated.
type issued struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// issue creates a key and a certificate for spec, signed by parent (nil for
// self-signed).
func issue(spec certSpec, parent *issued, now time.Time) (*issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: spec.commonName, Organization: []string{spec.organization}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(leafLifetime),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	switch spec.kind {
	case kindCA:
		// Backdated by a year so that the expired client certificate's
		// validity lies inside its issuer's: only the leaf is at fault.
		tmpl.NotBefore = now.Add(-365 * 24 * time.Hour)
		tmpl.NotAfter = now.Add(caLifetime)
		tmpl.IsCA = true
		tmpl.MaxPathLen = -1
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	case kindSigner:
	case kindServer:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range spec.hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	case kindClient:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		return nil, fmt.Errorf("unknown certificate kind %d", spec.kind)
	}
	if spec.expired {
		tmpl.NotBefore = now.Add(-90 * 24 * time.Hour)
		tmpl.NotAfter = now.Add(-24 * time.Hour)
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &issued{cert: cert, key: key}, nil
}

// reusable reports why an existing certificate cannot be kept, or nil: it
// must match its key and spec, be signed by the current issuer, and (unless
// meant to be expired) stay valid for a while.
func reusable(spec certSpec, got *issued, parent *issued, now time.Time) error {
	cert := got.cert
	if !got.key.PublicKey.Equal(cert.PublicKey) {
		return errors.New("key does not match certificate")
	}
	if cert.Subject.CommonName != spec.commonName || cert.IsCA != (spec.kind == kindCA) {
		return errors.New("subject or type changed")
	}
	if !slices.Equal(hostsOf(cert), spec.hosts) {
		return errors.New("host names changed")
	}
	if parent == nil {
		if !bytes.Equal(cert.RawIssuer, cert.RawSubject) {
			return errors.New("not self-signed")
		}
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			return fmt.Errorf("self-signature: %w", err)
		}
	} else if err := cert.CheckSignatureFrom(parent.cert); err != nil {
		return fmt.Errorf("issuer changed: %w", err)
	}
	if spec.expired {
		if !now.After(cert.NotAfter) {
			return errors.New("not expired")
		}
		return nil
	}
	if now.Before(cert.NotBefore) || cert.NotAfter.Sub(now) < renewBefore {
		return errors.New("outside validity or expiring soon")
	}
	return nil
}

// hostsOf lists a certificate's DNS and IP names in the order issue writes
// them for the spec's hosts (names first, then addresses).
func hostsOf(cert *x509.Certificate) []string {
	var hosts []string
	hosts = append(hosts, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return hosts
}
