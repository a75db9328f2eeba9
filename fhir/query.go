package fhir

import (
	"strings"
	"unicode/utf8"
)

// MaxParams bounds the number of parameters in one query string or form body.
// More is rejected (ErrInvalidQuery) so that one request cannot make the
// parser allocate without limit.
const MaxParams = 256

// Param is one parameter of a query string or _search form body.
//
// For "subject:Patient.name=Cohen,Levi" the fields are Key
// "subject:Patient.name", Name "subject", Modifier "Patient", Chain "name",
// Values ["Cohen", "Levi"], Raw "Cohen,Levi". For a reverse chain
// "_has:Observation:patient:code=1234-5" they are Name "_has", IsHas true,
// Chain "Observation:patient:code". Everything is percent-decoded.
type Param struct {
	// Key is the full decoded parameter name as sent, modifier and chain
	// included. ParamsMap uses it as the map key.
	Key string `json:"key"`
	// Name is the search parameter code before any ':' or '.'.
	Name string `json:"name"`
	// Modifier follows the first ':' of the first chain link ("exact",
	// "missing", "not", or a resource type that restricts a reference).
	Modifier string `json:"modifier,omitempty"`
	// Chain is everything after the first '.' ("name" in subject.name, or
	// "organization.name" in subject.organization.name); for _has it is
	// everything after "_has:".
	Chain string `json:"chain,omitempty"`
	// IsHas marks a reverse chain (_has:...).
	IsHas bool `json:"is_has,omitempty"`
	// Values are the comma-separated alternatives (FHIR "OR"). A comma
	// escaped as "\," does not split, and every "\" escape is kept verbatim,
	// so strings.Join(Values, ",") == Raw always holds.
	Values []string `json:"values"`
	// Raw is the decoded value as sent.
	Raw string `json:"raw"`
}

// ParseQuery parses a raw (still percent-encoded) query string or
// application/x-www-form-urlencoded body into parameters, in order. The rules
// are those of the package documentation; any violation rejects the whole
// query with ErrInvalidQuery or ErrInvalidParamName.
func ParseQuery(raw string) ([]Param, error) {
	if raw == "" {
		return nil, nil
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		// Only printable ASCII may appear raw; ';' is refused because some
		// servers still treat it as a pair separator (parameter smuggling).
		if c <= ' ' || c >= 0x7f || c == ';' || c == '#' {
			return nil, ErrInvalidQuery
		}
	}
	n := strings.Count(raw, "&") + 1
	if n > MaxParams {
		return nil, ErrInvalidQuery
	}
	params := make([]Param, 0, n)
	for rest := raw; ; {
		pair := rest
		amp := strings.IndexByte(rest, '&')
		if amp >= 0 {
			pair, rest = rest[:amp], rest[amp+1:]
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			return nil, ErrInvalidQuery
		}
		key, ok := formDecode(pair[:eq])
		if !ok {
			return nil, ErrInvalidQuery
		}
		val, ok := formDecode(pair[eq+1:])
		if !ok {
			return nil, ErrInvalidQuery
		}
		p, err := newParam(key, val)
		if err != nil {
			return nil, err
		}
		params = append(params, p)
		if amp < 0 {
			return params, nil
		}
	}
}

// newParam builds a Param from a decoded key and value.
func newParam(key, raw string) (Param, error) {
	p := Param{Key: key, Raw: raw}
	if !parseKey(key, &p) {
		return Param{}, ErrInvalidParamName
	}
	values, ok := splitValues(raw)
	if !ok {
		return Param{}, ErrInvalidQuery
	}
	p.Values = values
	return p, nil
}

// ValidParamName reports whether key is a syntactically valid search
// parameter name as accepted in queries: name[:modifier][.chain...] or
// _has:Type:param:param (nested _has allowed). It does not check that the
// parameter exists for any resource type.
func ValidParamName(key string) bool {
	var p Param
	return parseKey(key, &p)
}

func parseKey(key string, p *Param) bool {
	if strings.HasPrefix(key, "_has:") {
		p.Name, p.IsHas, p.Chain = "_has", true, key[len("_has:"):]
		return validHas(p.Chain)
	}
	head := key
	if dot := strings.IndexByte(key, '.'); dot >= 0 {
		head, p.Chain = key[:dot], key[dot+1:]
		if !validChain(p.Chain) {
			return false
		}
	}
	p.Name = head
	if colon := strings.IndexByte(head, ':'); colon >= 0 {
		p.Name, p.Modifier = head[:colon], head[colon+1:]
		if !isToken(p.Modifier) {
			return false
		}
	}
	return isParamCode(p.Name)
}

