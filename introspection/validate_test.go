package introspection

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// validClaims builds claims by hand, with a profile and fhirContext of
// their own (never interned), so that tests may change them.
func validClaims() *Claims {
	now := time.Unix(1_795_000_000, 0)
	return &Claims{
		Active: true,
		profile: &profile{
			Scope:         "patient/Patient.r",
			Scopes:        []string{"patient/Patient.r"},
			PatientSystem: NationalIDSystem,
			Audience:      []string{"https://other.example", testAudience},
			Issuer:        testIssuer,
		},
		ctxPiece:     &ctxPiece{},
		PatientValue: "000000018",
		ConsentID:    "PCM-CONSENT-0001",
		exp:          now.Add(30 * time.Second).Unix(),
		iat:          now.Add(-30 * time.Second).Unix(),
		Confirmation: Confirmation{X5tS256: testThumbprint},
	}
}

func validExpectations() Expectations {
	return Expectations{
		Issuer:     testIssuer,
		Resource:   testAudience,
		Thumbprint: testThumbprint,
		Now:        time.Unix(1_795_000_000, 0),
		Skew:       5 * time.Second,
	}
}

const passportSystem = "http://fhir.health.gov.il/identifier/passport"

func passport(c *Claims) *Claims {
	c.PatientSystem, c.PatientValue = passportSystem, "AB1234567"
	return c
}

func noConsent(c *Claims) *Claims {
	c.ConsentID, c.ctxPiece, c.own = "", noContext, ""
	return c
}

// withContext gives hand-built claims a fhirContext of their own.
func withContext(c *Claims, list []map[string]any) *Claims {
	piece, _, vals, ok := splitContext(list)
	if !ok || piece.render() != nil {
		panic("unusable fhirContext")
	}
	c.ctxPiece, c.own = piece, packOwn(vals, "")
	return c
}

