// Verification of fhir-pep's upstream assertion (README.md,
// `upstream_assertion`): a short-lived JWT that says which decision the PEP
// took. A FHIR server that requires it accepts only requests the PEP
// decided; anybody else who reaches it directly gets 401.
//
// The JWT is checked with Node's own crypto (JWK import, no JOSE package):
// alg ES256 or RS256 only (what the PEP signs; "none" and HMAC can never
// pass), a kid naming a key of the PEP's JWKS whose type fits the alg, the
// signature, iss, aud, iat and exp with a small skew, a lifetime no longer
// than MAX_LIFETIME_SECONDS, and non-empty sub and patient.
import { createPublicKey, verify as verifySignature, constants } from 'node:crypto';

/** Clock skew allowed on iat, nbf and exp. */
export const DEFAULT_SKEW_SECONDS = 10;
/** The PEP's assertions live 60 s; anything much longer was not made by it. */
export const MAX_LIFETIME_SECONDS = 300;
/** The JWKS is fetched again after this (the PEP serves it with max-age=300). */
const JWKS_MAX_AGE_MS = 300_000;
/**
 * An unknown kid makes the verifier fetch the JWKS again (the PEP's key was
 * rotated), but at most this often, so that requests with made-up kids
 * cannot turn the server into a load on the PEP's health listener.
 */
const JWKS_REFETCH_MIN_MS = 5_000;
const JWKS_TIMEOUT_MS = 5_000;
const MAX_JWT_BYTES = 8192;

const ALGORITHMS = {
  ES256: { kty: 'EC', crv: 'P-256', options: (key) => ({ key, dsaEncoding: 'ieee-p1363' }), sigBytes: 64 },
  RS256: { kty: 'RSA', options: (key) => ({ key, padding: constants.RSA_PKCS1_PADDING }) },
};

/** A request the verifier refuses; status is 401, or 503 when the JWKS cannot be had. */
export class AssertionError extends Error {
  constructor(reason, status = 401) {
    super(reason);
    this.reason = reason;
    this.status = status;
  }
}

/**
 * @param {object} options
 * @param {string} options.jwksUrl - the PEP's JWKS (<health listener>/jwks.json)
 * @param {string} options.issuer - the expected iss (the PEP's `upstream_assertion issuer`, default its `resource`)
 * @param {string} options.audience - the expected aud (the PEP's `upstream_base`)
 * @param {string} [options.header] - header carrying it; Authorization (default) as "Bearer <jwt>", any other the bare JWT
 * @param {number} [options.skewSeconds]
 * @param {() => number} [options.now] - milliseconds since the epoch
 * @param {typeof fetch} [options.fetch]
 */
