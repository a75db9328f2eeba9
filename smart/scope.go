package smart

import (
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hdp-il/fhir-pep/fhir"
)

// Scope is one SMART resource scope, normalised to v2 permission letters.
type Scope struct {
	// Context is "patient", "user" or "system".
	Context string `json:"context"`
	// ResourceType is an R4 resource type or "*".
	ResourceType string `json:"resource_type"`
	// Permissions is the granted subset of "cruds", always in that order.
	Permissions string `json:"permissions"`
	// Constraints are the v2 query constraints, decoded: parameter name to
	// values in request order. Never nil; empty when there are none.
	Constraints map[string][]string `json:"constraints"`
	// Version is 1 or 2: the syntax of the permission part.
	Version int `json:"version"`
	// Raw is the scope token as received.
	Raw string `json:"raw"`
}

// Allows reports whether the scope grants permission perm, one of the bytes
// 'c', 'r', 'u', 'd', 's'. Any other byte is never allowed.
func (s Scope) Allows(perm byte) bool {
	switch perm {
	case 'c', 'r', 'u', 'd', 's':
		return strings.IndexByte(s.Permissions, perm) >= 0
	}
	return false
}

// Parse splits a space-separated OAuth scope string and returns the valid
// SMART resource scopes in order. Everything else is ignored (see the package
// documentation); the result is nil when nothing is valid.
func Parse(scope string) []Scope {
	var out []Scope
	if n := strings.Count(scope, "/"); n > 0 {
		// Every resource scope holds a "/": an upper bound that avoids regrowth.
		out = make([]Scope, 0, n)
	}
	for rest := scope; rest != ""; {
		tok := rest
		if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			tok, rest = rest[:sp], rest[sp+1:]
		} else {
			rest = ""
		}
		if s, ok := ParseOne(tok); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ParseOne parses a single scope token. ok is false for anything that is not
// a valid SMART v1 or v2 resource scope.
func ParseOne(tok string) (Scope, bool) {
	if !isScopeToken(tok) {
		return Scope{}, false
	}
	ctx, rest, ok := strings.Cut(tok, "/")
	if !ok {
		return Scope{}, false
	}
	switch ctx {
	case "patient", "user", "system":
	default:
		return Scope{}, false
	}
	resource, query, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(resource, ".")
	if !ok || (typ != "*" && !fhir.IsResourceType(typ)) {
		return Scope{}, false
	}
	s := Scope{Context: ctx, ResourceType: typ, Raw: tok, Version: 2}
	switch perms {
	case "read":
		s.Permissions, s.Version = "rs", 1
	case "write":
		s.Permissions, s.Version = "cud", 1
	case "*":
		s.Permissions, s.Version = "cruds", 1
	default:
		if !validV2Permissions(perms) {
			return Scope{}, false
		}
		s.Permissions = perms
	}
	if hasQuery && s.Version == 1 {
		return Scope{}, false
	}
	s.Constraints = map[string][]string{}
	if hasQuery && !parseConstraints(query, s.Constraints) {
		return Scope{}, false
	}
	return s, true
}

// validV2Permissions reports whether p is a non-empty subsequence of "cruds".
func validV2Permissions(p string) bool {
	if p == "" {
		return false
	}
	last := -1
	for i := 0; i < len(p); i++ {
		idx := strings.IndexByte("cruds", p[i])
		if idx <= last {
			return false // unknown letter, repeat, or out of order
		}
		last = idx
	}
	return true
}

// isScopeToken checks the RFC 6749 scope-token alphabet:
// %x21 / %x23-5B / %x5D-7E (printable ASCII except '"' and '\').
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parseConstraints fills m from "a=1&b=2"; false on any malformed part.
func parseConstraints(q string, m map[string][]string) bool {
	if q == "" || strings.ContainsAny(q, "+;#?") {
		return false
	}
	for q != "" {
		pair := q
		if amp := strings.IndexByte(q, '&'); amp >= 0 {
			pair, q = q[:amp], q[amp+1:]
			if q == "" {
				return false // trailing "&"
			}
		} else {
			q = ""
		}
		rawKey, rawVal, ok := strings.Cut(pair, "=")
		if !ok {
			return false
		}
		key, ok := unescape(rawKey)
		if !ok || !fhir.ValidParamName(key) {
			return false
		}
		val, ok := unescape(rawVal)
		if !ok || val == "" {
			return false
		}
		m[key] = append(m[key], val)
	}
	return true
}

// unescape percent-decodes s strictly ("+" has been refused before).
func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", false
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	out := b.String()
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < ' ' || c == 0x7f {
			return "", false
		}
		if out[i] == '%' && i+2 < len(out) && isHex(out[i+1]) && isHex(out[i+2]) {
			return "", false // double encoding
		}
	}
	return out, utf8.ValidString(out)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

func unhex(c byte) byte {
	if c >= '0' && c <= '9' {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}

// String renders the scope canonically: v1 scopes in v1 syntax (read, write,
// *), v2 scopes with their letters and the constraints sorted by name (values
// in order), percent-encoded. ParseOne(s.String()) returns a Scope equal to s
// except for Raw.
func (s Scope) String() string {
	var b strings.Builder
	b.WriteString(s.Context)
	b.WriteByte('/')
	b.WriteString(s.ResourceType)
	b.WriteByte('.')
	if s.Version == 1 {
		switch s.Permissions {
		case "rs":
			b.WriteString("read")
		case "cud":
			b.WriteString("write")
		default:
			b.WriteString("*")
		}
		return b.String()
	}
	b.WriteString(s.Permissions)
	keys := make([]string, 0, len(s.Constraints))
	for k := range s.Constraints {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sep := byte('?')
	for _, k := range keys {
		for _, v := range s.Constraints[k] {
			b.WriteByte(sep)
			sep = '&'
			escape(&b, k)
			b.WriteByte('=')
			escape(&b, v)
		}
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// escape writes s keeping [A-Za-z0-9-._~:/|,@$*] raw and percent-encoding
// every other byte, which keeps the result a valid RFC 6749 scope token.
func escape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case strings.IndexByte("-._~:/|,@$*", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0x0f])
		}
	}
}
