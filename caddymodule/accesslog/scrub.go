package accesslog

import (
	"net/url"
	"strings"
)

// Redacted replaces whatever the filter removes. It is Caddy's own word for a
// hidden credential, so one grep finds both.
const Redacted = "REDACTED"

// maxKeptLen bounds a kept path segment or parameter name: FHIR logical ids
// are at most 64 characters, and anything longer (a token pasted into a
// path, an encoded identifier) is not worth the risk of keeping.
const maxKeptLen = 64

// nationalIDDigits is the shortest run of digits treated as a possible
// national id. Israeli ids are 9 digits, often written without their leading
// zero (8 digits). Shorter runs stay: they are the numeric logical ids HAPI
// and similar servers hand out, and a 7-digit run is as likely a version or a
// count. The real protection is that fhir-pep itself never puts a national
// id into a URL; this mask catches clients that do.
const nationalIDDigits = 8

// ScrubURI returns the request target (origin-form "/path?query",
// absolute-form "https://host/path?query" or "*") with every query value
// removed, the access_token parameter removed entirely, and every path
// segment or parameter name that could carry an identifier replaced by
// [Redacted]. It never fails: input that cannot be understood is redacted as a
// whole, so a parse error cannot leak.
//
// What is kept, and why:
//   - path segments made only of FHIR id characters, at most 64 long, without
//     a run of 8 or more digits: resource types, interactions, operations and
//     upstream logical ids. Logical ids are server-assigned pseudonyms, not
//     national ids, and ops need them to follow a request.
//   - parameter names of the same shape, in their order, each written as
//     "name=" with the value dropped. A name cannot be safely shortened to
//     "name" alone: "?a" and "?a=" are different requests to some servers,
//     and a log reader should see that a value was present.
//
// The fragment, userinfo and every value are always dropped.
func ScrubURI(s string) string {
	if s == "" || s == "*" {
		return s
	}
	var prefix string
	rest := s
	if !strings.HasPrefix(s, "/") {
		// Absolute-form (a forward-proxy style request): keep scheme and
		// host, drop userinfo, scrub the rest like an origin-form target.
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
			return Redacted
		}
		if !safeHost(u.Host) {
			return Redacted
		}
		prefix = u.Scheme + "://" + u.Host
		rest = u.EscapedPath()
		if u.RawQuery != "" || u.ForceQuery {
			rest += "?" + u.RawQuery
		}
		if rest == "" {
			return prefix
		}
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	var b strings.Builder
	b.Grow(len(prefix) + len(rest))
	b.WriteString(prefix)
	scrubPath(&b, path)
	if hasQuery {
		scrubQuery(&b, query)
	}
	return b.String()
}

// scrubPath writes path with every segment that might identify a person
// replaced. Segments are judged decoded, so "%30%30%30..." is not a way
// around the digit rule.
func scrubPath(b *strings.Builder, path string) {
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if seg == "" {
			continue
		}
		dec, err := url.PathUnescape(seg)
		if err != nil || !keepable(dec) {
			b.WriteString(Redacted)
			continue
		}
		// keepable admits only characters that need no escaping in a path.
		b.WriteString(dec)
	}
}

// scrubQuery writes "?" and the parameter names, each with its value
// dropped. access_token is left out altogether: even its name tells a reader
// which lines carried a credential.
func scrubQuery(b *strings.Builder, query string) {
	b.WriteByte('?')
	first := true
	for part := range strings.SplitSeq(query, "&") {
		if part == "" {
			continue
		}
		rawName, _, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err == nil && isAccessToken(name) {
			continue
		}
		if !first {
			b.WriteByte('&')
		}
		first = false
		if err != nil || !keepable(name) {
			b.WriteString(Redacted)
		} else {
			b.WriteString(name)
		}
		b.WriteByte('=')
	}
}

// isAccessToken compares the decoded name, ignoring case and surrounding
// blanks, so "%61ccess_token", "access%5Ftoken" and "Access_Token " all
// match: a server that is lenient about the name must not let the token
// through the log.
//
// A modifier or chain suffix ("access_token:exact", "access_token.x") is
// cut first, as the handler's bearer check does, so not even the name
// variant is logged.
func isAccessToken(name string) bool {
	name, _, _ = strings.Cut(strings.TrimSpace(name), ":")
	name, _, _ = strings.Cut(name, ".")
	return strings.EqualFold(strings.TrimSpace(name), "access_token")
}

// keepable reports whether a decoded path segment or parameter name may be
// logged as is: FHIR id and parameter-name characters only ([A-Za-z0-9-.],
// plus "_" for _history/_search/_count, "$" for operations and ":" for
// modifiers), at most 64 long, and no run of digits long enough to be a
// national id.
func keepable(s string) bool {
	return s != "" && len(s) <= maxKeptLen && onlyWithoutIDRun(s, idChar)
}

// safeHost admits host[:port] made of DNS and IP literal characters only,
// without a digit run long enough to be a national id (a client can name
// any host in an absolute-form target).
func safeHost(h string) bool {
	return len(h) <= 255 && onlyWithoutIDRun(h, hostChar)
}

// onlyWithoutIDRun reports whether every byte of s is a digit or allowed,
// with no run of digits long enough to be a national id.
func onlyWithoutIDRun(s string, allowed func(byte) bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			run++
			if run >= nationalIDDigits {
				return false
			}
			continue
		}
		if !allowed(c) {
			return false
		}
		run = 0
	}
	return true
}

func letter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// idChar: FHIR id and parameter-name characters, "_" for
// _history/_search/_count, "$" for operations and ":" for modifiers.
func idChar(c byte) bool {
	return letter(c) || c == '-' || c == '.' || c == '_' || c == '$' || c == ':'
}

// hostChar: DNS names, ports and IP literals.
func hostChar(c byte) bool {
	return letter(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']'
}
