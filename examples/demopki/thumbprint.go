package demopki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
)

// Thumbprint returns the x5t#S256 value of a certificate (RFC 8705): the
// base64url encoding, without padding, of the SHA-256 digest of its DER.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
