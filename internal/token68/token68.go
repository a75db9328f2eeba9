// Package token68 checks the syntax of bearer tokens: RFC 6750's b64token,
// the same grammar as RFC 7235's token68,
//
//	1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The handler applies it to the tokens clients send and the introspection
// client to the tokens PCM issues, so that both accept exactly the same
// strings and a token always fits an Authorization header unchanged.
package token68

// Valid reports whether s is a non-empty b64token. It does not bound the
// length: each caller caps it at what it is willing to hash or forward.
func Valid(s string) bool {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
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

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