export function createAssertionVerifier({
  jwksUrl,
  issuer,
  audience,
  header = 'Authorization',
  skewSeconds = DEFAULT_SKEW_SECONDS,
  now = Date.now,
  fetch: fetchFn = fetch,
}) {
  if (!jwksUrl || !issuer || !audience) {
    throw new Error('assertion verifier: jwksUrl, issuer and audience are required');
  }
  // A mistyped URL fails at start, not as a 503 on every request.
  if (!URL.canParse(jwksUrl) || !['http:', 'https:'].includes(new URL(jwksUrl).protocol)) {
    throw new Error(`assertion verifier: JWKS URL ${jwksUrl} is not an http(s) URL`);
  }
  const headerName = header.toLowerCase();
  const keys = new JwksCache(jwksUrl, fetchFn, now);

  /** Returns the JWT the request carries, or throws. */
  function extract(headers) {
    const raw = headers[headerName];
    if (raw === undefined) {
      throw new AssertionError('no assertion');
    }
    if (Array.isArray(raw)) {
      throw new AssertionError('assertion header repeated');
    }
    if (headerName !== 'authorization') {
      return raw.trim();
    }
    const m = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(raw.trim());
    if (!m) {
      throw new AssertionError('Authorization is not "Bearer <jwt>"');
    }
    return m[1];
  }

  /**
   * Verifies the assertion on a request's headers (node:http's lower-case
   * map); resolves with { header, claims } or rejects with an AssertionError.
   */
  async function verifyRequest(headers) {
    return verifyJwt(extract(headers));
  }

  async function verifyJwt(jwt) {
    if (jwt.length > MAX_JWT_BYTES) {
      throw new AssertionError('assertion too large');
    }
    const parts = jwt.split('.');
    if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
      throw new AssertionError('not a compact JWS');
    }
    const head = decodeJson(parts[0], 'header');
    if (typeof head.alg !== 'string' || !Object.hasOwn(ALGORITHMS, head.alg)) {
      throw new AssertionError('alg not ES256 or RS256');
    }
    const alg = ALGORITHMS[head.alg];
    if (head.crit !== undefined) {
      throw new AssertionError('crit header not understood');
    }
    if (head.typ !== undefined && head.typ !== 'JWT') {
      throw new AssertionError('typ is not JWT');
    }
    if (typeof head.kid !== 'string' || head.kid === '') {
      throw new AssertionError('no kid');
    }
    const jwk = await keys.get(head.kid);
    if (jwk.kty !== alg.kty || (alg.crv && jwk.crv !== alg.crv) || (jwk.alg !== undefined && jwk.alg !== head.alg)) {
      throw new AssertionError('key does not fit alg');
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      throw new AssertionError('key is not a signing key');
    }
    const signature = Buffer.from(parts[2], 'base64url');
    if (alg.sigBytes && signature.length !== alg.sigBytes) {
      throw new AssertionError('bad signature');
    }
    let ok;
    try {
      ok = verifySignature('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), alg.options(jwk.key), signature);
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new AssertionError('bad signature');
    }
    const claims = decodeJson(parts[1], 'payload');
    checkClaims(claims);
    return { header: { alg: head.alg, kid: head.kid }, claims };
  }

  function checkClaims(c) {
    if (c.iss !== issuer) {
      throw new AssertionError('wrong iss');
    }
    const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
    if (!aud.includes(audience)) {
      throw new AssertionError('wrong aud');
    }
    if (!Number.isFinite(c.exp) || !Number.isFinite(c.iat)) {
      throw new AssertionError('exp or iat missing');
    }
    const t = now() / 1000;
    if (t >= c.exp + skewSeconds) {
      throw new AssertionError('expired');
    }
    if (c.iat > t + skewSeconds || (c.nbf !== undefined && !(c.nbf <= t + skewSeconds))) {
      throw new AssertionError('issued in the future');
    }
    if (c.exp <= c.iat || c.exp - c.iat > MAX_LIFETIME_SECONDS) {
      throw new AssertionError('lifetime out of bounds');
    }
    for (const name of ['sub', 'patient']) {
      if (typeof c[name] !== 'string' || c[name] === '') {
        throw new AssertionError(`no ${name}`);
      }
    }
  }

  return { verifyRequest, verifyJwt };
}

