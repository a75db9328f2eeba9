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
//     share one token endpoint call. A failed call is shared too: until a
//     bounded, jittered exponential backoff has passed (0.5 s doubling to
//     10 s by default), callers get the current token while it is still
//     valid, else the failure, and no new assertion is signed.
//     Invalidate(token) forgets the token only if it is still the current
//     one, so a burst of 401s from PCM causes exactly one refresh. The
//     assertion is RS256 for an RSA key and ES256 for a P-256 key (ES384
//     for P-384); scope and resource are each sent only when configured.
//     With ClientConfig.Auth = AuthMTLS there is no PEP token at all:
//     introspection is authenticated by the NTN client certificate alone.
//   - Client performs RFC 7662 introspection at PCM and decodes the answer
//     with DecodeClaims. A 401 is retried once with a fresh PEP token.
//     Every failure - transport, timeout, status, content type, size,
//     malformed body - wraps ErrUnavailable: the handler answers 503, never
//     401, because PCM's silence says nothing about the caller's token.
//   - Cache remembers answers in ristretto and collapses concurrent misses.
//   - Budget bounds the PCM calls the cache starts, per NTN member and
//     overall, in flight and per second.
//
// # Errors and statuses
//
// What Introspector.IntrospectFor returns, and what the handler answers:
//
//   - ErrInvalidToken (empty or oversized token): 401, PCM not asked.
//   - ErrIncompleteClaims, which every *ClaimError matches (PCM answered,
//     but a required claim is missing or unusable): 401 invalid_token.
//   - *BudgetError (ErrBudgetExceeded): 503 with Retry-After from its
//     RetryAfter, audit reason "pcm_budget"; PCM was not asked.
//   - Any other ErrUnavailable, ErrMalformedResponse included (PCM
//     unreachable, slow, an error status, or an answer with wrong JSON
//     types, duplicate keys, over MaxResponseBytes or not JSON): 503.
//
// Answers PCM gave that cannot be used (everything matching
// ErrMalformedResponse, so both 401 cases from PCM and the malformed 503
// case) are remembered for NegativeTTL exactly like an inactive answer,
// and the same error is returned from the cache: a repeated token gets the
// same status without another PCM call. Transport errors, timeouts, error
// statuses and budget refusals are never remembered.
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
// (golang.org/x/sync/singleflight), and the call ends only once its answer
// is visible in the cache (ristretto applies a Set asynchronously): a
// caller arriving just after it would otherwise miss and call PCM again.
// The call is charged to the budget of the member whose request started
// it; callers that join it, and cache hits, cost nothing. That call runs under
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
// is about to activate. An unusable answer is kept for NegativeTTL too
// (see above); other errors are never cached. Expiry is checked against
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
// # Introspection budget
//
// Every PCM call the cache would start first takes a slot from Budget: a
// token bucket and an in-flight counter for the calling NTN member, and
// the same for all members together (defaults: 20 calls/s with a burst of
// 40 and 32 in flight per member; 100/s, burst 200, 128 in flight
// overall, far above what a real data source's traffic needs). When any
// of them is spent the lookup fails at once with a *BudgetError, without
// calling PCM: random tokens from one member cannot turn the PEP into an
// amplifier against PCM, and one member's flood does not spend the other
// members' share before its own limit stops it.
//
// # Memory
//
// A cached answer is a Claims in compact form (tokendoc.go): what many
// tokens share (scope and its parsed scopes, iss, aud, client and
// organization ids, access_type, intent, token_type, baskets, the patient
// system, the shape of fhirContext) is interned in bounded tables (1024
// values each, keyed by their full canonical encoding, emptied when full),
// and a Claims holds pointers to it and its own values only: jti, patient
// value, consent_id, cnf thumbprint, exp/iat/nbf as seconds, fhirContext
// references and identifier values, and the JSON of members it does not
// model. About 500 bytes per cached answer, ristretto's bookkeeping
// included (BenchmarkCacheMemoryPerEntry). The decoded JSON map is not
// kept: TokenValue renders the policy's input.token (the document PCM
// sent) from the compact form when the policy evaluates, and TokenDigest,
// computed once at decode, keys the policy's decision cache. An entry's
// cost is a measured fixed overhead plus its own bytes plus the shared
// pieces it added to the tables (TestCacheCostCoversHeap), so MaxCost
// bounds the heap the cache holds. The intern tables are bounded on their
// own: 1,024 values and 4 MiB of charged bytes each, no value whose key is
// over 4 KiB (it stays with its answer, charged to it), and lists longer
// than any PCM answer has (more than 16 audiences, 32 fhirContext entries)
// are malformed; a piece is charged per byte and per list element, since
// tiny elements cost more heap than their bytes (intern_bounds_test.go).
//
// The package does not import Caddy or a metrics library, and of OPA only
// its AST, to render input.token; Hooks lets the caller count outcomes,
// refreshes, hits, evictions and budget refusals.
package introspection
