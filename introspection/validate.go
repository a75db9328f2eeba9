package introspection

import (
	"time"

	"github.com/hdp-il/fhir-pep/internal/thumbprint"
)

// Expectations is what one request requires of the token's claims.
type Expectations struct {
	// Issuer is PCM's issuer identifier; "iss" must equal it exactly.
	Issuer string
	// Resource is this data source's resource identifier; "aud" must
	// contain it.
	Resource string
	// Thumbprint is Thumbprint(leaf.Raw) of the client certificate the
	// caller presented on this connection; empty when none was presented.
	Thumbprint string
	// Now is the current time; the zero value means time.Now().
	Now time.Time
	// Skew is the tolerated clock difference between PCM and the PEP.
	Skew time.Duration

	// PatientSystems are the identifier systems the "patient" claim may
	// use (passport systems, say). Empty means NationalIDSystem alone;
	// when set, NationalIDSystem is accepted only if listed.
	PatientSystems []string
	// ConsentOptional accepts a token without a consent reference
	// (consent_id or a Consent in fhirContext). The zero value requires
	// one (Caddyfile require_consent, on by default).
	ConsentOptional bool
	// CNFOptional accepts a token without cnf.x5t#S256; a thumbprint that
	// is present must still match. The zero value requires one (Caddyfile
	// cnf_required, on by default).
	CNFOptional bool
}

// ValidationError is a token that PCM vouched for but that must not be
// accepted for this request. Reason is a fixed, low-cardinality string for
// metrics labels and audit records; the message never contains claim values.
type ValidationError struct {
	Reason string
	// Forbidden is true when the token is valid but not for this caller
	// (403); otherwise the token itself is unusable here (401).
	Forbidden bool
}

func (e *ValidationError) Error() string {
	return "introspection: token rejected: " + e.Reason
}

// The validation failures, one per Reason. Validate returns these values
// themselves, so both errors.Is and errors.As work, and the check allocates
// nothing.
var (
	ErrNoClientCertificate = &ValidationError{Reason: "no_client_certificate"}
	ErrInactive            = &ValidationError{Reason: "inactive"}
	ErrExpired             = &ValidationError{Reason: "expired"}
	ErrIssuedInFuture      = &ValidationError{Reason: "issued_in_future"}
	ErrIssuerMismatch      = &ValidationError{Reason: "issuer_mismatch"}
	ErrAudienceMismatch    = &ValidationError{Reason: "audience_mismatch"}
	ErrCertificateMismatch = &ValidationError{Reason: "certificate_mismatch"}
	ErrNotYetValid         = &ValidationError{Reason: "not_yet_valid"}
	ErrUnboundToken        = &ValidationError{Reason: "unbound_token"}
	ErrPatientSystem       = &ValidationError{Reason: "patient_system_not_accepted"}
	ErrNoConsent           = &ValidationError{Reason: "no_consent"}
	// ErrOrganizationMismatch is returned by CheckOrganization.
	ErrOrganizationMismatch = &ValidationError{Reason: "organization_mismatch", Forbidden: true}
)

// Validate checks claims against one request, in this order: a client
// certificate was presented; the token is active; not expired (exp + skew
// after now); not yet valid (nbf - skew after now, when nbf is present);
// not issued in the future (iat - skew not after now, when iat is
// present); iss equals exp.Issuer; aud contains exp.Resource; cnf.x5t#S256
// is present (unless CNFOptional) and equals exp.Thumbprint (constant
// time); the patient's identifier system is accepted; a consent reference
// is present (unless ConsentOptional). Empty expectations never match, so
// a misconfigured PEP denies.
func Validate(c *Claims, exp Expectations) error {
	if exp.Thumbprint == "" {
		return ErrNoClientCertificate
	}
	if c == nil || !c.Active {
		return ErrInactive
	}
	now := exp.Now
	if now.IsZero() {
		now = time.Now()
	}
	if c.ExpiresAt().IsZero() || !c.ExpiresAt().Add(exp.Skew).After(now) {
		return ErrExpired
	}
	if !c.NotBefore().IsZero() && c.NotBefore().Add(-exp.Skew).After(now) {
		return ErrNotYetValid
	}
	if !c.IssuedAt().IsZero() && c.IssuedAt().Add(-exp.Skew).After(now) {
		return ErrIssuedInFuture
	}
	if exp.Issuer == "" || c.Issuer != exp.Issuer {
		return ErrIssuerMismatch
	}
	if exp.Resource == "" || !contains(c.Audience, exp.Resource) {
		return ErrAudienceMismatch
	}
	switch {
	case c.Confirmation.X5tS256 == "" && !exp.CNFOptional:
		return ErrUnboundToken
	case c.Confirmation.X5tS256 != "" && !constantTimeEqual(c.Confirmation.X5tS256, exp.Thumbprint):
		return ErrCertificateMismatch
	}
	if c.PatientSystem != "" && !patientSystemAccepted(c.PatientSystem, exp.PatientSystems) {
		return ErrPatientSystem
	}
	if !exp.ConsentOptional && c.ConsentRef() == "" {
		return ErrNoConsent
	}
	return nil
}

func patientSystemAccepted(system string, accepted []string) bool {
	if len(accepted) == 0 {
		return system == NationalIDSystem
	}
	return contains(accepted, system)
}

// CheckOrganization checks that the organization the token was issued to
// (sp_organization_id, else organization_id) is memberID, the NTN member
// of the certificate presented on this connection: a token obtained by one
// organization must not be usable by another, even one whose certificate
// the token's cnf names. No organization, or no member id, never matches.
// The failure is ErrOrganizationMismatch (403).
func CheckOrganization(c *Claims, memberID string) error {
	if c == nil || memberID == "" || c.CallerOrganization() != memberID {
		return ErrOrganizationMismatch
	}
	return nil
}

// Thumbprint returns the RFC 8705 x5t#S256 value of a DER certificate:
// unpadded base64url of its SHA-256 digest.
func Thumbprint(der []byte) string {
	return thumbprint.Of(der)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// constantTimeEqual compares two strings without an early exit on the
// first differing byte and without converting them to byte slices (which
// would allocate on the per-request path). Lengths are public: thumbprints
// always have 43 characters.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	var v byte
	for i := range len(a) {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