func TestValidate(t *testing.T) {
	now := time.Unix(1_795_000_000, 0)
	tests := []struct {
		name   string
		claims func(*Claims) *Claims
		exp    func(*Expectations)
		want   *ValidationError
	}{
		{name: "valid"},
		{name: "no client certificate", exp: func(e *Expectations) { e.Thumbprint = "" }, want: ErrNoClientCertificate},
		{name: "nil claims", claims: func(*Claims) *Claims { return nil }, want: ErrInactive},
		{name: "inactive", claims: func(c *Claims) *Claims { return &Claims{} }, want: ErrInactive},
		{name: "expired beyond skew", claims: func(c *Claims) *Claims { c.exp = now.Add(-5 * time.Second).Unix(); return c }, want: ErrExpired},
		{name: "expired within skew", claims: func(c *Claims) *Claims { c.exp = now.Add(-4 * time.Second).Unix(); return c }},
		{name: "expired, no skew", claims: func(c *Claims) *Claims { c.exp = now.Unix(); return c }, exp: func(e *Expectations) { e.Skew = 0 }, want: ErrExpired},
		{name: "no exp", claims: func(c *Claims) *Claims { c.exp = 0; return c }, want: ErrExpired},
		{name: "iat in the future beyond skew", claims: func(c *Claims) *Claims { c.iat = now.Add(6 * time.Second).Unix(); return c }, want: ErrIssuedInFuture},
		{name: "iat in the future within skew", claims: func(c *Claims) *Claims { c.iat = now.Add(5 * time.Second).Unix(); return c }},
		{name: "iat absent", claims: func(c *Claims) *Claims { c.iat = 0; return c }},
		{name: "issuer mismatch", claims: func(c *Claims) *Claims { c.Issuer = "https://pcm.fhir.health.gov.il"; return c }, want: ErrIssuerMismatch},
		{name: "issuer not configured", exp: func(e *Expectations) { e.Issuer = "" }, want: ErrIssuerMismatch},
		{name: "issuer both empty", claims: func(c *Claims) *Claims { c.Issuer = ""; return c }, exp: func(e *Expectations) { e.Issuer = "" }, want: ErrIssuerMismatch},
		{name: "audience mismatch", claims: func(c *Claims) *Claims { c.Audience = []string{"https://fhir.hmo-c.example/R4"}; return c }, want: ErrAudienceMismatch},
		{name: "audience prefix is not a match", claims: func(c *Claims) *Claims { c.Audience = []string{testAudience + "/"}; return c }, want: ErrAudienceMismatch},
		{name: "resource not configured", exp: func(e *Expectations) { e.Resource = "" }, want: ErrAudienceMismatch},
		{name: "certificate mismatch", exp: func(e *Expectations) { e.Thumbprint = Thumbprint([]byte("another cert")) }, want: ErrCertificateMismatch},
		{name: "certificate mismatch in last byte", exp: func(e *Expectations) { e.Thumbprint = testThumbprint[:42] + "A" }, want: ErrCertificateMismatch},
		{name: "claims without cnf", claims: func(c *Claims) *Claims { c.Confirmation = Confirmation{}; return c }, want: ErrUnboundToken},
		{name: "claims without cnf, cnf optional", claims: func(c *Claims) *Claims { c.Confirmation = Confirmation{}; return c }, exp: func(e *Expectations) { e.CNFOptional = true }},
		{name: "cnf optional still binds a present cnf", exp: func(e *Expectations) { e.CNFOptional = true; e.Thumbprint = Thumbprint([]byte("another cert")) }, want: ErrCertificateMismatch},
		{name: "nbf in the future beyond skew", claims: func(c *Claims) *Claims { c.nbf = now.Add(6 * time.Second).Unix(); return c }, want: ErrNotYetValid},
		{name: "nbf in the future within skew", claims: func(c *Claims) *Claims { c.nbf = now.Add(5 * time.Second).Unix(); return c }},
		{name: "nbf in the future, no skew", claims: func(c *Claims) *Claims { c.nbf = now.Add(time.Second).Unix(); return c }, exp: func(e *Expectations) { e.Skew = 0 }, want: ErrNotYetValid},
		{name: "nbf now", claims: func(c *Claims) *Claims { c.nbf = now.Unix(); return c }, exp: func(e *Expectations) { e.Skew = 0 }},
		{name: "nbf in the past", claims: func(c *Claims) *Claims { c.nbf = now.Add(-time.Hour).Unix(); return c }},
		{name: "passport system not configured", claims: passport, want: ErrPatientSystem},
		{name: "passport system configured", claims: passport, exp: func(e *Expectations) { e.PatientSystems = []string{NationalIDSystem, passportSystem} }},
		{name: "national id not listed", exp: func(e *Expectations) { e.PatientSystems = []string{passportSystem} }, want: ErrPatientSystem},
		{name: "https national id system", claims: func(c *Claims) *Claims {
			c.PatientSystem = "https://fhir.health.gov.il/identifier/il-national-id"
			return c
		}, want: ErrPatientSystem},
		{name: "national id system with trailing slash", claims: func(c *Claims) *Claims { c.PatientSystem = NationalIDSystem + "/"; return c }, want: ErrPatientSystem},
		{name: "no patient (system scope)", claims: func(c *Claims) *Claims { c.PatientSystem, c.PatientValue = "", ""; return c }},
		{name: "no consent", claims: noConsent, want: ErrNoConsent},
		{name: "no consent, consent optional", claims: noConsent, exp: func(e *Expectations) { e.ConsentOptional = true }},
		{name: "consent in fhirContext", claims: func(c *Claims) *Claims {
			c = noConsent(c)
			return withContext(c, []map[string]any{{"type": "Consent", "identifier": map[string]any{"value": "PCM-CONSENT-0001"}}})
		}},
		{name: "fhirContext without Consent", claims: func(c *Claims) *Claims {
			c = noConsent(c)
			return withContext(c, []map[string]any{{"type": "HealthcareService", "identifier": map[string]any{"value": json.Number("98765")}}})
		}, want: ErrNoConsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validClaims()
			if tt.claims != nil {
				c = tt.claims(c)
			}
			e := validExpectations()
			if tt.exp != nil {
				tt.exp(&e)
			}
			err := Validate(c, e)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Reason != tt.want.Reason {
				t.Fatalf("err %v has no Reason %q", err, tt.want.Reason)
			}
		})
	}
}

func TestValidationReasonsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range []*ValidationError{ErrNoClientCertificate, ErrInactive, ErrExpired, ErrIssuedInFuture,
		ErrIssuerMismatch, ErrAudienceMismatch, ErrCertificateMismatch, ErrNotYetValid, ErrUnboundToken,
		ErrPatientSystem, ErrNoConsent, ErrOrganizationMismatch} {
		if e.Reason == "" || seen[e.Reason] {
			t.Fatalf("reason %q empty or repeated", e.Reason)
		}
		seen[e.Reason] = true
	}
}

func TestValidateZeroNowUsesWallClock(t *testing.T) {
	c := validClaims()
	e := validExpectations()
	e.Now = time.Time{}
	if err := Validate(c, e); !errors.Is(err, ErrExpired) {
		t.Fatalf("claims from 2026 validated against the zero time: %v", err)
	}
	c.exp = time.Now().Add(time.Minute).Unix()
	c.iat = 0
	if err := Validate(c, e); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidationErrorsForbiddenOnlyForOrganization(t *testing.T) {
	for _, e := range []*ValidationError{ErrNoClientCertificate, ErrInactive, ErrExpired, ErrIssuedInFuture,
		ErrIssuerMismatch, ErrAudienceMismatch, ErrCertificateMismatch, ErrNotYetValid, ErrUnboundToken,
		ErrPatientSystem, ErrNoConsent} {
		if e.Forbidden {
			t.Errorf("%s is 403, want 401", e.Reason)
		}
	}
	if !ErrOrganizationMismatch.Forbidden {
		t.Error("organization mismatch is not 403")
	}
}

func TestCheckOrganization(t *testing.T) {
	tests := []struct {
		name        string
		sp, org     string
		memberID    string
		nilClaims   bool
		wantAllowed bool
	}{
		{name: "sp_organization_id matches", sp: "org-sp-a", memberID: "org-sp-a", wantAllowed: true},
		{name: "organization_id matches", org: "org-sp-a", memberID: "org-sp-a", wantAllowed: true},
		{name: "sp_organization_id wins over organization_id", sp: "org-sp-a", org: "org-sp-b", memberID: "org-sp-a", wantAllowed: true},
		{name: "sp_organization_id wins, mismatch", sp: "org-sp-b", org: "org-sp-a", memberID: "org-sp-a"},
		{name: "other member", sp: "org-sp-a", memberID: "org-sp-b"},
		{name: "case differs", sp: "ORG-SP-A", memberID: "org-sp-a"},
		{name: "no organization claim", memberID: "org-sp-a"},
		{name: "no member id", sp: "org-sp-a"},
		{name: "both empty"},
		{name: "nil claims", memberID: "org-sp-a", nilClaims: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validClaims()
			c.SPOrganizationID, c.OrganizationID = tt.sp, tt.org
			if tt.nilClaims {
				c = nil
			}
			err := CheckOrganization(c, tt.memberID)
			if tt.wantAllowed != (err == nil) {
				t.Fatalf("CheckOrganization = %v, want allowed %v", err, tt.wantAllowed)
			}
			if err != nil && err != error(ErrOrganizationMismatch) {
				t.Fatalf("err %v, want ErrOrganizationMismatch", err)
			}
		})
	}
}

func TestThumbprint(t *testing.T) {
	der := []byte("certificate DER")
	sum := sha256.Sum256(der)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	got := Thumbprint(der)
	if got != want || len(got) != 43 || !validThumbprint(got) {
		t.Fatalf("Thumbprint = %q, want %q", got, want)
	}
	// RFC 8705 example form: the digest of the empty input.
	if got := Thumbprint(nil); got != "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU" {
		t.Fatalf("Thumbprint(nil) = %q", got)
	}
}

func TestConstantTimeEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"", "", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		if got := constantTimeEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("constantTimeEqual(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
