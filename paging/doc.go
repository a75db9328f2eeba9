// Package paging seals an upstream FHIR server's paging links (Bundle.link
// next, previous, first, last) into opaque links of the PEP, and opens them
// again when a client follows one.
//
// Upstream servers page in many ways: HAPI's "?_getpages=<uuid>&
// _getpagesoffset=20", continuation tokens ("ct=..."), "_offset", cursor
// tokens. The PEP cannot check such a link against the policy (its meaning is
// private to the server), so it never lets the client choose one. Instead the
// upstream link is encrypted and authenticated together with what the PEP
// decided when the first page was served, and the client receives
//
//	<public_base>/_page?p=<sealed>
//
// Following that link proves the client got it from the PEP for this token,
// this client certificate and this patient, under these obligations, and not
// longer ago than the TTL. The upstream address never leaves in clear.
//
// # Sealed blob
//
// The sealed value is unpadded base64url of
//
//	version (1 byte, 1) | key id (1 byte) | nonce (24 bytes) | ciphertext+tag
//
// where the AEAD is XChaCha20-Poly1305 (random 192-bit nonces: no nonce
// coordination is needed between instances, and no practical limit on the
// number of links per key), the additional data is the version and key id
// bytes, and the plaintext is
//
//	expiry (8 bytes, Unix seconds, big-endian) | binding digest (32 bytes) |
//	origin length (2 bytes) | origin | upstream link relative to upstream_base
//
// The origin is the client's own request the page belongs to (path and
// query relative to the public base, without anything the PEP added). On
// a page request the PEP unseals the link (Unseal), re-parses the origin
// and runs the policy on it with the current token, builds the binding
// from the current request and that decision, and checks it (Verify). The
// response is then checked under the fresh decision's obligations, exactly
// as for the first page.
//
// The binding digest is SHA-256 over a domain separator, the SHA-256 of the
// bearer token, the client certificate's x5t#S256 thumbprint, the sorted and
// de-duplicated patient logical ids and the digest of the decision's
// obligations (see Binding). It is compared in constant time.
//
// # Keys
//
// The key file holds at least 32 random bytes, base64 (standard or URL
// alphabet, padded or not) or hex encoded, e.g.
//
//	openssl rand -base64 32 > /etc/fhir-pep/paging.key
//
// The AEAD key and the one-byte key id are derived from it with HKDF-SHA256
// under distinct labels, so the file content itself is never used as a key
// and the id reveals nothing about the key. During a rotation the previous
// key file is configured as well: links sealed under it still open (until
// they expire, at most one TTL after the rotation), new links are sealed
// under the current key. When both ids happen to be equal (1 in 256), both
// keys are tried.
//
// Instances share nothing but the key files: a link sealed by one instance
// opens in any other that has the same key file, which is what lets a load
// balancer send each page request anywhere.
//
// # Errors
//
// Unseal and Verify (and Open, which is both) answer one of three typed
// errors, each with its HTTP status: ErrInvalid (400: not decodable, wrong
// version, unknown key, failed authentication, malformed plaintext; from
// Unseal), ErrBindingMismatch (403: another token, certificate, patient or
// set of obligations) and ErrExpired (410), both from Verify.
// The binding is checked before the expiry, so a client that is not the
// link's owner learns nothing about the link, not even whether it expired.
package paging
