package introspection

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

const testThumbprint = "aU1xZ3dXcFdCdDJzQzlOU0t0N0pVOXhHdWJUcHZJbW8" // 43 chars, 32 bytes

// claimsJSON is a complete active answer with fixed times, edited by edit.
func claimsJSON(t testing.TB, edit func(map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"active":          true,
		"scope":           "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests patient/Patient.r",
		"patient":         testPatient,
		"aud":             testAudience,
		"iss":             testIssuer,
		"client_id":       "org-sp-hospital-a",
		"organization_id": "org-sp-hospital-a",
		"token_type":      "Bearer",
		"exp":             1795000000,
		"iat":             1794999000,
		"jti":             "f3b0c2d4",
		"intent":          "HealthcareService",
		"fhirContext": []any{
			map[string]any{"reference": "Consent/c1", "type": "Consent"},
			map[string]any{"reference": "HealthcareService/hs1", "identifier": map[string]any{"value": "x"}},
		},
		"cnf": map[string]any{"x5t#S256": testThumbprint},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeClaimsComplete(t *testing.T) {
	c, err := DecodeClaims(claimsJSON(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	// The public view of the claims, shared members included.
	type view struct {
		Active                                                   bool
		Scope                                                    string
		Scopes, Audience                                         []string
		Patient, PatientSystem, PatientValue                     string
		Issuer, ClientID, OrganizationID, TokenType, JTI, Intent string
		ExpiresAt, IssuedAt, NotBefore                           time.Time
		FHIRContext                                              []map[string]any
		Confirmation                                             Confirmation
		ConsentID, AccessType, SPOrganizationID                  string
		Baskets                                                  []Basket
	}
	got := view{
		Active: c.Active, Scope: c.Scope, Scopes: c.Scopes, Audience: c.Audience,
		Patient: c.Patient(), PatientSystem: c.PatientSystem, PatientValue: c.PatientValue,
		Issuer: c.Issuer, ClientID: c.ClientID, OrganizationID: c.OrganizationID, TokenType: c.TokenType,
		JTI: c.JTI, Intent: c.Intent, ExpiresAt: c.ExpiresAt(), IssuedAt: c.IssuedAt(), NotBefore: c.NotBefore(),
		FHIRContext: c.FHIRContext(), Confirmation: c.Confirmation,
		ConsentID: c.ConsentID, AccessType: c.AccessType, SPOrganizationID: c.SPOrganizationID, Baskets: c.Baskets,
	}
	want := view{
		Active:         true,
		Scope:          "patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests patient/Patient.r",
		Scopes:         []string{"patient/Observation.rs?_security=http://fhir.health.gov.il/cs/il-hdp-information-buckets|LaboratoryTests", "patient/Patient.r"},
		Patient:        testPatient,
		PatientSystem:  "http://fhir.health.gov.il/identifier/il-national-id",
		PatientValue:   "000000018",
		Audience:       []string{testAudience},
		Issuer:         testIssuer,
		ClientID:       "org-sp-hospital-a",
		OrganizationID: "org-sp-hospital-a",
		TokenType:      "Bearer",
		JTI:            "f3b0c2d4",
		Intent:         "HealthcareService",
		ExpiresAt:      time.Unix(1795000000, 0),
		IssuedAt:       time.Unix(1794999000, 0),
		FHIRContext: []map[string]any{
			{"reference": "Consent/c1", "type": "Consent"},
			{"reference": "HealthcareService/hs1", "identifier": map[string]any{"value": "x"}},
		},
		Confirmation: Confirmation{X5tS256: testThumbprint},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	doc, ok := c.TokenValue().(ast.Object)
	if !ok || doc.Get(ast.StringTerm("active")).Value.Compare(ast.Boolean(true)) != 0 ||
		string(doc.Get(ast.StringTerm("exp")).Value.(ast.Number)) != "1795000000" ||
		doc.Get(ast.StringTerm("iss")).Value.Compare(ast.String(testIssuer)) != 0 {
		t.Fatalf("TokenValue not the decoded response: %v", doc)
	}
}

func TestDecodeClaimsAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		check func(*testing.T, *Claims)
	}{
		{
			name: "aud as array",
			body: claimsJSON(t, func(m map[string]any) { m["aud"] = []any{"https://other", testAudience} }),
			check: func(t *testing.T, c *Claims) {
				if !reflect.DeepEqual(c.Audience, []string{"https://other", testAudience}) {
					t.Fatalf("Audience %v", c.Audience)
				}
			},
		},
		{
			name: "aud as string",
			body: claimsJSON(t, nil),
			check: func(t *testing.T, c *Claims) {
				if !reflect.DeepEqual(c.Audience, []string{testAudience}) {
					t.Fatalf("Audience %v", c.Audience)
				}
			},
		},
		{
			name: "system scope needs no patient",
			body: claimsJSON(t, func(m map[string]any) { m["scope"] = "system/Observation.rs"; delete(m, "patient") }),
			check: func(t *testing.T, c *Claims) {
				if c.Patient() != "" || c.PatientSystem != "" {
					t.Fatalf("patient %q", c.Patient())
				}
			},
		},
		{
			name: "optional members absent",
			body: claimsJSON(t, func(m map[string]any) {
				for _, k := range []string{"iat", "jti", "intent", "fhirContext", "client_id", "organization_id", "token_type"} {
					delete(m, k)
				}
			}),
			check: func(t *testing.T, c *Claims) {
				if !c.IssuedAt().IsZero() || c.FHIRContext() != nil || c.JTI != "" {
					t.Fatalf("%+v", c)
				}
			},
		},
		{
			name: "unknown members kept for the policy",
			body: claimsJSON(t, func(m map[string]any) { m["x_ext"] = []any{1.5, nil} }),
			check: func(t *testing.T, c *Claims) {
				if doc, ok := c.TokenValue().(ast.Object); !ok || doc.Get(ast.StringTerm("x_ext")) == nil {
					t.Fatal("x_ext dropped")
				}
			},
		},
		{
			name: "extra spaces in scope",
			body: claimsJSON(t, func(m map[string]any) { m["scope"] = " patient/Patient.r  user/Observation.r " }),
			check: func(t *testing.T, c *Claims) {
				if !reflect.DeepEqual(c.Scopes, []string{"patient/Patient.r", "user/Observation.r"}) {
					t.Fatalf("Scopes %q", c.Scopes)
				}
			},
		},
		{
			name: "inactive with nothing else",
			body: []byte(`{"active":false}`),
			check: func(t *testing.T, c *Claims) {
				if got := c.TokenValue(); got.Compare(ast.MustParseTerm(`{"active": false}`).Value) != 0 {
					t.Fatalf("TokenValue %v", got)
				}
			},
		},
		{
			name: "inactive ignores other members",
			body: []byte(`{"active":false,"scope":17,"cnf":"x","patient":"system/user/token"}`),
			check: func(t *testing.T, c *Claims) {
				want := &Claims{profile: inactiveProfile, ctxPiece: noContext, digest: inactiveDigest}
				if !reflect.DeepEqual(c, want) {
					t.Fatalf("%+v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeClaims(tt.body)
			if err != nil {
				t.Fatalf("DecodeClaims: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestDecodeClaimsRejects(t *testing.T) {
	edit := func(f func(map[string]any)) []byte { return claimsJSON(t, f) }
	del := func(k string) []byte { return edit(func(m map[string]any) { delete(m, k) }) }
	set := func(k string, v any) []byte { return edit(func(m map[string]any) { m[k] = v }) }
	tests := []struct {
		name string
		body []byte
		want string
	}{
		// Syntax.
		{"empty", []byte(``), "invalid JSON"},
		{"not an object", []byte(`[{"active":true}]`), "not a JSON object"},
		{"string", []byte(`"active"`), "not a JSON object"},
		{"truncated", claimsJSON(t, nil)[:50], "invalid JSON"},
		{"trailing data", append(claimsJSON(t, nil), []byte(`{}`)...), "trailing"},
		{"trailing garbage", append(claimsJSON(t, nil), 'x'), "trailing"},
		{"invalid UTF-8", []byte("{\"active\":false,\"x\":\"\xff\"}"), "UTF-8"},
		{"duplicate active", []byte(`{"active":false,"active":true}`), "duplicate"},
		{"duplicate nested", edit(func(m map[string]any) { m["cnf"] = json.RawMessage(`{"x5t#S256":"a","x5t#S256":"b"}`) }), "duplicate"},
		{"too deep", []byte(`{"active":false,"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`), "deeply"},
		// active.
		{"active missing", del("active"), `missing "active"`},
		{"active string", set("active", "true"), `"active" has the wrong JSON type`},
		{"active number", set("active", 1), `"active" has the wrong JSON type`},
		{"active null", set("active", nil), `"active" has the wrong JSON type`},
		// Required when active.
		{"exp missing", del("exp"), `without "exp"`},
		{"aud missing", del("aud"), `without "aud"`},
		{"scope missing", del("scope"), `without "scope"`},
		{"iss missing", del("iss"), `without "iss"`},
		{"patient missing with patient scope", del("patient"), `without "patient"`},
		{"aud empty string", set("aud", ""), `without "aud"`},
		{"aud empty array", set("aud", []any{}), `without "aud"`},
		{"scope empty", set("scope", ""), `without "scope"`},
		{"scope only spaces", set("scope", "   "), `without "scope"`},
		{"iss empty", set("iss", ""), `without "iss"`},
		// Wrong types.
		{"scope array", set("scope", []any{"patient/Patient.r"}), `"scope" has the wrong JSON type`},
		{"patient object", set("patient", map[string]any{"system": "s", "value": "v"}), `"patient": has the wrong JSON type`},
		{"aud number", set("aud", 5), `"aud" has the wrong JSON type`},
		{"aud array with number", set("aud", []any{testAudience, 5}), `"aud" has the wrong JSON type`},
		{"aud array with empty string", set("aud", []any{testAudience, ""}), `"aud" has the wrong JSON type`},
		{"aud object", set("aud", map[string]any{}), `"aud" has the wrong JSON type`},
		{"iss number", set("iss", 1), `"iss" has the wrong JSON type`},
		{"client_id number", set("client_id", 633), `"client_id" has the wrong JSON type`},
		{"organization_id number", set("organization_id", 633), `"organization_id" has the wrong JSON type`},
		{"token_type bool", set("token_type", true), `"token_type" has the wrong JSON type`},
		{"jti number", set("jti", 7), `"jti" has the wrong JSON type`},
		{"intent array", set("intent", []any{}), `"intent" has the wrong JSON type`},
		{"exp string", set("exp", "1795000000"), `"exp" has the wrong JSON type`},
		{"exp fraction", set("exp", json.Number("1795000000.5")), `"exp" is not a positive integer`},
		{"exp exponent", set("exp", json.Number("1.795e9")), `"exp" is not a positive integer`},
		{"exp zero", set("exp", 0), `"exp" is not a positive integer`},
		{"exp negative", set("exp", -5), `"exp" is not a positive integer`},
		{"exp overflow", set("exp", json.Number("99999999999999999999")), `"exp" is not a positive integer`},
		{"exp beyond year 9999", set("exp", json.Number("253402300800")), `"exp" is not a positive integer`},
		{"iat string", set("iat", "x"), `"iat" has the wrong JSON type`},
		{"iat fraction", set("iat", 1.5), `"iat" is not a positive integer`},
		{"fhirContext object", set("fhirContext", map[string]any{}), `"fhirContext" has the wrong JSON type`},
		{"fhirContext element string", set("fhirContext", []any{"Consent/c1"}), `"fhirContext" has the wrong JSON type`},
		{"fhirContext reference number", set("fhirContext", []any{map[string]any{"reference": 1}}), `"fhirContext[].reference" has the wrong JSON type`},
		{"fhirContext type array", set("fhirContext", []any{map[string]any{"type": []any{}}}), `"fhirContext[].type" has the wrong JSON type`},
		{"fhirContext role bool", set("fhirContext", []any{map[string]any{"role": false}}), `"fhirContext[].role" has the wrong JSON type`},
		{"fhirContext canonical null", set("fhirContext", []any{map[string]any{"canonical": nil}}), `"fhirContext[].canonical" has the wrong JSON type`},
		{"fhirContext identifier string", set("fhirContext", []any{map[string]any{"identifier": "x"}}), `"fhirContext[].identifier" has the wrong JSON type`},
		{"cnf string", set("cnf", testThumbprint), `"cnf": has the wrong JSON type`},
		{"cnf thumbprint number", set("cnf", map[string]any{"x5t#S256": 1}), `"cnf.x5t#S256": has the wrong JSON type`},
		// Formats.
		{"thumbprint padded", set("cnf", map[string]any{"x5t#S256": testThumbprint + "="}), "base64url of 32 bytes"},
		{"thumbprint standard base64", set("cnf", map[string]any{"x5t#S256": strings.Repeat("+", 43)}), "base64url of 32 bytes"},
		{"thumbprint hex", set("cnf", map[string]any{"x5t#S256": strings.Repeat("ab", 32)}), "base64url of 32 bytes"},
		{"thumbprint non-canonical", set("cnf", map[string]any{"x5t#S256": testThumbprint[:42] + "p"}), "base64url of 32 bytes"},
		{"patient without system", set("patient", "|000000018"), `"patient": is neither`},
		{"patient without value", set("patient", "http://fhir.health.gov.il/identifier/il-national-id|"), `"patient": is neither`},
		{"patient with two bars", set("patient", "a|b|c"), `"patient": is neither`},
		{"scope with tab", set("scope", "patient/Patient.r\tuser/x"), "scope-token"},
		{"scope with quote", set("scope", `patient/Patient.r"`), "scope-token"},
		{"scope non-ASCII", set("scope", "patient/Patient.r\u05d0"), "scope-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeClaims(tt.body)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("err %v does not wrap ErrMalformedResponse", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestDecodeClaimsErrorsHideValues(t *testing.T) {
	secret := "000000019" // a bad check digit
	bodies := [][]byte{
		claimsJSON(t, func(m map[string]any) { m["patient"] = secret }),
		claimsJSON(t, func(m map[string]any) { m["patient"] = NationalIDSystem + "|" + secret }),
		claimsJSON(t, func(m map[string]any) { m["scope"] = "patient/" + secret + "\t" }),
		claimsJSON(t, func(m map[string]any) { m["cnf"] = map[string]any{"x5t#S256": secret} }),
		claimsJSON(t, func(m map[string]any) { m["baskets"] = []any{secret + " x"} }),
		claimsJSON(t, func(m map[string]any) { m["consent_id"] = []any{secret} }),
	}
	for i, b := range bodies {
		_, err := DecodeClaims(b)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Fatalf("body %d: err %v", i, err)
		}
	}
}

func TestMissingClaimIsIncomplete(t *testing.T) {
	_, err := DecodeClaims([]byte(`{"active":true,"scope":"patient/Observation.rs","aud":"a","iss":"i","exp":4102444800}`))
	if !errors.Is(err, ErrIncompleteClaims) || !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("missing patient: %v", err)
	}
	_, err = DecodeClaims([]byte(`{"active":"yes"}`))
	if errors.Is(err, ErrIncompleteClaims) || !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("wrong type must be malformed, not incomplete: %v", err)
	}
}
