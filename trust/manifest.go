// Package trust implements the National Trusted Network (NTN) member
// manifest: verification of the signed manifest (a compact JWS), strict
// parsing of its payload, an immutable Snapshot that decides whether a
// client certificate belongs to an active member, and a Store that fetches,
// verifies, persists and atomically swaps manifests.
//
// The wire format is documented in docs/ntn.md. Every doubt rejects: a
// manifest is accepted whole or not at all, and a client certificate is
// trusted only by a fresh manifest.
package trust

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is a member's status in the manifest. Only StatusActive is trusted.
type Status string

// The member statuses the manifest may carry. Any other value rejects the
// whole manifest.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusRemoved   Status = "removed"
)

// Use says how a member certificate is trusted.
type Use string

const (
	// UseTLS pins the certificate itself (SHA-256 of its DER); this is how
	// self-signed member certificates are trusted.
	UseTLS Use = "tls"
	// UseCA trusts client certificates that chain to this CA certificate.
	UseCA Use = "ca"
)

// Limits on free-text fields; they flow into logs, placeholders and policy
// input, so they are bounded and free of control characters.
const (
	maxMemberIDLen = 256
	maxNameLen     = 1024
)

// Manifest is a verified (or, from ParseManifestPayload, merely parsed)
// NTN manifest.
type Manifest struct {
	Version   int64
	IssuedAt  time.Time
	ExpiresAt time.Time
	Members   []Member

	// Set by Verify only.

	// Signer is the x5c leaf that signed the manifest (NTN download certificate).
	Signer *x509.Certificate
	// Algorithm is the JWS alg of the signature.
	Algorithm string
	// Payload is the signed payload, byte for byte.
	Payload []byte
	// Raw is the compact JWS as received.
	Raw []byte
}

// Member is one NTN member organization.
type Member struct {
	ID           string
	Name         string
	Status       Status
	Certificates []MemberCertificate
}

// MemberCertificate is one entry of a member's certificates list.
type MemberCertificate struct {
	Use Use
	// Certificate is x5c[0]: the pinned TLS certificate or the trusted CA.
	Certificate *x509.Certificate
	// Chain is x5c[1:], informational only: trust never depends on it.
	Chain []*x509.Certificate
}

type wireManifest struct {
	Version   *int64        `json:"version"`
	IssuedAt  *string       `json:"issued_at"`
	ExpiresAt *string       `json:"expires_at"`
	Members   *[]wireMember `json:"members"`
}

type wireMember struct {
	MemberID     *string            `json:"member_id"`
	Name         *string            `json:"name"`
	Status       *string            `json:"status"`
	Certificates *[]wireCertificate `json:"certificates"`
}

type wireCertificate struct {
	Use *string  `json:"use"`
	X5C []string `json:"x5c"`
}

var manifestShape = objectWalker("manifest", map[string]fieldWalker{
	"version":    scalarWalker("version"),
	"issued_at":  scalarWalker("issued_at"),
	"expires_at": scalarWalker("expires_at"),
	"members": arrayWalker("members", objectWalker("member", map[string]fieldWalker{
		"member_id": scalarWalker("member_id"),
		"name":      scalarWalker("name"),
		"status":    scalarWalker("status"),
		"certificates": arrayWalker("certificates", objectWalker("certificate", map[string]fieldWalker{
			"use": scalarWalker("use"),
			"x5c": scalarWalker("x5c"),
		})),
	})),
})

// ParseManifestPayload parses and validates a manifest payload (the JSON
// inside the JWS) against the strict schema: exact keys, exact types, all
// fields required, positive version, RFC 3339 times with expires_at after
// issued_at, unique non-empty member ids, known statuses and uses, and
// parseable certificates (a "ca" entry must be a CA certificate). It does
// not check signatures or the current time. Errors carry ReasonSchema.
func ParseManifestPayload(data []byte) (*Manifest, error) {
	m, err := parseManifestPayload(data)
	if err != nil {
		return nil, wrapError(ReasonSchema, err)
	}
	return m, nil
}

