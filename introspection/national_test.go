package introspection

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"testing"
	"time"
)

// placeholder matches the "<...>" strings of the national example answers
// (testdata/national, copied from the shared fixtures); the only ones are
// cnf thumbprints, filled with the test certificate's.
var placeholder = regexp.MustCompile(`"<[^"]*>"`)

func nationalAnswer(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/national/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return placeholder.ReplaceAll(b, []byte(`"`+testThumbprint+`"`))
}

// TestNationalAnswers decodes and validates every example answer in the
// shapes the national PCM sends.
func TestNationalAnswers(t *testing.T) {
	const alias = "http://fhir.health.gov.il/cs/hdp-information-buckets"
	tests := []struct {
		file       string
		thumbprint string
		consent    string
		org        string
		accessType string
		baskets    []Basket
	}{
		{
			file: "seed-openapi.json", thumbprint: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
			consent: "PCM-CONSENT-0001", org: "org-sp",
		},
		{
			file: "national-adapter.json", thumbprint: testThumbprint,
			consent: "consent-12345", org: "org-sp-123", accessType: "continuous",
			baskets: []Basket{{System: DefaultBasketSystem, Code: "laboratoryTests"}},
		},
		{
			file: "baskets-with-depth.json", thumbprint: testThumbprint,
			consent: "PCM-CONSENT-0002", org: "org-sp-a", accessType: "one-time",
			baskets: []Basket{
				{System: alias, Code: "laboratoryTests", HistoricalDepth: "2024-01-01"},
				{System: alias, Code: "encounterInformation", HistoricalDepth: "2020-01-01"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := DecodeClaims(nationalAnswer(t, tt.file))
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			if c.PatientSystem != NationalIDSystem || c.PatientValue != "000000018" {
				t.Fatalf("patient %q %q", c.PatientSystem, c.PatientValue)
			}
			if got := c.ConsentRef(); got != tt.consent {
				t.Errorf("ConsentRef %q, want %q", got, tt.consent)
			}
			if got := c.CallerOrganization(); got != tt.org {
				t.Errorf("CallerOrganization %q, want %q", got, tt.org)
			}
			if c.AccessType != tt.accessType {
				t.Errorf("AccessType %q", c.AccessType)
			}
			if !reflect.DeepEqual(c.Baskets, tt.baskets) {
				t.Errorf("Baskets %#v, want %#v", c.Baskets, tt.baskets)
			}
			exp := Expectations{
				Issuer: c.Issuer, Resource: c.Audience[0], Thumbprint: tt.thumbprint,
				Now: c.IssuedAt(), Skew: 5 * time.Second,
			}
			if err := Validate(c, exp); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if err := CheckOrganization(c, tt.org); err != nil {
				t.Fatalf("CheckOrganization(own member): %v", err)
			}
			if err := CheckOrganization(c, "org-sp-other"); !errors.Is(err, ErrOrganizationMismatch) {
				t.Fatalf("CheckOrganization(other member): %v", err)
			}
		})
	}
}

// TestNationalClaims covers the claims the national PCM adds: each
// well-formed value is decoded, each malformed one is a ClaimError (401).
func TestNationalClaims(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		check  func(t *testing.T, c *Claims)
		reason string // ClaimError reason; "" = accepted
	}{
		{name: "consent_id", edit: func(m map[string]any) { m["consent_id"] = "PCM-CONSENT-0001"; delete(m, "fhirContext") },
			check: func(t *testing.T, c *Claims) {
				if c.ConsentID != "PCM-CONSENT-0001" || c.ConsentRef() != "PCM-CONSENT-0001" {
					t.Fatalf("consent %q %q", c.ConsentID, c.ConsentRef())
				}
			}},
		{name: "consent_id wins over fhirContext", edit: func(m map[string]any) { m["consent_id"] = "c-9" },
			check: func(t *testing.T, c *Claims) {
				if c.ConsentRef() != "c-9" {
					t.Fatalf("ConsentRef %q", c.ConsentRef())
				}
			}},
		{name: "Consent reference in fhirContext", check: func(t *testing.T, c *Claims) {
			if c.ConsentID != "" || c.ConsentRef() != "Consent/c1" {
				t.Fatalf("consent %q %q", c.ConsentID, c.ConsentRef())
			}
		}},
		{name: "Consent by reference only, no type", edit: func(m map[string]any) {
			m["fhirContext"] = []any{map[string]any{"reference": "https://pcm.example/fhir/Consent/c7"}}
		}, check: func(t *testing.T, c *Claims) {
			if c.ConsentRef() != "https://pcm.example/fhir/Consent/c7" {
				t.Fatalf("ConsentRef %q", c.ConsentRef())
			}
		}},
		{name: "Consent by numeric identifier", edit: func(m map[string]any) {
			m["fhirContext"] = []any{map[string]any{"type": "Consent", "identifier": map[string]any{"value": 4711}}}
		}, check: func(t *testing.T, c *Claims) {
			if c.ConsentRef() != "4711" {
				t.Fatalf("ConsentRef %q", c.ConsentRef())
			}
		}},
		{name: "only a HealthcareService in fhirContext", edit: func(m map[string]any) {
			m["fhirContext"] = []any{map[string]any{"type": "HealthcareService", "identifier": map[string]any{"value": 98765}}}
		}, check: func(t *testing.T, c *Claims) {
			if c.ConsentRef() != "" {
				t.Fatalf("ConsentRef %q", c.ConsentRef())
			}
		}},
		{name: "Consent entry without reference or identifier", edit: func(m map[string]any) {
			m["fhirContext"] = []any{map[string]any{"type": "Consent"}}
		}, check: func(t *testing.T, c *Claims) {
			if c.ConsentRef() != "" {
				t.Fatalf("ConsentRef %q", c.ConsentRef())
			}
		}},
		{name: "access_type and sp_organization_id", edit: func(m map[string]any) {
			m["access_type"], m["sp_organization_id"] = "one-time", "org-sp-a"
		}, check: func(t *testing.T, c *Claims) {
			if c.AccessType != "one-time" || c.SPOrganizationID != "org-sp-a" || c.CallerOrganization() != "org-sp-a" {
				t.Fatalf("%q %q %q", c.AccessType, c.SPOrganizationID, c.CallerOrganization())
			}
		}},
		{name: "organization_id alone", check: func(t *testing.T, c *Claims) {
			if c.CallerOrganization() != "org-sp-hospital-a" {
				t.Fatalf("CallerOrganization %q", c.CallerOrganization())
			}
		}},
		{name: "nbf", edit: func(m map[string]any) { m["nbf"] = 1794999000 }, check: func(t *testing.T, c *Claims) {
			if !c.NotBefore().Equal(time.Unix(1794999000, 0)) {
				t.Fatalf("NotBefore %v", c.NotBefore())
			}
		}},
		{name: "cnf absent", edit: func(m map[string]any) { delete(m, "cnf") }, check: func(t *testing.T, c *Claims) {
			if c.Confirmation.X5tS256 != "" {
				t.Fatal("thumbprint invented")
			}
		}},
		{name: "cnf without x5t#S256", edit: func(m map[string]any) { m["cnf"] = map[string]any{"jkt": "x"} }, check: func(t *testing.T, c *Claims) {
			if c.Confirmation.X5tS256 != "" {
				t.Fatal("thumbprint invented")
			}
		}},
		{name: "consent_id number", edit: func(m map[string]any) { m["consent_id"] = 12345 }, reason: ReasonInvalidConsent},
		{name: "consent_id empty", edit: func(m map[string]any) { m["consent_id"] = "" }, reason: ReasonInvalidConsent},
		{name: "consent_id null", edit: func(m map[string]any) { m["consent_id"] = nil }, reason: ReasonInvalidConsent},
		{name: "access_type array", edit: func(m map[string]any) { m["access_type"] = []any{"one-time"} }, reason: ReasonInvalidClaim},
		{name: "sp_organization_id number", edit: func(m map[string]any) { m["sp_organization_id"] = 123 }, reason: ReasonInvalidClaim},
		{name: "nbf string", edit: func(m map[string]any) { m["nbf"] = "1794999000" }, reason: ReasonInvalidNotBefore},
		{name: "nbf fraction", edit: func(m map[string]any) { m["nbf"] = 1.5 }, reason: ReasonInvalidNotBefore},
		{name: "nbf negative", edit: func(m map[string]any) { m["nbf"] = -1 }, reason: ReasonInvalidNotBefore},
		{name: "cnf string", edit: func(m map[string]any) { m["cnf"] = testThumbprint }, reason: ReasonInvalidConfirmation},
		{name: "thumbprint number", edit: func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": 1} }, reason: ReasonInvalidConfirmation},
		{name: "thumbprint padded", edit: func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": testThumbprint + "="} }, reason: ReasonInvalidConfirmation},
		{name: "thumbprint hex", edit: func(m map[string]any) {
			m["cnf"] = map[string]any{"x5t#S256": "a7c3f1e2d4b5a6978877665544332211a7c3f1e2d4b5a6978877665544332211"}
		}, reason: ReasonInvalidConfirmation},
		{name: "thumbprint standard base64", edit: func(m map[string]any) {
			m["cnf"] = map[string]any{"x5t#S256": "dBjftJeZ4CVP+mB92K27uhbUJU1p1r/wW1gFWFOEjXk"}
		}, reason: ReasonInvalidConfirmation},
		{name: "thumbprint of 31 bytes", edit: func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": testThumbprint[:41]} }, reason: ReasonInvalidConfirmation},
		{name: "thumbprint empty", edit: func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": ""} }, reason: ReasonInvalidConfirmation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeClaims(claimsJSON(t, tt.edit))
			if tt.reason != "" {
				var ce *ClaimError
				if !errors.As(err, &ce) || ce.Reason != tt.reason {
					t.Fatalf("err %v, want ClaimError %q", err, tt.reason)
				}
				if !errors.Is(err, ErrIncompleteClaims) || !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("err %v does not match ErrIncompleteClaims and ErrMalformedResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			tt.check(t, c)
		})
	}
}

// TestClaimErrorMessage: the message names the claim, never its value, and
// the error stays a ClaimError when the Client wraps it in ErrUnavailable,
// so the handler can tell an unusable token from a PCM failure.
func TestClaimErrorMessage(t *testing.T) {
	_, err := DecodeClaims(claimsJSON(t, func(m map[string]any) { m["baskets"] = json.RawMessage(`"x"`) }))
	err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	var ce *ClaimError
	if !errors.As(err, &ce) || ce.Claim != "baskets" {
		t.Fatalf("err %v", err)
	}
	want := `introspection: PCM unavailable: introspection: malformed PCM response: unusable claim "baskets": is not a list`
	if got := err.Error(); len(got) < len(want) || got[:len(want)] != want {
		t.Fatalf("message %q", got)
	}
}
