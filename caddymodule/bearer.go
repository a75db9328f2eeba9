package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
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
	if len(s) == 0 || len(s) > 4096 {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

func queryHasAccessToken(rawQuery string) bool {
	if rawQuery == "" || !strings.Contains(rawQuery, "access_token") {
		return false
	}
	// Parse leniently here: a malformed query is rejected later by the FHIR
	// request parser; this only has to notice the parameter name.
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == "access_token" {
			return true
		}
		if name == "access_token" {
			return true
		}
	}
	return false
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
