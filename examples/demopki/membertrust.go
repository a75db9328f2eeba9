package demopki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ErrNotMember is returned for a client certificate that no demo member
// vouches for.
var ErrNotMember = errors.New("demopki: client certificate does not belong to a demo member")

// MemberTrust decides which demo member a client certificate belongs to, the
// way the simulators of national services (PCM, NTN) authenticate callers:
// the certificate must be within its validity period and either be pinned by
// a member or chain to a member's CA.
type MemberTrust struct {
	members []trustedMember
}

type trustedMember struct {
	id     string
	roots  *x509.CertPool // nil when the member has no CA
	pinned map[string]bool
}

// MemberTrust loads the members' CA and pinned certificates.
func (ix *Index) MemberTrust() (*MemberTrust, error) {
	mt := &MemberTrust{}
	for _, m := range ix.Members {
		tm := trustedMember{id: m.MemberID, pinned: map[string]bool{}}
		if m.CA != nil {
			ca, err := LoadCertificate(m.CA.Cert)
			if err != nil {
				return nil, err
			}
			tm.roots = x509.NewCertPool()
			tm.roots.AddCert(ca)
		}
		for _, path := range m.Pinned {
			cert, err := LoadCertificate(path)
			if err != nil {
				return nil, err
			}
			tm.pinned[Thumbprint(cert)] = true
		}
		mt.members = append(mt.members, tm)
	}
	return mt, nil
}

// Identify returns the member id for a presented chain (leaf first).
func (mt *MemberTrust) Identify(chain []*x509.Certificate, now time.Time) (string, error) {
	if len(chain) == 0 {
		return "", ErrNotMember
	}
	leaf := chain[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", fmt.Errorf("%w: outside its validity period", ErrNotMember)
	}
	thumb := Thumbprint(leaf)
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	for _, m := range mt.members {
		if m.pinned[thumb] {
			return m.id, nil
		}
		if m.roots == nil {
			continue
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         m.roots,
			Intermediates: intermediates,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			return m.id, nil
		}
	}
	return "", ErrNotMember
}

// VerifyConnection is a tls.Config.VerifyConnection hook that rejects the
// handshake unless the client certificate belongs to a member.
func (mt *MemberTrust) VerifyConnection(now func() time.Time) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		_, err := mt.Identify(cs.PeerCertificates, now())
		return err
	}
}
