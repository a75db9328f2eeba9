// Demo FHIR R4 upstream for fhir-pep. Environment:
//   PORT          listen port (default 8103; 0 picks a free one)
//   HOST          listen address (default 127.0.0.1)
//   DATA_DIR      the data to load (default examples/fhir-server/data, generated
//                 by examples/cmd/gen-demo-data)
//   BASE_URL      FHIR base written into links (default http://HOST:PORT/fhir/R4)
//   PAGING        offset (default: next links are the search URL with _offset)
//                 or hapi (next links are opaque, as HAPI FHIR writes them:
//                 <base>?_getpages=<id>&_getpagesoffset=<n>&_count=<n>)
//   LOG_REQUESTS  1: one "request METHOD URL" line per request and, with
//                 REQUIRE_ASSERTION_JWKS, one "assertion {json}" line per
//                 checked assertion: its verified claims (iss, sub, aud,
//                 patient, scope, consent_id, baskets, correlation_id, iat,
//                 exp, jti, kid, alg) or the reason it was refused; never the
//                 JWT itself (the PEP's claims hold no national id or token)
//   REQUIRE_ASSERTION_JWKS  URL of fhir-pep's JWKS (its fhir_pep_health
//                 listener's .../jwks.json). When set, every request must
//                 carry the PEP's upstream assertion (README.md,
//                 upstream_assertion), verified with Node's crypto: ES256 or
//                 RS256, kid in the JWKS, signature, iss, aud, iat/exp with
//                 10 s of skew, lifetime at most 5 min, sub and patient set.
//                 Otherwise 401 (503 while the JWKS cannot be fetched; it is
//                 fetched on first use, again after 5 min or for an unknown
//                 kid, at most every 5 s).
//                 Admitted without an assertion, because the PEP sends none
//                 with them: GET metadata, and the PEP's patient lookup in
//                 exactly its shape (POST Patient/_search, form body of
//                 identifier=<system>|<value>, _count, _security:not), whose
//                 answer is cut down to each Patient's id and identifiers.
//                 So a caller reaching this server directly learns at most
//                 which ids carry a national id it already knows; keep it on
//                 a network only the PEP reaches all the same.
//   REQUIRE_ASSERTION_ISS   the expected iss (required with _JWKS): the
//                 PEP's upstream_assertion issuer, by default its resource
//   REQUIRE_ASSERTION_AUD   the expected aud (default BASE_URL): the PEP's
//                 upstream_base
//   REQUIRE_ASSERTION_HEADER  header carrying it (default Authorization, as
//                 "Bearer <jwt>"; another header carries the bare JWT)
// Prints "ready <base URL> resources=<n>" once it serves.
import { DEFAULT_DATA_DIR, startServer } from './app.js';

const port = Number.parseInt(process.env.PORT ?? '8103', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`fhir-server: invalid PORT ${process.env.PORT}`);
  process.exit(2);
}

let requireAssertion;
if (process.env.REQUIRE_ASSERTION_JWKS) {
  if (!process.env.REQUIRE_ASSERTION_ISS) {
    console.error('fhir-server: REQUIRE_ASSERTION_JWKS needs REQUIRE_ASSERTION_ISS');
    process.exit(2);
  }
  requireAssertion = {
    jwksUrl: process.env.REQUIRE_ASSERTION_JWKS,
    issuer: process.env.REQUIRE_ASSERTION_ISS,
    ...(process.env.REQUIRE_ASSERTION_AUD ? { audience: process.env.REQUIRE_ASSERTION_AUD } : {}),
    ...(process.env.REQUIRE_ASSERTION_HEADER ? { header: process.env.REQUIRE_ASSERTION_HEADER } : {}),
  };
}
const logging = process.env.LOG_REQUESTS === '1';

try {
  const { server, baseUrl, resources } = await startServer({
    host: process.env.HOST || '127.0.0.1',
    port,
    dirs: [process.env.DATA_DIR || DEFAULT_DATA_DIR],
    baseUrl: process.env.BASE_URL || undefined,
    paging: process.env.PAGING || 'offset',
    // LOG_REQUESTS=1: one "request METHOD URL" line per request, so the demo
    // can show what the PEP sent upstream (the PEP keeps national ids and
    // tokens out of URLs; patient lookups are POST _search).
    logRequest: logging ? (line) => console.log(`request ${line}`) : undefined,
    requireAssertion,
    logAssertion: logging ? (line) => console.log(`assertion ${line}`) : undefined,
  });
  console.log(`ready ${baseUrl} resources=${resources}`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(`fhir-server: ${err.message}`);
  process.exit(1);
}
