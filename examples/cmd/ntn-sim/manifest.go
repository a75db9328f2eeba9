package main

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hdp-il/fhir-pep/examples/demopki"
)

// ManifestType is the JWS "typ" header of the NTN manifest (DESIGN.md §3).
const ManifestType = "ntn-manifest+jws"

// Member statuses in the manifest.
const (
	statusActive    = "active"
	statusSuspended = "suspended"
)

// manifest is the signed payload, exactly as DESIGN.md §3 defines it.
type manifest struct {
	Version   int64            `json:"version"`
	IssuedAt  string           `json:"issued_at"`
	ExpiresAt string           `json:"expires_at"`
	Members   []manifestMember `json:"members"`
}

type manifestMember struct {
	MemberID     string         `json:"member_id"`
	Name         string         `json:"name"`
	Status       string         `json:"status"`
	Certificates []manifestCert `json:"certificates"`
}

// manifestCert lists one certificate chain: use "tls" pins the first
// certificate, use "ca" trusts what it issues.
type manifestCert struct {
	Use string   `json:"use"`
	X5C []string `json:"x5c"`
}

// memberEntry is a demo member's manifest entry while active; the
// simulator changes its status or drops it.
func memberEntry(m demopki.Member) (manifestMember, error) {
	entry := manifestMember{MemberID: m.MemberID, Name: m.Name, Status: statusActive}
	if m.CA != nil {
		der, err := certDER(m.CA.Cert)
		if err != nil {
			return manifestMember{}, err
		}
		entry.Certificates = append(entry.Certificates, manifestCert{Use: "ca", X5C: []string{der}})
	}
	for _, path := range m.Pinned {
		der, err := certDER(path)
		if err != nil {
			return manifestMember{}, err
		}
		entry.Certificates = append(entry.Certificates, manifestCert{Use: "tls", X5C: []string{der}})
	}
	if len(entry.Certificates) == 0 {
		return manifestMember{}, fmt.Errorf("member %s has no certificates", m.MemberID)
	}
	return entry, nil
}

// certDER returns a certificate file's DER in standard base64, the x5c
// encoding (RFC 7515 section 4.1.6).
func certDER(path string) (string, error) {
	cert, err := demopki.LoadCertificate(path)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(cert.Raw), nil
}

// newManifestSigner signs with the NTN download key, ES256, with the
// download certificate in x5c so verifiers can chain it to the trust anchor.
func newManifestSigner(pki *demopki.Index) (jose.Signer, error) {
	key, err := demopki.LoadPrivateKey(pki.NTN.Download.Key)
	if err != nil {
		return nil, err
	}
	der, err := certDER(pki.NTN.Download.Cert)
	if err != nil {
		return nil, err
	}
	return newSigner(key, []string{der})
}

func newSigner(key *ecdsa.PrivateKey, x5c []string) (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithType(ManifestType).WithHeader("x5c", x5c)
	return jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
}

// sign serializes and signs a manifest as a compact JWS.
func sign(signer jose.Signer, m manifest) (string, error) {
	payload, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
