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
// members listed in DESIGN.md section 4), in a compact form (tokendoc.go):
// the members many tokens share (Scope, Scopes, Audience, Issuer,
// ClientID, OrganizationID, TokenType, Intent, SPOrganizationID,
// AccessType, Baskets, PatientSystem, and the shape of fhirContext) are
// fields of shared, interned values promoted into Claims; the rest is this
// token's own.
//
// Claims come from DecodeClaims only (a zero Claims has no shared part and
// reading a shared field of it panics). Values returned by Introspect are
// shared between concurrent requests and with the cache: treat them, and
// every slice and map they hold, as read-only.
type Claims struct {
	*profile
	*ctxPiece

	// PatientValue is the value of "patient" ("system|value", or a bare
	// value, which means NationalIDSystem); PatientSystem is its system.
	// Both empty when PCM sent none; an active token with a "patient/"
	// scope always has one. Patient returns the normalised "system|value".
	PatientValue string

	JTI string

	// ConsentID is "consent_id", the consent reference the national PCM
	// sends instead of (or besides) a Consent entry in fhirContext; see
	// ConsentRef.
	ConsentID string

	// Confirmation is "cnf": the certificate the token is bound to.
	Confirmation Confirmation

	// own packs the fhirContext slot values and the JSON of unmodelled
	// members (see packOwn); usually "" or shared with other tokens.
	own string

	// exp, iat and nbf are seconds since the epoch, zero when absent; see
	// ExpiresAt, IssuedAt, NotBefore.
	exp, iat, nbf int64

	// digest is TokenDigest, computed once by DecodeClaims.
	digest [32]byte

	// ownBytes is the heap this answer holds beyond its fixed-size
	// structs: its strings, raw JSON and the shared pieces it created;
	// the basis of the cache cost.
	ownBytes int32

	// Active is the RFC 7662 "active" member. When it is false every other
	// field is zero and TokenValue is {"active": false}.
	Active bool

	hasJTI     bool // "jti" was sent (possibly empty)
	cnfCompact bool // cnf is {"x5t#S256": Confirmation.X5tS256}
}

// ExpiresAt is "exp"; zero when absent (never for an active answer).
func (c *Claims) ExpiresAt() time.Time { return unixOrZero(c.exp) }

// IssuedAt is "iat"; zero when absent.
func (c *Claims) IssuedAt() time.Time { return unixOrZero(c.iat) }

// NotBefore is "nbf"; zero when absent.
func (c *Claims) NotBefore() time.Time { return unixOrZero(c.nbf) }

func unixOrZero(secs int64) time.Time {
	if secs == 0 {
		return time.Time{}
	}
	return time.Unix(secs, 0)
}

// Patient is the normalised "system|value" of the patient claim (a bare
// value gets NationalIDSystem); "" when PCM sent none.
func (c *Claims) Patient() string {
	if c.PatientValue == "" {
		return ""
	}
	return c.PatientSystem + "|" + c.PatientValue
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
// exp, aud, scope and iss, and patient whenever a scope starts with
// "patient/". Any known member with the wrong JSON type is an error.
//
// The claims that describe this one token - patient, baskets, consent_id,
// access_type, sp_organization_id, nbf, cnf - are checked for shape here
// and fail with a *ClaimError: PCM answered, the token is unusable (401),
// and asking again will not help. Whether cnf and a consent reference are
// required, and which patient identifier systems are accepted, is
// configuration, checked by Validate.
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
		return &Claims{profile: inactiveProfile, ctxPiece: noContext, digest: inactiveDigest}, nil
	}

	c := &Claims{Active: true}
	d := claimsDecoder{raw: raw}
	var sh parsedShared
	sh.scope = d.string("scope")
	sh.issuer = d.string("iss")
	sh.clientID = d.string("client_id")
	sh.organizationID = d.string("organization_id")
	sh.tokenType = d.string("token_type")
	c.JTI = d.string("jti")
	sh.intent = d.string("intent")
	sh.audience = d.audience()
	c.exp = d.seconds("exp")
	c.iat = d.seconds("iat")
	sh.fhirContext = d.fhirContext()
	if d.err != nil {
		return nil, d.err
	}
	if err := c.decodeTokenClaims(raw, &sh); err != nil {
		return nil, err
	}

	switch {
	case c.exp == 0:
		return nil, missing("exp")
	case len(sh.audience) == 0:
		return nil, missing("aud")
	case sh.scope == "":
		return nil, missing("scope")
	case sh.issuer == "":
		return nil, missing("iss")
	}
	if sh.scopes, err = splitScope(sh.scope); err != nil {
		return nil, err
	}
	if c.PatientValue == "" && hasPatientScope(sh.scopes) {
		return nil, missing("patient")
	}
	if err := c.compact(raw, &sh); err != nil {
		return nil, err
	}
	return c, nil
}

