// Package thumbprint computes the one certificate fingerprint fhir-pep
// uses everywhere: the RFC 8705 "x5t#S256" value, the unpadded base64url
// encoding of the SHA-256 digest of the certificate's DER. The PCM token's
// cnf claim, the NTN manifest's pins and its JWS header, revocation lists
// and log records all compare this one string, so it has one definition.
package thumbprint

import (
	"crypto/sha256"
	"encoding/base64"
)

// Size is the length of a thumbprint: 32 bytes in unpadded base64url.
const Size = 43

// Of returns the x5t#S256 thumbprint of a DER certificate.
func Of(der []byte) string {
	return Encode(sha256.Sum256(der))
}

// Encode returns the thumbprint of a certificate whose SHA-256 digest the
// caller already holds (the manifest index keys its pins by the digest).
func Encode(sum [sha256.Size]byte) string {
	// Encoded on the stack: EncodeToString allocates its buffer and then
	// the string, and this runs on every request (the gate's thumbprint).
	var buf [Size]byte
	base64.RawURLEncoding.Encode(buf[:], sum[:])
	return string(buf[:])
}
