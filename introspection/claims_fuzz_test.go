package introspection

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzDecodeClaims(f *testing.F) {
	f.Add(claimsJSON(f, nil))
	f.Add(claimsJSON(f, func(m map[string]any) { m["aud"] = []any{"a", "b"} }))
	f.Add(claimsJSON(f, func(m map[string]any) { m["scope"] = "system/Patient.r"; delete(m, "patient") }))
	f.Add([]byte(`{"active":false}`))
	f.Add([]byte(`{"active":false,"active":true}`))
	f.Add([]byte(`{"active":true,"exp":1.5}`))
	f.Add([]byte(`{"active":true,"cnf":{"x5t#S256":"x"},"fhirContext":[{"identifier":{}}]}`))
	f.Add(claimsJSON(f, func(m map[string]any) {
		m["fhirContext"] = []any{
			map[string]any{"type": "Consent", "identifier": map[string]any{"value": 12, "system": "s"}},
			map[string]any{"reference": "Consent/1", "role": "r"},
			map[string]any{"identifier": map[string]any{"value": nil}},
		}
		m["x_unknown"] = []any{1.50, "a"}
	}))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Add(claimsJSON(f, func(m map[string]any) {
		m["patient"], m["consent_id"], m["access_type"], m["sp_organization_id"] = "000000018", "c-1", "one-time", "org-sp"
		m["baskets"] = []any{"laboratoryTests"}
		m["nbf"] = 1794999000
	}))
	f.Add(claimsJSON(f, func(m map[string]any) {
		m["baskets"] = []any{map[string]any{"code": "a", "system": "s", "historical_depth": "2024-01-01T00:00:00Z"}}
		delete(m, "cnf")
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeClaims(data)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			var ce *ClaimError
			if errors.As(err, &ce) && (ce.Reason == "" || !errors.Is(err, ErrIncompleteClaims)) {
				t.Fatalf("ClaimError %v without reason or not answered as 401", err)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v does not wrap ErrMalformedResponse", err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil claims without an error")
		}
		// The policy sees what PCM sent (differential against the plain
		// conversion of the decoded JSON), and the digest is the one of
		// that document.
		checkTokenDocument(t, data, c)
		// policy.TokenDocument: the digest is zero exactly when the value
		// is nil; an engine that does not render the token relies on it.
		if (c.TokenValue() == nil) != (c.TokenDigest() == [32]byte{}) {
			t.Fatalf("TokenValue nil %v but TokenDigest zero %v", c.TokenValue() == nil, c.TokenDigest() == [32]byte{})
		}
		if !c.Active {
			if c.Scope != "" || c.Issuer != "" || c.Audience != nil || !c.ExpiresAt().IsZero() ||
				c.Confirmation.X5tS256 != "" || c.Patient() != "" || c.FHIRContext() != nil {
				t.Fatalf("inactive claims carry data: %+v", c)
			}
			return
		}
		if c.ExpiresAt().IsZero() || c.ExpiresAt().Unix() <= 0 || c.Issuer == "" || len(c.Scopes) == 0 {
			t.Fatalf("active claims without exp, iss or scope: %+v", c)
		}
		if len(c.Audience) == 0 {
			t.Fatal("active claims without aud")
		}
		for _, a := range c.Audience {
			if a == "" {
				t.Fatal("empty audience")
			}
		}
		if c.Confirmation.X5tS256 != "" && !validThumbprint(c.Confirmation.X5tS256) {
			t.Fatalf("invalid thumbprint %q accepted", c.Confirmation.X5tS256)
		}
		for _, s := range c.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
				t.Fatalf("bad scope token %q", s)
			}
		}
		if hasPatientScope(c.Scopes) && (c.PatientSystem == "" || c.PatientValue == "") {
			t.Fatal("patient scope without patient")
		}
		if p := c.Patient(); p != "" && p != c.PatientSystem+"|"+c.PatientValue {
			t.Fatalf("patient %q split as %q and %q", p, c.PatientSystem, c.PatientValue)
		}
		if c.PatientSystem == NationalIDSystem && !ValidNationalID(c.PatientValue) {
			t.Fatalf("invalid national id %q accepted", c.PatientValue)
		}
		checkBaskets(t, c.Baskets)
		for _, ctx := range c.FHIRContext() {
			if ctx == nil {
				t.Fatal("nil fhirContext element")
			}
		}
	})
}

func checkBaskets(t *testing.T, baskets []Basket) {
	t.Helper()
	for _, b := range baskets {
		if !isCodeToken(b.Code) || !isCodeToken(b.System) {
			t.Fatalf("basket %+v accepted", b)
		}
		if b.HistoricalDepth != "" {
			if _, err := time.Parse(time.DateOnly, b.HistoricalDepth); err != nil {
				t.Fatalf("historical_depth %q is not a date", b.HistoricalDepth)
			}
		}
	}
}

func FuzzParsePatient(f *testing.F) {
	for _, s := range []string{
		"000000018", NationalIDSystem + "|000000026", "http://example.org/passport|AB-12",
		"|000000018", "a|b|c", " 000000018", "18", NationalIDSystem + "/|000000018", "000000018,000000026",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, claim string) {
		system, value, ok := parsePatient(claim)
		if !ok {
			if system != "" || value != "" {
				t.Fatal("parts returned with a refusal")
			}
			return
		}
		if system == "" || value == "" || strings.ContainsAny(system+value, "|, \t\r\n") {
			t.Fatalf("%q split as %q and %q", claim, system, value)
		}
		if claim != system+"|"+value && claim != value {
			t.Fatalf("%q is not %q|%q", claim, system, value)
		}
		if claim == value && system != NationalIDSystem {
			t.Fatalf("bare %q given system %q", claim, system)
		}
		if system == NationalIDSystem && !ValidNationalID(value) {
			t.Fatalf("invalid national id %q accepted", value)
		}
	})
}

func FuzzParseBaskets(f *testing.F) {
	for _, s := range []string{
		`["laboratoryTests"]`, `[]`, `[{"code":"a","system":"s","historical_depth":"2024-01-01"}]`,
		`[{"code":"a","historical_depth":"2024-01-01T10:00:00+02:00"}]`, `["a",{"code":"b"}]`, `"a"`, `[{"code":"a","x":1}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeStrictObject(append(append([]byte(`{"b":`), data...), '}'))
		if err != nil {
			return
		}
		baskets, ok := parseBaskets(v["b"])
		if !ok {
			if baskets != nil {
				t.Fatal("baskets returned with a refusal")
			}
			return
		}
		if baskets == nil {
			t.Fatal("accepted baskets are nil")
		}
		checkBaskets(t, baskets)
	})
}

func FuzzNormaliseDate(f *testing.F) {
	for _, s := range []string{"2024", "2024-02", "2024-02-29", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123+02:00", "2024-13-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := normaliseDate(s)
		if !ok {
			return
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			t.Fatalf("%q normalised to %q", s, d)
		}
		if !strings.HasPrefix(s, d[:4]) {
			t.Fatalf("%q normalised to %q, another year", s, d)
		}
		if len(s) >= 10 && s[:10] != d {
			t.Fatalf("%q normalised to %q, not its date", s, d)
		}
	})
}
