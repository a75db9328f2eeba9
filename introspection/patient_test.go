package introspection

import (
	"errors"
	"strings"
	"testing"
)

func TestValidNationalID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"000000018", true},
		{"000000026", true},
		{"000000034", true},
		{"000000042", true},
		{"000000091", true},
		{"123456782", true},
		{"000000019", false}, // check digit off by one
		{"000000099", false},
		{"123456789", false},
		{"000000000", false}, // passes the arithmetic, is no one's id
		{"18", false},        // leading zeros dropped
		{"00000018", false},
		{"0000000018", false},
		{" 00000018", false},
		{"00000001８", false}, // a non-ASCII digit
		{"00000001a", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidNationalID(tt.id); got != tt.want {
			t.Errorf("ValidNationalID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

// TestPatientClaim runs every shape of the "patient" claim through
// DecodeClaims and Validate as the handler does: each is accepted with the
// expected system and value, or refused as an unusable token (401, never
// 403 and never a PCM failure), before any patient lookup could happen.
func TestPatientClaim(t *testing.T) {
	const nid = NationalIDSystem
	tests := []struct {
		name        string
		patient     any
		systems     []string
		wantSystem  string
		wantValue   string
		wantReason  string // "" = accepted
		decodeError bool
	}{
		{name: "system|value", patient: nid + "|000000018", wantSystem: nid, wantValue: "000000018"},
		{name: "bare national id", patient: "000000018", wantSystem: nid, wantValue: "000000018"},
		{name: "bare national id 26", patient: "000000026", wantSystem: nid, wantValue: "000000026"},
		{name: "passport, configured", patient: "http://example.org/passport|AB-123", systems: []string{nid, "http://example.org/passport"}, wantSystem: "http://example.org/passport", wantValue: "AB-123"},
		{name: "passport, not configured", patient: "http://example.org/passport|AB-123", wantReason: "patient_system_not_accepted"},
		{name: "https system", patient: "https://fhir.health.gov.il/identifier/il-national-id|000000018", wantReason: "patient_system_not_accepted"},
		{name: "other system", patient: "http://fhir.health.gov.il/identifier/il-passport|000000018", wantReason: "patient_system_not_accepted"},
		{name: "system with trailing slash", patient: nid + "/|000000018", wantReason: "patient_system_not_accepted"},
		{name: "value with trailing slash", patient: nid + "|000000018/", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "bare with trailing slash", patient: "000000018/", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "leading zeros dropped", patient: nid + "|18", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "bare, leading zeros dropped", patient: "18", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "leading space", patient: " 000000018", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "trailing newline", patient: nid + "|000000018\n", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "space in system", patient: "http://fhir.health.gov.il/identifier/il-national-id |000000018", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "two values, comma", patient: nid + "|000000018,000000026", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "two values, bare", patient: "000000018,000000026", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "two values, two bars", patient: nid + "|000000018|000000026", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "two values, array", patient: []any{"000000018", "000000026"}, wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "two values in system", patient: nid + ",x|000000018", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "bad check digit", patient: nid + "|000000019", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "bare, bad check digit", patient: "123456789", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "all zeros", patient: "000000000", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "number", patient: 18, wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "empty", patient: "", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "empty system", patient: "|000000018", wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "passport with space", patient: "http://example.org/passport|AB 123", systems: []string{"http://example.org/passport"}, wantReason: ReasonInvalidPatient, decodeError: true},
		{name: "passport too long", patient: "http://example.org/passport|" + strings.Repeat("A", 65), systems: []string{"http://example.org/passport"}, wantReason: ReasonInvalidPatient, decodeError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeClaims(claimsJSON(t, func(m map[string]any) { m["patient"] = tt.patient }))
			if tt.decodeError {
				var ce *ClaimError
				if !errors.As(err, &ce) || ce.Reason != tt.wantReason || ce.Claim != "patient" {
					t.Fatalf("DecodeClaims err %v, want a ClaimError %q", err, tt.wantReason)
				}
				if !errors.Is(err, ErrIncompleteClaims) {
					t.Fatal("a ClaimError must be answered like an incomplete token (401)")
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			e := validExpectations()
			e.Now = c.IssuedAt()
			e.PatientSystems = tt.systems
			err = Validate(c, e)
			if tt.wantReason != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Reason != tt.wantReason || ve.Forbidden {
					t.Fatalf("Validate err %v, want 401 %q", err, tt.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.PatientSystem != tt.wantSystem || c.PatientValue != tt.wantValue || c.Patient() != tt.wantSystem+"|"+tt.wantValue {
				t.Fatalf("patient %q split as %q and %q", c.Patient(), c.PatientSystem, c.PatientValue)
			}
		})
	}
}
