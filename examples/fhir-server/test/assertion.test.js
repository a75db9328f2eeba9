// Tests of the upstream assertion check (src/assertion.js): the verifier
// alone, with keys and JWTs made here as fhir-pep makes them (ES256 and
// RS256, kid = RFC 7638 thumbprint, typ JWT), and the server started with
// REQUIRE_ASSERTION_JWKS against a JWKS served by the test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createAssertionVerifier, exemptRequest } from '../src/assertion.js';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ISS = 'https://localhost:9443/fhir/R4';
const AUD = 'http://127.0.0.1:8103/fhir/R4';
const NID = 'http://fhir.health.gov.il/identifier/il-national-id';

/** A key pair with its public JWK as the PEP publishes it. */
function makeKey(alg) {
  const pair =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = pair.publicKey.export({ format: 'jwk' });
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  const kid = createHash('sha256').update(JSON.stringify(members)).digest('base64url');
  return { alg, privateKey: pair.privateKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

function b64(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

/** Signs claims as fhir-pep does; header and claims can be overridden. */
function makeJwt(key, claims = {}, header = {}) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: key.alg, kid: key.jwk.kid, typ: 'JWT', ...header });
  const body = b64({
    iss: ISS,
    sub: 'http://pcm.fhir.health.gov.il/organization/org-sp-hospital-a',
    aud: [AUD],
    patient: 'hdp-demo-patient-2',
    scope: 'patient/Observation.rs',
    consent_id: 'PCM-CONSENT-0001',
    correlation_id: 'corr-1',
    iat: now,
    exp: now + 60,
    jti: 'jti-1',
    ...claims,
  });
  const input = Buffer.from(`${head}.${body}`);
  const sig =
    key.alg === 'ES256' ? sign('sha256', input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }) : sign('sha256', input, key.privateKey);
  return `${head}.${body}.${sig.toString('base64url')}`;
}

/** A fetch that serves a JWKS document and counts its calls. */
function fakeFetch(keys) {
  const f = async () => {
    f.calls++;
    return new Response(JSON.stringify({ keys }), { status: 200 });
  };
  f.calls = 0;
  return f;
}

const ec = makeKey('ES256');
const rsa = makeKey('RS256');
const other = makeKey('ES256');

