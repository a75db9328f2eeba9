// Package introspection is the PEP's PCM token gate: it turns the opaque
// bearer token of a service provider into verified claims.
//
// Three parts, wired together by New into an Introspector:
//
//   - TokenSource obtains the PEP's own PCM access token with the OAuth 2.0
//     client_credentials grant, authenticated by a private_key_jwt client
//     assertion (RFC 7523) signed with the key of the data source's NTN
//     certificate, over mTLS with that same certificate. PCM tokens live
//     30 s, so the token is cached and refreshed once less than
//     max(RefreshMargin, 20% of its lifetime) remains. Concurrent callers
//     share one token endpoint call; failures are never cached.
//     Invalidate(token) forgets the token only if it is still the current
//     one, so a burst of 401s from PCM causes exactly one refresh.
//   - Client performs RFC 7662 introspection at PCM and decodes the answer
//     with DecodeClaims. A 401 is retried once with a fresh PEP token.
//     Every failure - transport, timeout, status, content type, size,
//     malformed body - wraps ErrUnavailable: the handler answers 503, never
//     401, because PCM's silence says nothing about the caller's token.
//   - Cache remembers answers in ristretto and collapses concurrent misses.
//
// Validate then checks the claims against the request: a client certificate
// was presented, the token is active, unexpired, from the expected issuer,
// for this data source (aud) and bound to the presented certificate
// (cnf.x5t#S256, RFC 8705). Each failure is a *ValidationError with a
// low-cardinality Reason.
//
// # Cache keys are SHA-256 digests
//
// The cache is keyed by the SHA-256 of the token, never the token itself:
// a heap dump, a debugger or a bug that prints cache keys reveals no usable
// credential, and every key has the same small size. The digest is already
// uniformly distributed, so ristretto's two 64-bit hashes are read straight
// from it, and a hit compares the full 32-byte digest stored in the entry.
//
// # Shared PCM calls are detached from the first caller
//
// Concurrent misses for one token share a single PCM call
// (golang.org/x/sync/singleflight). That call runs under
// context.WithoutCancel of the first caller's context plus the configured
// timeout: if it used the first caller's context, one client disconnecting
// would fail every other request waiting on the same token. Each caller
// still stops waiting when its own context ends.
//
// # TTL rule
//
// An active answer is kept for min(exp - now - skew, CacheTTL), so it never
// outlives the token (even with the PEP's clock a little behind PCM's) nor
// the operator's bound on how stale a consent revocation at PCM may be
// seen. An inactive answer is kept for NegativeTTL (default 5 s), enough to
// absorb a client retrying a dead token without pinning a token that PCM
// is about to activate. Errors are never cached. Expiry is checked against
// the injected clock on every hit; ristretto's own TTL only frees memory.
// ristretto may drop or reject any Set, so a hit is an optimisation and a
// miss is always correct.
//
// # Revocation by certificate
//
// ForgetThumbprints drops every cached answer bound to given certificate
// thumbprints, for NTN emergency revocation. Instead of a side index kept
// in step with ristretto's OnEvict/OnReject callbacks (which miss entries
// when two Sets race for one key and the policy rejects the second while
// the first stays), the cache serialises its stores with revocations:
// a revocation records a tombstone with a generation number, waits for
// ristretto's buffered writes and scans the stored values; a PCM call that
// started before the tombstone does not store its answer. Tombstones are
// dropped as soon as no call older than them is running, so the
// bookkeeping stays bounded by the number of PCM calls in flight. Purge
// invalidates everything at once (an epoch counter checked on every hit),
// for revocations whose leaf thumbprints are unknown, such as a member
// trusted through a CA certificate.
//
// The package does not import Caddy, OPA or a metrics library; Hooks lets
// the caller count outcomes, refreshes, hits and evictions.
package introspection