function decodeJson(part, what) {
  let v;
  try {
    v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AssertionError(`${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new AssertionError(`${what} is not a JSON object`);
  }
  return v;
}

/**
 * The PEP's public keys, fetched on first use (the server may start before
 * the PEP does) and again when stale or when a kid is unknown.
 */
class JwksCache {
  #url;
  #fetch;
  #now;
  #keys = null; // Map kid -> { kty, crv, alg, use, key: KeyObject }
  #fetchedAt = -Infinity;
  #inflight = null;

  constructor(url, fetchFn, now) {
    this.#url = url;
    this.#fetch = fetchFn;
    this.#now = now;
  }

  async get(kid) {
    if (this.#inflight) {
      await this.#inflight.catch(() => {});
    }
    const age = this.#now() - this.#fetchedAt;
    const known = this.#keys?.get(kid);
    if (known && age < JWKS_MAX_AGE_MS) {
      return known;
    }
    if (age >= JWKS_REFETCH_MIN_MS) {
      try {
        await this.#refresh();
      } catch (err) {
        throw new AssertionError(`JWKS unavailable: ${err.message}`, 503);
      }
    } else if (this.#keys === null) {
      throw new AssertionError('JWKS unavailable: the last fetch failed', 503);
    }
    const key = this.#keys.get(kid);
    if (!key) {
      throw new AssertionError('unknown kid');
    }
    return key;
  }

  #refresh() {
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #load() {
    // A failed fetch counts as a fetch for the rate limit too.
    this.#fetchedAt = this.#now();
    try {
      this.#keys = await this.#fetchKeys();
    } catch (err) {
      // Fail closed: without a current key set nothing is admitted. The
      // old set is not used either, since it may hold a key the PEP retired.
      this.#keys = null;
      throw err;
    }
  }

  async #fetchKeys() {
    const res = await this.#fetch(this.#url, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS), redirect: 'error' });
    if (res.status !== 200) {
      throw new Error(`status ${res.status}`);
    }
    const doc = await res.json();
    if (!Array.isArray(doc?.keys)) {
      throw new Error('no keys array');
    }
    const keys = new Map();
    const duplicates = new Set();
    for (const jwk of doc.keys) {
      if (typeof jwk?.kid !== 'string' || jwk.d !== undefined) {
        // A private key does not belong in a JWKS: never use it.
        continue;
      }
      if (keys.has(jwk.kid) || duplicates.has(jwk.kid)) {
        // A kid named twice is ambiguous: neither key is used.
        duplicates.add(jwk.kid);
        keys.delete(jwk.kid);
        continue;
      }
      try {
        const { kid, kty, crv, alg, use } = jwk;
        keys.set(kid, { kty, crv, alg, use, key: createPublicKey({ key: jwk, format: 'jwk' }) });
      } catch {
        // A key Node cannot import cannot verify anything; skip it.
      }
    }
    return keys;
  }
}

/**
 * The requests admitted without an assertion: the PEP sends none with
 * `metadata` and with its patient lookup (README, `upstream_assertion`),
 * which runs before there is a decision to assert. The lookup is admitted
 * only in the exact shape the PEP sends (POST Patient/_search, a form body
 * of identifier=<system>|<value>, _count and _security:not), and its answer
 * is cut down to each Patient's id and identifiers (see reduceLookup): a
 * caller who reaches the server directly learns only which logical ids
 * carry a national id it already knows.
 * @returns {'metadata' | 'lookup' | null}
 */
export function exemptRequest(method, rel, body, contentType) {
  if (method === 'GET' && rel === '/metadata') {
    return 'metadata';
  }
  if (method !== 'POST' || rel !== '/Patient/_search' || contentType !== 'application/x-www-form-urlencoded') {
    return null;
  }
  const names = Object.keys(body ?? {});
  const identifier = body?.identifier;
  if (typeof identifier !== 'string' || !/^[^|,$]+\|[^|,$]+$/.test(identifier)) {
    return null;
  }
  if (!names.every((n) => n === 'identifier' || n === '_count' || n === '_security:not')) {
    return null;
  }
  return 'lookup';
}

/** Keeps only what the PEP's lookup reads of a Patient search answer. */
export function reduceLookup(bundle) {
  const entry = (bundle.entry ?? []).map((e) => ({
    fullUrl: e.fullUrl,
    resource: { resourceType: e.resource.resourceType, id: e.resource.id, identifier: e.resource.identifier },
    search: e.search,
  }));
  // Paging links stay: the PEP refuses a lookup with a next page.
  return { resourceType: 'Bundle', type: 'searchset', total: bundle.total, link: bundle.link, ...(entry.length ? { entry } : {}) };
}