describe('assertion verifier', () => {
  const verifier = () => createAssertionVerifier({ jwksUrl: 'http://jwks.test/jwks.json', issuer: ISS, audience: AUD, fetch: fakeFetch([ec.jwk, rsa.jwk]) });

  for (const key of [ec, rsa]) {
    it(`accepts a ${key.alg} assertion and returns its claims`, async () => {
      const { header, claims } = await verifier().verifyRequest({ authorization: `Bearer ${makeJwt(key)}` });
      assert.equal(header.alg, key.alg);
      assert.equal(claims.patient, 'hdp-demo-patient-2');
      assert.equal(claims.consent_id, 'PCM-CONSENT-0001');
    });
  }

  const now = Math.floor(Date.now() / 1000);
  const refused = [
    ['no header', () => ({})],
    ['another scheme', () => ({ authorization: `Basic ${makeJwt(ec)}` })],
    ['a repeated header', () => ({ authorization: [`Bearer ${makeJwt(ec)}`, `Bearer ${makeJwt(ec)}`] })],
    ['signed by a key not in the JWKS', () => ({ authorization: `Bearer ${makeJwt(other)}` })],
    ["another key's signature under a known kid", () => ({ authorization: `Bearer ${makeJwt({ ...other, jwk: { ...other.jwk, kid: ec.jwk.kid } })}` })],
    ['a tampered payload', () => {
      const [h, , s] = makeJwt(ec).split('.');
      return { authorization: `Bearer ${h}.${b64({ iss: ISS, aud: AUD, sub: 'x', patient: 'hdp-demo-patient-1', iat: now, exp: now + 60 })}.${s}` };
    }],
    ['alg none', () => ({ authorization: `Bearer ${b64({ alg: 'none', kid: ec.jwk.kid })}.${makeJwt(ec).split('.')[1]}.AAAA` })],
    ['alg HS256', () => ({ authorization: `Bearer ${makeJwt(ec, {}, { alg: 'HS256' })}` })],
    ['alg RS256 with an EC key', () => ({ authorization: `Bearer ${makeJwt(ec, {}, { alg: 'RS256' })}` })],
    ['alg as a list', () => ({ authorization: `Bearer ${makeJwt(ec, {}, { alg: ['ES256'] })}` })],
    ['no kid', () => ({ authorization: `Bearer ${makeJwt(ec, {}, { kid: undefined })}` })],
    ['a crit header', () => ({ authorization: `Bearer ${makeJwt(ec, {}, { crit: ['exp'] })}` })],
    ['expired', () => ({ authorization: `Bearer ${makeJwt(ec, { iat: now - 120, exp: now - 60 })}` })],
    ['issued in the future', () => ({ authorization: `Bearer ${makeJwt(ec, { iat: now + 60, exp: now + 120 })}` })],
    ['a lifetime over 5 minutes', () => ({ authorization: `Bearer ${makeJwt(ec, { exp: now + 3600 })}` })],
    ['wrong iss', () => ({ authorization: `Bearer ${makeJwt(ec, { iss: 'https://someone-else.example/' })}` })],
    ['wrong aud', () => ({ authorization: `Bearer ${makeJwt(ec, { aud: ['http://127.0.0.1:9999/fhir/R4'] })}` })],
    ['no aud', () => ({ authorization: `Bearer ${makeJwt(ec, { aud: undefined })}` })],
    ['no patient', () => ({ authorization: `Bearer ${makeJwt(ec, { patient: '' })}` })],
    ['no sub', () => ({ authorization: `Bearer ${makeJwt(ec, { sub: undefined })}` })],
    ['not a JWS', () => ({ authorization: 'Bearer abc.def' })],
  ];
  for (const [name, headers] of refused) {
    it(`refuses ${name} with 401`, async () => {
      await assert.rejects(verifier().verifyRequest(headers()), (err) => err.status === 401);
    });
  }

  it('accepts a small clock skew', async () => {
    await verifier().verifyRequest({ authorization: `Bearer ${makeJwt(ec, { iat: now + 5, exp: now + 65 })}` });
    await verifier().verifyRequest({ authorization: `Bearer ${makeJwt(ec, { iat: now - 65, exp: now - 5 })}` });
  });

  it('reads another header as the bare JWT', async () => {
    const v = createAssertionVerifier({ jwksUrl: 'http://jwks.test/', issuer: ISS, audience: AUD, header: 'X-PEP-Assertion', fetch: fakeFetch([ec.jwk]) });
    await v.verifyRequest({ 'x-pep-assertion': makeJwt(ec) });
    await assert.rejects(v.verifyRequest({ authorization: `Bearer ${makeJwt(ec)}` }), (err) => err.status === 401);
  });

  it('fetches the JWKS once, again for an unknown kid at most every 5 s', async () => {
    let t = Date.now();
    const f = fakeFetch([ec.jwk]);
    const v = createAssertionVerifier({ jwksUrl: 'http://jwks.test/', issuer: ISS, audience: AUD, fetch: f, now: () => t });
    await v.verifyRequest({ authorization: `Bearer ${makeJwt(ec)}` });
    await v.verifyRequest({ authorization: `Bearer ${makeJwt(ec)}` });
    assert.equal(f.calls, 1);
    await assert.rejects(v.verifyRequest({ authorization: `Bearer ${makeJwt(other)}` }));
    assert.equal(f.calls, 1, 'an unknown kid right after a fetch does not fetch again');
    t += 6000;
    await assert.rejects(v.verifyRequest({ authorization: `Bearer ${makeJwt(other, { iat: Math.floor(t / 1000), exp: Math.floor(t / 1000) + 60 })}` }));
    assert.equal(f.calls, 2, 'an unknown kid later fetches again (key rotation)');
  });

  it('fails closed with 503 when the JWKS cannot be fetched', async () => {
    const v = createAssertionVerifier({
      jwksUrl: 'http://jwks.test/',
      issuer: ISS,
      audience: AUD,
      fetch: async () => new Response('down', { status: 502 }),
    });
    await assert.rejects(v.verifyRequest({ authorization: `Bearer ${makeJwt(ec)}` }), (err) => err.status === 503);
  });

  it('uses no key whose kid the JWKS names twice, nor a private key', async () => {
    const twice = createAssertionVerifier({ jwksUrl: 'http://jwks.test/', issuer: ISS, audience: AUD, fetch: fakeFetch([ec.jwk, { ...other.jwk, kid: ec.jwk.kid }]) });
    await assert.rejects(twice.verifyRequest({ authorization: `Bearer ${makeJwt(ec)}` }), (err) => err.status === 401);
    const priv = { ...ec.privateKey.export({ format: 'jwk' }), kid: ec.jwk.kid, alg: 'ES256' };
    const withPrivate = createAssertionVerifier({ jwksUrl: 'http://jwks.test/', issuer: ISS, audience: AUD, fetch: fakeFetch([priv]) });
    await assert.rejects(withPrivate.verifyRequest({ authorization: `Bearer ${makeJwt(ec)}` }), (err) => err.status === 401);
  });
});

describe('requests admitted without an assertion', () => {
  const form = 'application/x-www-form-urlencoded';
  const cases = [
    ['metadata', 'GET', '/metadata', undefined, '', 'metadata'],
    ['the PEP lookup', 'POST', '/Patient/_search', { identifier: `${NID}|000000026`, _count: '50', '_security:not': 'x|V' }, form, 'lookup'],
    ['a lookup with another parameter', 'POST', '/Patient/_search', { identifier: `${NID}|000000026`, name: 'Cohen' }, form, null],
    ['a lookup without a system', 'POST', '/Patient/_search', { identifier: '000000026' }, form, null],
    ['a lookup of two identifiers', 'POST', '/Patient/_search', { identifier: `${NID}|000000026,${NID}|000000018` }, form, null],
    ['a lookup as JSON', 'POST', '/Patient/_search', { identifier: `${NID}|000000026` }, 'application/json', null],
    ['a GET Patient search', 'GET', '/Patient', undefined, '', null],
    ['an Observation _search', 'POST', '/Observation/_search', { identifier: `${NID}|000000026` }, form, null],
  ];
  for (const [name, method, rel, body, type, want] of cases) {
    it(`${name}: ${want ?? 'not exempt'}`, () => {
      assert.equal(exemptRequest(method, rel, body, type), want);
    });
  }
});

