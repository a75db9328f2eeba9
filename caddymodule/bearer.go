package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/hdp-il/fhir-pep/internal/token68"
)

var (
	errNoToken         = errors.New("no bearer token")
	errMalformedHeader = errors.New("malformed Authorization header")
	errTokenTwice      = errors.New("token sent more than once")
	errBodyTooLarge    = errors.New("request body too large")
)

// bearerToken extracts the RFC 6750 bearer token. Only the Authorization
// header method is accepted: a token in the query string or in a form body is
// refused (RFC 6750 section 2 forbids using more than one method, and query
// tokens end up in access logs), as is a repeated Authorization header.
//
// For form-encoded bodies the body is read (up to maxForm bytes) and put back
// so later stages and the upstream see it unchanged.
func bearerToken(r *http.Request, maxForm int64) (string, error) {
	values := r.Header.Values("Authorization")
	inQuery := queryHasAccessToken(r.URL.RawQuery)
	inBody, err := formBodyHasAccessToken(r, maxForm)
	if err != nil {
		return "", err
	}
	if len(values) == 0 {
		if inQuery || inBody {
			// Alternative methods are not supported; refusing them stops
			// clients from leaking tokens into URLs and logs.
			return "", errTokenTwice
		}
		return "", errNoToken
	}
	if len(values) > 1 {
		return "", errTokenTwice
	}
	if inQuery || inBody {
		return "", errTokenTwice
	}
	scheme, token, hasParam := strings.Cut(values[0], " ")
	switch {
	case hasParam && !strings.EqualFold(scheme, "Bearer") && isToken68(scheme):
		// Another scheme (Basic, DPoP...) carries no bearer token: answer
		// with the plain challenge so the client learns what is expected.
		return "", errNoToken
	case !hasParam || !strings.EqualFold(scheme, "Bearer"):
		return "", errMalformedHeader
	}
	if !isToken68(token) {
		return "", errMalformedHeader
	}
	return token, nil
}

// isToken68 checks the RFC 6750 b64token syntax:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// It also caps the length: PCM tokens are short, and the cap bounds the work
// an anonymous client can cause (hashing, a PCM round trip).
func isToken68(s string) bool {
	return len(s) <= 4096 && token68.Valid(s)
}

// queryHasAccessToken reports whether a query string or form body names the
// RFC 6750 access_token parameter in any spelling an upstream could decode
// to it. Every parameter name is percent-decoded first and then compared:
// a raw substring test would let "access%5Ftoken" or "%61ccess_token"
// through, and the upstream (and the FHIR parser) decode those to
// access_token. The comparison also covers
//   - any letter case, since some servers match parameter names without it;
//   - a modifier or chain suffix ("access_token:exact", "access_token.x"),
//     which names the same parameter to a lenient server;
//   - ';' as a pair separator, which some servers still honour.
//
// Decoding is lenient (an invalid escape stays as it is) so that this check
// never depends on the query being well formed: a malformed query is
// refused later by the FHIR request parser, but a name that any decoder
// turns into access_token is caught here whatever else is wrong.
func queryHasAccessToken(rawQuery string) bool {
	for rest := rawQuery; rest != ""; {
		pair := rest
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			pair, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		name, _, _ := strings.Cut(pair, "=")
		if isAccessTokenName(lenientUnescape(name)) {
			return true
		}
	}
	return false
}

// accessTokenParam is the RFC 6750 section 2.3 query and form parameter.
const accessTokenParam = "access_token"

// isAccessTokenName reports whether a decoded parameter name is
// access_token, ignoring case and any ":modifier" or ".chain" suffix.
func isAccessTokenName(name string) bool {
	name = strings.TrimSpace(name)
	if i := strings.IndexAny(name, ":."); i >= 0 {
		name = name[:i]
	}
	return strings.EqualFold(name, accessTokenParam)
}

// lenientUnescape decodes application/x-www-form-urlencoded text: "+" is a
// space and every valid %XX escape is decoded once, as an upstream does.
// An invalid escape is kept verbatim instead of failing, so the caller
// still sees the rest of the name decoded.
func lenientUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]):
			b.WriteByte(hexValue(s[i+1])<<4 | hexValue(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexValue(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// formBodyHasAccessToken reports whether a form-encoded body carries an
// access_token parameter, and restores r.Body.
func formBodyHasAccessToken(r *http.Request, maxForm int64) (bool, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return false, nil
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return false, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForm+1))
	if err != nil {
		return false, err
	}
	_ = r.Body.Close()
	if int64(len(body)) > maxForm {
		return false, errBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return queryHasAccessToken(string(body)), nil
}
