package introspection

import (
	"errors"
	"strings"
	"testing"
)

func FuzzDecodeClaims(f *testing.F) {
	f.Add(claimsJSON(f, nil))
	f.Add(claimsJSON(f, func(m map[string]any) { m["aud"] = []any{"a", "b"} }))
	f.Add(claimsJSON(f, func(m map[string]any) { m["scope"] = "system/Patient.r"; delete(m, "patient") }))
	f.Add([]byte(`{"active":false}`))
	f.Add([]byte(`{"active":false,"active":true}`))
	f.Add([]byte(`{"active":true,"exp":1.5}`))
	f.Add([]byte(`{"active":true,"cnf":{"x5t#S256":"x"},"fhirContext":[{"identifier":{}}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeClaims(data)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v does not wrap ErrMalformedResponse", err)
			}
			return
		}
		if c == nil || c.Raw == nil {
			t.Fatal("nil claims or Raw without an error")
		}
		if !c.Active {
			if c.Scope != "" || c.Issuer != "" || c.Audience != nil || !c.ExpiresAt.IsZero() ||
				c.Confirmation.X5tS256 != "" || c.Patient != "" || len(c.Raw) != 1 || c.Raw["active"] != false {
				t.Fatalf("inactive claims carry data: %+v", c)
			}
			return
		}
		if c.Raw["active"] != true {
			t.Fatal("Raw disagrees on active")
		}
		if c.ExpiresAt.IsZero() || c.ExpiresAt.Unix() <= 0 || c.Issuer == "" || len(c.Scopes) == 0 {
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
		if !validThumbprint(c.Confirmation.X5tS256) {
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
		if c.Patient != "" && c.Patient != c.PatientSystem+"|"+c.PatientValue {
			t.Fatalf("patient %q split as %q and %q", c.Patient, c.PatientSystem, c.PatientValue)
		}
		for _, ctx := range c.FHIRContext {
			if ctx == nil {
				t.Fatal("nil fhirContext element")
			}
		}
	})
}
