package introspection

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func validClaims() *Claims {
	now := time.Unix(1_795_000_000, 0)
	return &Claims{
		Active:       true,
		Scope:        "patient/Patient.r",
		Scopes:       []string{"patient/Patient.r"},
		Patient:      testPatient,
		Audience:     []string{"https://other.example", testAudience},
		Issuer:       testIssuer,
		ExpiresAt:    now.Add(30 * time.Second),
		IssuedAt:     now.Add(-30 * time.Second),
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
		{name: "expired beyond skew", claims: func(c *Claims) *Claims { c.ExpiresAt = now.Add(-5 * time.Second); return c }, want: ErrExpired},
		{name: "expired within skew", claims: func(c *Claims) *Claims { c.ExpiresAt = now.Add(-4 * time.Second); return c }},
		{name: "expired, no skew", claims: func(c *Claims) *Claims { c.ExpiresAt = now; return c }, exp: func(e *Expectations) { e.Skew = 0 }, want: ErrExpired},
		{name: "no exp", claims: func(c *Claims) *Claims { c.ExpiresAt = time.Time{}; return c }, want: ErrExpired},
		{name: "iat in the future beyond skew", claims: func(c *Claims) *Claims { c.IssuedAt = now.Add(6 * time.Second); return c }, want: ErrIssuedInFuture},
		{name: "iat in the future within skew", claims: func(c *Claims) *Claims { c.IssuedAt = now.Add(5 * time.Second); return c }},
		{name: "iat absent", claims: func(c *Claims) *Claims { c.IssuedAt = time.Time{}; return c }},
		{name: "issuer mismatch", claims: func(c *Claims) *Claims { c.Issuer = "https://pcm.fhir.health.gov.il"; return c }, want: ErrIssuerMismatch},
		{name: "issuer not configured", exp: func(e *Expectations) { e.Issuer = "" }, want: ErrIssuerMismatch},
		{name: "issuer both empty", claims: func(c *Claims) *Claims { c.Issuer = ""; return c }, exp: func(e *Expectations) { e.Issuer = "" }, want: ErrIssuerMismatch},
		{name: "audience mismatch", claims: func(c *Claims) *Claims { c.Audience = []string{"https://fhir.hmo-c.example/R4"}; return c }, want: ErrAudienceMismatch},
		{name: "audience prefix is not a match", claims: func(c *Claims) *Claims { c.Audience = []string{testAudience + "/"}; return c }, want: ErrAudienceMismatch},
		{name: "resource not configured", exp: func(e *Expectations) { e.Resource = "" }, want: ErrAudienceMismatch},
		{name: "certificate mismatch", exp: func(e *Expectations) { e.Thumbprint = Thumbprint([]byte("another cert")) }, want: ErrCertificateMismatch},
		{name: "certificate mismatch in last byte", exp: func(e *Expectations) { e.Thumbprint = testThumbprint[:42] + "A" }, want: ErrCertificateMismatch},
		{name: "claims without cnf", claims: func(c *Claims) *Claims { c.Confirmation = Confirmation{}; return c }, want: ErrCertificateMismatch},
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
		ErrIssuerMismatch, ErrAudienceMismatch, ErrCertificateMismatch} {
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
	c.ExpiresAt = time.Now().Add(time.Minute)
	c.IssuedAt = time.Time{}
	if err := Validate(c, e); err != nil {
		t.Fatalf("Validate: %v", err)
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
