package introspection

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Claims is a decoded PCM introspection response (RFC 7662 plus the PCM
// members listed in DESIGN.md section 4).
//
// Values returned by Introspect are shared between concurrent requests and
// with the cache: treat them, Raw included, as read-only.
type Claims struct {
	// Active is the RFC 7662 "active" member. When it is false every other
	// field is zero and Raw is {"active": false}.
	Active bool

	// Scope is the space-separated scope string; Scopes holds its tokens.
	Scope  string
	Scopes []string

	// Patient is "system|value" (for example
	// "http://fhir.health.gov.il/identifier/il-national-id|000000018"),
	// split into PatientSystem and PatientValue. Empty when PCM sent none;
	// an active token with a "patient/" scope always has one.
	Patient       string
	PatientSystem string
	PatientValue  string

	// Audience is "aud", normalised to a list (PCM may send a string).
	Audience []string

	Issuer         string
	ClientID       string
	OrganizationID string
	TokenType      string
	JTI            string
	Intent         string

	// ExpiresAt is "exp". IssuedAt is "iat", zero when absent.
	ExpiresAt time.Time
	IssuedAt  time.Time

	// FHIRContext is "fhirContext" as decoded JSON objects ({reference,
	// type, role, canonical, identifier}), kept generic for the policy.
	FHIRContext []map[string]any

	// Confirmation is "cnf": the certificate the token is bound to.
	Confirmation Confirmation

	// Raw is the whole decoded response, used as the policy input "token".
	// Numbers are json.Number.
	Raw map[string]any

	// size is the length of the JSON response, the basis of the cache cost.
	size int
}

// Confirmation is the RFC 8705 "cnf" member.
type Confirmation struct {
	// X5tS256 is "x5t#S256": base64url (no padding) of the SHA-256 of the
	// DER client certificate the token was issued to.
	X5tS256 string
}

// DecodeClaims strictly decodes a PCM introspection response. Every error
// wraps ErrMalformedResponse and names the offending member but never its
// value.
//
// An inactive answer yields Claims{Active: false} and ignores the other
// members, as RFC 7662 allows PCM to omit them. An active answer must carry
// exp, aud, scope, iss and cnf.x5t#S256, and patient whenever a scope starts
// with "patient/". Any known member with the wrong JSON type is an error.
func DecodeClaims(data []byte) (*Claims, error) {
	raw, err := decodeStrictObject(data)
	if err != nil {
		return nil, malformed(err.Error())
	}
	activeValue, ok := raw["active"]
	if !ok {
		return nil, malformed(`missing "active"`)
	}
	active, ok := activeValue.(bool)
	if !ok {
		return nil, wrongType("active")
	}
	if !active {
		return &Claims{Raw: map[string]any{"active": false}, size: len(data)}, nil
	}

	c := &Claims{Active: true, Raw: raw, size: len(data)}
	d := claimsDecoder{raw: raw}
	c.Scope = d.string("scope")
	c.Patient = d.string("patient")
	c.Issuer = d.string("iss")
	c.ClientID = d.string("client_id")
	c.OrganizationID = d.string("organization_id")
	c.TokenType = d.string("token_type")
	c.JTI = d.string("jti")
	c.Intent = d.string("intent")
	c.Audience = d.audience()
	c.ExpiresAt = d.seconds("exp")
	c.IssuedAt = d.seconds("iat")
	c.FHIRContext = d.fhirContext()
	c.Confirmation = d.confirmation()
	if d.err != nil {
		return nil, d.err
	}

	switch {
	case c.ExpiresAt.IsZero():
		return nil, missing("exp")
	case len(c.Audience) == 0:
		return nil, missing("aud")
	case c.Scope == "":
		return nil, missing("scope")
	case c.Issuer == "":
		return nil, missing("iss")
	case c.Confirmation.X5tS256 == "":
		return nil, missing("cnf.x5t#S256")
	}
	if !validThumbprint(c.Confirmation.X5tS256) {
		return nil, malformed(`"cnf.x5t#S256" is not base64url of 32 bytes`)
	}
	if c.Scopes, err = splitScope(c.Scope); err != nil {
		return nil, err
	}
	if c.Patient != "" {
		system, value, ok := strings.Cut(c.Patient, "|")
		if !ok || system == "" || value == "" || strings.Contains(value, "|") {
			return nil, malformed(`"patient" is not "system|value"`)
		}
		c.PatientSystem, c.PatientValue = system, value
	}
	if c.Patient == "" && hasPatientScope(c.Scopes) {
		return nil, missing("patient")
	}
	return c, nil
}

// claimsDecoder extracts typed members from the decoded map and keeps the
// first error, so DecodeClaims reads as a list of fields.
type claimsDecoder struct {
	raw map[string]any
	err error
}

func (d *claimsDecoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// string returns an optional string member; "" when absent.
func (d *claimsDecoder) string(name string) string {
	v, ok := d.raw[name]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.fail(wrongType(name))
	}
	return s
}

// audience accepts a string or a non-empty array of non-empty strings.
func (d *claimsDecoder) audience() []string {
	v, ok := d.raw["aud"]
	if !ok {
		return nil
	}
	switch aud := v.(type) {
	case string:
		if aud == "" {
			return nil
		}
		return []string{aud}
	case []any:
		out := make([]string, 0, len(aud))
		for _, e := range aud {
			s, ok := e.(string)
			if !ok || s == "" {
				d.fail(wrongType("aud"))
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	d.fail(wrongType("aud"))
	return nil
}

// seconds decodes a NumericDate that must be a positive integer written
// without fraction or exponent; zero time when absent.
func (d *claimsDecoder) seconds(name string) time.Time {
	v, ok := d.raw[name]
	if !ok {
		return time.Time{}
	}
	n, ok := v.(json.Number)
	if !ok {
		d.fail(wrongType(name))
		return time.Time{}
	}
	secs, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || secs <= 0 || secs > maxUnixSeconds {
		d.fail(malformed(fmt.Sprintf("%q is not a positive integer number of seconds", name)))
		return time.Time{}
	}
	return time.Unix(secs, 0)
}

// maxUnixSeconds (year 9999) keeps time arithmetic far from overflow.
const maxUnixSeconds = 253402300799

var fhirContextStringMembers = [...]string{"reference", "type", "role", "canonical"}

func (d *claimsDecoder) fhirContext() []map[string]any {
	v, ok := d.raw["fhirContext"]
	if !ok {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		d.fail(wrongType("fhirContext"))
		return nil
	}
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		obj, ok := e.(map[string]any)
		if !ok {
			d.fail(wrongType("fhirContext"))
			return nil
		}
		for _, name := range fhirContextStringMembers {
			if m, present := obj[name]; present {
				if _, ok := m.(string); !ok {
					d.fail(wrongType("fhirContext[]." + name))
					return nil
				}
			}
		}
		if m, present := obj["identifier"]; present {
			if _, ok := m.(map[string]any); !ok {
				d.fail(wrongType("fhirContext[].identifier"))
				return nil
			}
		}
		out = append(out, obj)
	}
	return out
}

func (d *claimsDecoder) confirmation() Confirmation {
	v, ok := d.raw["cnf"]
	if !ok {
		return Confirmation{}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		d.fail(wrongType("cnf"))
		return Confirmation{}
	}
	t, ok := obj["x5t#S256"]
	if !ok {
		return Confirmation{}
	}
	s, ok := t.(string)
	if !ok {
		d.fail(wrongType("cnf.x5t#S256"))
		return Confirmation{}
	}
	return Confirmation{X5tS256: s}
}

// splitScope splits on spaces and checks every token against the RFC 6749
// scope-token grammar (%x21 / %x23-5B / %x5D-7E), which SMART v2 query
// constraints such as "?_security=...|LaboratoryTests&date=ge2024" satisfy.
func splitScope(scope string) ([]string, error) {
	parts := strings.Split(scope, " ")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p == "" {
			continue
		}
		for i := range len(p) {
			ch := p[i]
			if ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\' {
				return nil, malformed(`"scope" contains a character outside the scope-token grammar`)
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, missing("scope")
	}
	return out, nil
}

func hasPatientScope(scopes []string) bool {
	for _, s := range scopes {
		if strings.HasPrefix(s, "patient/") {
			return true
		}
	}
	return false
}

// validThumbprint reports whether s is unpadded base64url of exactly 32
// bytes (a SHA-256 digest), the only form Validate can ever match.
func validThumbprint(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(32) {
		return false
	}
	var buf [32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(s))
	return err == nil && n == 32
}

func malformed(detail string) error {
	return fmt.Errorf("%w: %s", ErrMalformedResponse, detail)
}

func missing(name string) error {
	return fmt.Errorf("%w: %w: active token without %q", ErrMalformedResponse, ErrIncompleteClaims, name)
}

func wrongType(name string) error {
	return fmt.Errorf("%w: %q has the wrong JSON type", ErrMalformedResponse, name)
}