// parsedShared holds the decoded members that go into the shared profile
// until compact interns it.
type parsedShared struct {
	scope, issuer, clientID, organizationID, tokenType, intent string
	spOrganizationID, accessType, patientSystem                string
	patientBare                                                bool
	scopes, audience                                           []string
	baskets                                                    []Basket
	fhirContext                                                []map[string]any
}

// decodeTokenClaims decodes the claims that only this token can get wrong
// (see DecodeClaims); every error is a *ClaimError.
func (c *Claims) decodeTokenClaims(raw map[string]any, sh *parsedShared) error {
	if v, ok := raw["patient"]; ok {
		s, isString := v.(string)
		if !isString {
			return claimError("patient", ReasonInvalidPatient, "has the wrong JSON type")
		}
		system, value, valid := parsePatient(s)
		if !valid {
			return claimError("patient", ReasonInvalidPatient, `is neither "system|value" nor a national id with a valid check digit`)
		}
		sh.patientSystem, c.PatientValue = system, value
		sh.patientBare = !strings.Contains(s, "|")
	}
	var err error
	if c.ConsentID, err = tokenString(raw, "consent_id", ReasonInvalidConsent); err != nil {
		return err
	}
	if sh.accessType, err = tokenString(raw, "access_type", ReasonInvalidClaim); err != nil {
		return err
	}
	if sh.spOrganizationID, err = tokenString(raw, "sp_organization_id", ReasonInvalidClaim); err != nil {
		return err
	}
	if v, ok := raw["baskets"]; ok {
		baskets, valid := parseBaskets(v)
		if !valid {
			return claimError("baskets", ReasonInvalidBaskets, "is not a list of bucket codes or of {code, system, historical_depth} objects")
		}
		sh.baskets = baskets
	}
	if v, ok := raw["nbf"]; ok {
		n, isNumber := v.(json.Number)
		secs, perr := strconv.ParseInt(string(n), 10, 64)
		if !isNumber || perr != nil || secs <= 0 || secs > maxUnixSeconds {
			return claimError("nbf", ReasonInvalidNotBefore, "is not a positive integer number of seconds")
		}
		c.nbf = secs
	}
	if c.Confirmation, err = confirmation(raw); err != nil {
		return err
	}
	return nil
}

// tokenString returns an optional string claim: "" when absent, an error
// when present but not a non-empty string.
func tokenString(raw map[string]any, name, reason string) (string, error) {
	v, ok := raw[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", claimError(name, reason, "is not a non-empty string")
	}
	return s, nil
}

// CallerOrganization is the organization the token was issued to:
// sp_organization_id, else organization_id; "" when PCM sent neither.
func (c *Claims) CallerOrganization() string {
	if c.SPOrganizationID != "" {
		return c.SPOrganizationID
	}
	return c.OrganizationID
}