func parseManifestPayload(data []byte) (*Manifest, error) {
	if err := walkStrict(data, manifestShape); err != nil {
		return nil, err
	}
	var w wireManifest
	if err := decodeExact(data, &w); err != nil {
		return nil, err
	}
	if w.Version == nil {
		return nil, errors.New("version is required")
	}
	if *w.Version <= 0 {
		return nil, errors.New("version must be a positive integer")
	}
	issued, err := parseTimeField("issued_at", w.IssuedAt)
	if err != nil {
		return nil, err
	}
	expires, err := parseTimeField("expires_at", w.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if !expires.After(issued) {
		return nil, errors.New("expires_at must be after issued_at")
	}
	if w.Members == nil {
		return nil, errors.New("members is required")
	}
	m := &Manifest{
		Version:   *w.Version,
		IssuedAt:  issued,
		ExpiresAt: expires,
		Members:   make([]Member, 0, len(*w.Members)),
	}
	seen := make(map[string]bool, len(*w.Members))
	for i, wm := range *w.Members {
		member, err := parseMember(wm)
		if err != nil {
			return nil, fmt.Errorf("members[%d]: %w", i, err)
		}
		if seen[member.ID] {
			return nil, fmt.Errorf("members[%d]: duplicate member_id", i)
		}
		seen[member.ID] = true
		m.Members = append(m.Members, member)
	}
	return m, nil
}

func parseTimeField(name string, v *string) (time.Time, error) {
	if v == nil {
		return time.Time{}, fmt.Errorf("%s is required", name)
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", name)
	}
	return t, nil
}

func parseMember(w wireMember) (Member, error) {
	if w.MemberID == nil {
		return Member{}, errors.New("member_id is required")
	}
	if err := checkText(*w.MemberID, maxMemberIDLen); err != nil {
		return Member{}, fmt.Errorf("member_id %w", err)
	}
	if w.Name == nil {
		return Member{}, errors.New("name is required")
	}
	if err := checkText(*w.Name, maxNameLen); err != nil {
		return Member{}, fmt.Errorf("name %w", err)
	}
	if w.Status == nil {
		return Member{}, errors.New("status is required")
	}
	status := Status(*w.Status)
	switch status {
	case StatusActive, StatusSuspended, StatusRemoved:
	default:
		return Member{}, errors.New("status must be active, suspended or removed")
	}
	if w.Certificates == nil {
		return Member{}, errors.New("certificates is required")
	}
	member := Member{
		ID:           *w.MemberID,
		Name:         *w.Name,
		Status:       status,
		Certificates: make([]MemberCertificate, 0, len(*w.Certificates)),
	}
	for i, wc := range *w.Certificates {
		c, err := parseMemberCertificate(wc)
		if err != nil {
			return Member{}, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		member.Certificates = append(member.Certificates, c)
	}
	return member, nil
}

func parseMemberCertificate(w wireCertificate) (MemberCertificate, error) {
	if w.Use == nil {
		return MemberCertificate{}, errors.New("use is required")
	}
	use := Use(*w.Use)
	if use != UseTLS && use != UseCA {
		return MemberCertificate{}, errors.New("use must be tls or ca")
	}
	if len(w.X5C) == 0 {
		return MemberCertificate{}, errors.New("x5c must hold at least one certificate")
	}
	certs, err := parseX5C(w.X5C)
	if err != nil {
		return MemberCertificate{}, err
	}
	if use == UseCA && (!certs[0].BasicConstraintsValid || !certs[0].IsCA) {
		return MemberCertificate{}, errors.New("a ca entry must be a CA certificate")
	}
	return MemberCertificate{Use: use, Certificate: certs[0], Chain: certs[1:]}, nil
}

// parseX5C decodes an x5c array (RFC 7515 section 4.1.6: standard base64
// of DER, not base64url).
func parseX5C(entries []string) ([]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(entries))
	for i, s := range entries {
		der, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("x5c[%d] is not base64", i)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("x5c[%d] is not a certificate: %w", i, err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

func checkText(s string, maxLen int) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > maxLen:
		return fmt.Errorf("must be at most %d bytes", maxLen)
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errors.New("must not contain control characters")
		}
	}
	return nil
}

// decodeJSONObjectStrict is used for small JSON objects such as the JWS
// protected header: it rejects duplicate keys and keys outside allowed.
func decodeJSONObjectStrict(data []byte, allowed []string, v any) error {
	fields := make(map[string]fieldWalker, len(allowed))
	for _, k := range allowed {
		fields[k] = scalarWalker(k)
	}
	if err := walkStrict(data, objectWalker("object", fields)); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
