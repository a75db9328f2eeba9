// Package correlation accepts or mints the X-Correlation-ID that ties a
// request's access log line, audit record, upstream request and answer
// together.
//
// The header is client-controlled and ends up in logs, audit records and an
// upstream header, so only a short token of a fixed safe alphabet is
// accepted: at most 64 characters of [A-Za-z0-9._-]. Anything else (too
// long, empty, a space, a CR/LF, a quote, non-ASCII) is replaced by a fresh
// id, never repaired: repairing would let a client choose part of a value
// that others trust to be well-formed.
package correlation

import (
	"crypto/rand"
	"io"
	"net/http"
)

// Header is the HTTP header carrying the correlation id, in and out.
const Header = "X-Correlation-ID"

// CanonicalHeader is Header in its canonical form, the key of an
// http.Header map: indexing with it skips the canonicalisation Get and
// Values do on every call.
var CanonicalHeader = http.CanonicalHeaderKey(Header)

// MaxLen is the longest accepted correlation id.
const MaxLen = 64

// generatedLen is the length of a minted id: 22 characters of a
// 64-character alphabet are 132 random bits, as unguessable as a UUIDv4 and
// shorter.
const generatedLen = 22

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Valid reports whether s is an acceptable correlation id.
func Valid(s string) bool {
	if s == "" || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Generator mints correlation ids from a source of random bytes.
type Generator struct {
	// Rand is the randomness; nil means crypto/rand. Tests inject a fixed
	// reader.
	Rand io.Reader
}

// New returns a fresh id: 22 characters of [A-Za-z0-9_-]. It fails only if
// the random source fails, which the caller must treat as an internal error
// rather than fall back to a predictable id.
func (g Generator) New() (string, error) {
	r := g.Rand
	if r == nil {
		r = rand.Reader
	}
	var buf [generatedLen]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return "", err
	}
	// 64 symbols: the low 6 bits of each byte are uniform.
	for i, b := range buf {
		buf[i] = alphabet[b&63]
	}
	return string(buf[:]), nil
}

// FromRequest returns the request's id when it is valid, and a fresh one
// otherwise (including when the header is repeated: two values are one
// too many to pick from). generated tells the caller whether to log that
// the client's value was replaced.
func (g Generator) FromRequest(r *http.Request) (id string, generated bool, err error) {
	if vs := r.Header[CanonicalHeader]; len(vs) == 1 && Valid(vs[0]) {
		return vs[0], false, nil
	}
	id, err = g.New()
	return id, true, err
}