// validChain checks "link(.link)*" where link is code[:modifier].
func validChain(chain string) bool {
	for {
		link := chain
		dot := strings.IndexByte(chain, '.')
		if dot >= 0 {
			link, chain = chain[:dot], chain[dot+1:]
		}
		code := link
		if colon := strings.IndexByte(link, ':'); colon >= 0 {
			code = link[:colon]
			if !isToken(link[colon+1:]) {
				return false
			}
		}
		if !isParamCode(code) {
			return false
		}
		if dot < 0 {
			return true
		}
	}
}

// validHas checks the part after "_has:": Type:reference-param:then either a
// parameter (with an optional modifier) or another "_has:" level.
func validHas(s string) bool {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok || !IsResourceType(typ) {
		return false
	}
	ref, rest, ok := strings.Cut(rest, ":")
	if !ok || !isParamCode(ref) {
		return false
	}
	if nested, isNested := strings.CutPrefix(rest, "_has:"); isNested {
		return validHas(nested)
	}
	code, mod, hasMod := strings.Cut(rest, ":")
	if hasMod && !isToken(mod) {
		return false
	}
	return isParamCode(code)
}

// isParamCode matches [A-Za-z_][A-Za-z0-9_-]{0,127}: the shape of every search
// parameter code (_id, _lastUpdated, address-city, code-value-quantity).
func isParamCode(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	if c := s[0]; !isAlpha(c) && c != '_' {
		return false
	}
	return isToken(s)
}

// isToken matches [A-Za-z0-9_-]{1,128}: modifiers and chain type names.
func isToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// splitValues splits a decoded value on commas that are not escaped. FHIR
// escapes are "\," "\|" "\$" and "\\"; any other use of "\" (including a
// trailing one) makes the value invalid. Escapes are kept in the output.
func splitValues(raw string) ([]string, bool) {
	n := 1
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			if i+1 >= len(raw) {
				return nil, false
			}
			switch raw[i+1] {
			case ',', '|', '$', '\\':
				i++
			default:
				return nil, false
			}
		case ',':
			n++
		}
	}
	values := make([]string, 0, n)
	start := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case ',':
			values = append(values, raw[start:i])
			start = i + 1
		}
	}
	return append(values, raw[start:]), true
}

// formDecode decodes application/x-www-form-urlencoded text: "+" is a space
// and %XX is a byte. It fails on a malformed escape, on a result that still
// contains a valid escape (double encoding such as %2541), on control
// characters and on invalid UTF-8.
func formDecode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		// Raw bytes were already checked to be printable ASCII.
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", false
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if !cleanText(out) || hasEscape(out) {
		return "", false
	}
	return out, true
}

// cleanText reports whether s is valid UTF-8 without C0 controls or DEL.
func cleanText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// hasEscape reports whether s contains a complete percent-escape.
func hasEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
	}
	return false
}

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}

// EncodeQuery renders params as a query string in their order, deterministic
// for a given slice: "key=v1,v2&key2=v". Values are joined with a raw ","; in
// keys and values every byte outside [A-Za-z0-9-._~:/|@$] is percent-encoded
// with upper-case hex, so a space is "%20", "+" is "%2B", "\" is "%5C" and an
// escaped comma inside a value is "%5C%2C". ParseQuery of the result yields
// params again.
func EncodeQuery(params []Param) string {
	if len(params) == 0 {
		return ""
	}
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		queryEscape(&b, p.Key)
		b.WriteByte('=')
		for j, v := range p.Values {
			if j > 0 {
				b.WriteByte(',')
			}
			queryEscape(&b, v)
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

func queryEscape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) {
			b.WriteByte(c)
			continue
		}
		switch c {
		case '-', '.', '_', '~', ':', '/', '|', '@', '$':
			b.WriteByte(c)
		default:
			// ',' inside one value only ever follows a "\" escape; encoding it
			// keeps that value's text unambiguous to naive splitters upstream.
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0x0f])
		}
	}
}

// TokenValue renders system|code as one token search value, escaping what
// FHIR search gives a meaning to inside each part ("\" "," "|" "$"), so that
// a label such as a forbidden security label is always one value, never an
// OR list or a different system split.
func TokenValue(system, code string) string {
	var b strings.Builder
	b.Grow(len(system) + len(code) + 1)
	escapeSearchValue(&b, system)
	b.WriteByte('|')
	escapeSearchValue(&b, code)
	return b.String()
}

func escapeSearchValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', ',', '|', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
}