describe('server with REQUIRE_ASSERTION_JWKS', () => {
  let jwks;
  let child;
  let base;
  let out = '';

  before(async () => {
    jwks = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/jwk-set+json' });
      res.end(JSON.stringify({ keys: [ec.jwk, rsa.jwk] }));
    });
    await new Promise((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    child = spawn(process.execPath, ['src/server.js'], {
      cwd: serverDir,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_REQUESTS: '1',
        REQUIRE_ASSERTION_JWKS: `http://127.0.0.1:${jwks.address().port}/jwks.json`,
        REQUIRE_ASSERTION_ISS: ISS,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    base = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server not ready within 15 s')), 15000);
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const m = /^ready (\S+) resources=\d+$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
  });

  after(() => {
    child?.kill('SIGTERM');
    jwks?.close();
  });

  // The audience is the server's own base (REQUIRE_ASSERTION_AUD unset).
  const jwtFor = (key, claims = {}) => makeJwt(key, { aud: [base], ...claims });

  async function call(method, rel, { headers = {}, body } = {}) {
    const res = await fetch(base + rel, { method, headers, body });
    return { status: res.status, body: await res.json(), headers: res.headers };
  }

  it('serves a read with a valid ES256 or RS256 assertion', async () => {
    for (const key of [ec, rsa]) {
      const r = await call('GET', '/Observation/p2-hemoglobin', { headers: { Authorization: `Bearer ${jwtFor(key)}` } });
      assert.equal(r.status, 200, key.alg);
      assert.equal(r.body.id, 'p2-hemoglobin');
    }
  });

  it('refuses a read without an assertion, or with a bad one, with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const headers of [
      {},
      { Authorization: `Bearer ${jwtFor(other)}` },
      { Authorization: `Bearer ${jwtFor(ec, { iat: now - 120, exp: now - 60 })}` },
      { Authorization: `Bearer ${makeJwt(ec)}` }, // aud of another server
    ]) {
      const r = await call('GET', '/Observation/p2-hemoglobin', { headers });
      assert.equal(r.status, 401);
      assert.equal(r.body.resourceType, 'OperationOutcome');
      assert.equal(r.body.issue[0].code, 'login');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    }
  });

  it('serves metadata without an assertion', async () => {
    const r = await call('GET', '/metadata');
    assert.equal(r.status, 200);
    assert.equal(r.body.resourceType, 'CapabilityStatement');
  });

  it("serves the PEP's lookup without an assertion, reduced to ids and identifiers", async () => {
    const form = new URLSearchParams({ _count: '50', identifier: `${NID}|000000018` });
    const r = await call('POST', '/Patient/_search', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    assert.equal(r.status, 200);
    const patients = r.body.entry.map((e) => e.resource);
    assert.deepEqual(patients.map((p) => p.id).sort(), ['hdp-demo-patient-1', 'hdp-demo-patient-1-old']);
    for (const p of patients) {
      assert.deepEqual(Object.keys(p).sort(), ['id', 'identifier', 'resourceType']);
    }
    // Anything more than the lookup needs an assertion.
    form.set('name', 'Cohen');
    const more = await call('POST', '/Patient/_search', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    assert.equal(more.status, 401);
  });

  it('logs the verified claims and the reasons of refusals, never the JWT', async () => {
    const jwt = jwtFor(ec, { correlation_id: 'node-test-corr' });
    await call('GET', '/Observation/p2-hemoglobin', { headers: { Authorization: `Bearer ${jwt}` } });
    const line = out.split('\n').find((l) => l.startsWith('assertion ') && l.includes('node-test-corr'));
    assert.ok(line, out);
    const logged = JSON.parse(line.slice('assertion '.length));
    assert.equal(logged.verified, true);
    assert.equal(logged.patient, 'hdp-demo-patient-2');
    assert.equal(logged.consent_id, 'PCM-CONSENT-0001');
    assert.equal(logged.kid, ec.jwk.kid);
    assert.ok(out.includes('"verified":false'), 'refusals are logged');
    assert.ok(!out.includes(jwt.split('.')[2]), 'the JWT is not logged');
  });
});

describe('verifier configuration', () => {
  it('refuses a JWKS URL that is not http(s) at start', () => {
    for (const jwksUrl of ['jwks.json', 'file:///etc/jwks.json']) {
      assert.throws(() => createAssertionVerifier({ jwksUrl, issuer: ISS, audience: AUD }), /not an http\(s\) URL/);
    }
  });
});