// ConsentRef is the consent the token was issued under: consent_id, else
// the reference (or, without one, the identifier value) of the first
// fhirContext entry of type Consent or whose reference names a Consent;
// "" when there is none.
func (c *Claims) ConsentRef() string {
	if c.ConsentID != "" {
		return c.ConsentID
	}
	return c.consentRef()
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
		if len(aud) > maxAudiences {
			d.fail(malformed(fmt.Sprintf("more than %d audiences", maxAudiences)))
			return nil
		}
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
// without fraction or exponent (so that its text is exactly
// strconv.FormatInt of the value, which TokenValue relies on); zero when
// absent.
func (d *claimsDecoder) seconds(name string) int64 {
	v, ok := d.raw[name]
	if !ok {
		return 0
	}
	n, ok := v.(json.Number)
	if !ok {
		d.fail(wrongType(name))
		return 0
	}
	secs, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || secs <= 0 || secs > maxUnixSeconds {
		d.fail(malformed(fmt.Sprintf("%q is not a positive integer number of seconds", name)))
		return 0
	}
	return secs
}

// Plausibility bounds of list members. A PCM answer names one audience
// (this data source) and a handful of context entries (the consent, a
// practitioner, an encounter); far longer lists are not an answer PCM
// gives, and a list of many tiny values costs far more heap than its JSON
// bytes, which the cache's cost model counts (tokendoc.go).
const (
	maxAudiences      = 16
	maxContextEntries = 32
)

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
	if len(arr) > maxContextEntries {
		d.fail(malformed(fmt.Sprintf("more than %d fhirContext entries", maxContextEntries)))
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

// confirmation decodes "cnf". Absent, or without x5t#S256, is the zero
// Confirmation (Validate decides whether that is acceptable); a thumbprint
// that is not unpadded base64url of 32 bytes (hex, padded or standard
// base64) can never match a certificate and is a *ClaimError.
func confirmation(raw map[string]any) (Confirmation, error) {
	v, ok := raw["cnf"]
	if !ok {
		return Confirmation{}, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Confirmation{}, claimError("cnf", ReasonInvalidConfirmation, "has the wrong JSON type")
	}
	t, ok := obj["x5t#S256"]
	if !ok {
		return Confirmation{}, nil
	}
	s, ok := t.(string)
	if !ok {
		return Confirmation{}, claimError("cnf.x5t#S256", ReasonInvalidConfirmation, "has the wrong JSON type")
	}
	if !validThumbprint(s) {
		return Confirmation{}, claimError("cnf.x5t#S256", ReasonInvalidConfirmation, "is not base64url of 32 bytes")
	}
	return Confirmation{X5tS256: s}, nil
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

// ClaimError is an active PCM answer with a claim of this token that is
// present but unusable: a malformed patient, baskets, cnf, nbf or consent
// reference. PCM answered correctly about a token that cannot be acted on,
// so the handler answers 401 invalid_token, never 503, and never looks the
// patient up. Reason is a fixed, low-cardinality string; the message names
// the claim but never its value.
//
// It matches ErrMalformedResponse (it came out of DecodeClaims) and
// ErrIncompleteClaims (like a missing claim, it makes the token unusable
// and retrying will not help) under errors.Is.
type ClaimError struct {
	Claim  string
	Reason string
	detail string
}

// Reasons of a ClaimError.
const (
	ReasonInvalidPatient      = "invalid_patient"
	ReasonInvalidBaskets      = "invalid_baskets"
	ReasonInvalidConsent      = "invalid_consent"
	ReasonInvalidConfirmation = "invalid_cnf"
	ReasonInvalidNotBefore    = "invalid_nbf"
	ReasonInvalidClaim        = "invalid_claim"
)

func (e *ClaimError) Error() string {
	return fmt.Sprintf("%s: unusable claim %q: %s", ErrMalformedResponse, e.Claim, e.detail)
}

// Is makes errors.Is(err, ErrMalformedResponse) and
// errors.Is(err, ErrIncompleteClaims) hold.
func (e *ClaimError) Is(target error) bool {
	return target == ErrMalformedResponse || target == ErrIncompleteClaims
}

func claimError(claim, reason, detail string) error {
	return &ClaimError{Claim: claim, Reason: reason, detail: detail}
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
