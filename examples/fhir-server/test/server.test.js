// End-to-end tests of the demo FHIR server: starts it as the demo does (a
// child process on a free port) and speaks FHIR REST to it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NID = 'http://fhir.health.gov.il/identifier/il-national-id';
const IG_BUCKETS = 'http://fhir.health.gov.il/cs/il-hdp-information-buckets';
const ALIAS_BUCKETS = 'http://fhir.health.gov.il/cs/hdp-information-buckets';
const P2 = 'hdp-demo-patient-2';
const P3 = 'hdp-demo-patient-3';

let child;
let base;

before(async () => {
  child = spawn(process.execPath, ['src/server.js'], {
    cwd: serverDir,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server not ready within 15 s')), 15000);
    let out = '';
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

after(() => child?.kill('SIGTERM'));

async function get(pathAndQuery) {
  const res = await fetch(pathAndQuery.startsWith('http') ? pathAndQuery : base + pathAndQuery);
  const body = await res.json();
  return { status: res.status, body, headers: res.headers };
}

const ids = (bundle, mode = 'match') =>
  (bundle.entry ?? []).filter((e) => e.search?.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`);

describe('metadata', () => {
  it('is an R4 CapabilityStatement listing search parameters', async () => {
    const { status, body, headers } = await get('/metadata');
    assert.equal(status, 200);
    assert.match(headers.get('content-type'), /^application\/fhir\+json/);
    assert.equal(body.resourceType, 'CapabilityStatement');
    assert.equal(body.fhirVersion, '4.0.1');
    const observation = body.rest[0].resource.find((r) => r.type === 'Observation');
    const params = observation.searchParam.map((p) => p.name);
    for (const name of ['_id', '_security', 'subject', 'patient', 'category', 'date', 'code']) {
      assert.ok(params.includes(name), `Observation search parameter ${name}`);
    }
  });
});

describe('read', () => {
  it('reads a fixture Patient with its own id and version', async () => {
    const { status, body, headers } = await get('/Patient/patient-with-israeli-id');
    assert.equal(status, 200);
    assert.equal(body.id, 'patient-with-israeli-id');
    assert.deepEqual(body.identifier, [{ system: NID, value: '000000018' }]);
    assert.equal(headers.get('etag'), 'W/"1"');
  });

  it('reads second- and third-patient resources', async () => {
    const hb = await get('/Observation/p2-hemoglobin');
    assert.equal(hb.status, 200);
    assert.equal(hb.body.subject.reference, `Patient/${P2}`);
    assert.deepEqual(hb.body.meta.security.map((s) => `${s.system}|${s.code}`), [`${IG_BUCKETS}|laboratoryTests`]);
    const asthma = await get('/Condition/p3-asthma');
    assert.equal(asthma.status, 200);
    assert.equal(asthma.body.subject.reference, `Patient/${P3}`);
  });

  it('keeps the unlabelled resource unlabelled', async () => {
    const { status, body } = await get('/Observation/p2-unlabelled-ldl');
    assert.equal(status, 200);
    assert.equal(body.meta.security, undefined);
  });

  it('answers 404 with an OperationOutcome for a missing resource', async () => {
    const { status, body } = await get('/Patient/does-not-exist');
    assert.equal(status, 404);
    assert.equal(body.resourceType, 'OperationOutcome');
  });
});

describe('search', () => {
  const cases = [
    {
      name: 'Patient by national id with two records (IG fixtures)',
      query: `/Patient?identifier=${NID}|000000018`,
      want: ['Patient/patient-with-israeli-id', 'Patient/1a97f164-27cb-4d7f-b1a7-8ecbe395d066'],
    },
    { name: 'Patient by national id, patient 2', query: `/Patient?identifier=${NID}|000000026`, want: [`Patient/${P2}`] },
    { name: 'Patient by national id, patient 3', query: `/Patient?identifier=${NID}|000000034`, want: [`Patient/${P3}`] },
    { name: 'Patient by unknown national id', query: `/Patient?identifier=${NID}|000000000`, want: [] },
    { name: 'Patient by _id', query: `/Patient?_id=${P3}`, want: [`Patient/${P3}`] },
    {
      name: 'Observation by subject',
      query: `/Observation?subject=Patient/${P2}`,
      want: ['p2-hemoglobin', 'p2-glucose', 'p2-potassium', 'p2-ki67', 'p2-bp', 'p2-unlabelled-ldl'].map((id) => `Observation/${id}`),
    },
    {
      name: 'Observation by patient and IG bucket (codes compare case-insensitively)',
      query: `/Observation?patient=Patient/${P2}&_security=${IG_BUCKETS}|laboratoryTests`,
      want: ['Observation/p2-hemoglobin', 'Observation/p2-potassium', 'Observation/p2-ki67'],
    },
    {
      name: 'Observation by alias bucket system',
      query: `/Observation?_security=${ALIAS_BUCKETS}|laboratoryTests`,
      want: ['Observation/p2-glucose', 'Observation/p3-tsh'],
    },
    {
      name: 'Observation by category and subject',
      query: `/Observation?category=vital-signs&subject=Patient/${P3}`,
      want: ['Observation/p3-weight', 'Observation/p3-unlabelled-heart-rate'],
    },
    {
      name: 'Encounter by date and subject',
      query: `/Encounter?subject=Patient/${P2}&date=ge2024-01-01`,
      want: ['Encounter/p2-gp-visit-2024', 'Encounter/p2-er-2025'],
    },
    {
      name: 'Patient compartment with a date constraint',
      query: `/Patient/${P3}/Observation?date=ge2024-01-01`,
      want: ['p3-creatinine', 'p3-ferritin', 'p3-weight', 'p3-unlabelled-heart-rate'].map((id) => `Observation/${id}`),
    },
    {
      name: 'fixture Observation by subject',
      query: '/Observation?subject=Patient/patient-with-israeli-id',
      want: ['Observation/hemoglobin-lab-test'],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { status, body } = await get(c.query);
      assert.equal(status, 200);
      assert.equal(body.type, 'searchset');
      assert.deepEqual(ids(body).sort(), [...c.want].sort());
      assert.equal(body.total, c.want.length);
      for (const e of body.entry ?? []) {
        assert.equal(e.fullUrl, `${base}/${e.resource.resourceType}/${e.resource.id}`);
      }
    });
  }

  it('_include adds referenced resources', async () => {
    const { body } = await get('/DiagnosticReport?_id=p2-cbc&_include=DiagnosticReport:result&_include=DiagnosticReport:subject');
    assert.deepEqual(ids(body), ['DiagnosticReport/p2-cbc']);
    assert.deepEqual(ids(body, 'include').sort(), ['Observation/p2-hemoglobin', `Patient/${P2}`]);
  });

  it('_revinclude adds referencing resources', async () => {
    const { body } = await get('/Observation?_id=p3-creatinine&_revinclude=DiagnosticReport:result');
    assert.deepEqual(ids(body, 'include'), ['DiagnosticReport/p3-renal-panel']);
  });

  it('pages with next links that can be followed', async () => {
    const first = await get(`/Observation?subject=Patient/${P2}&_count=4`);
    assert.equal(first.body.total, 6);
    assert.equal(first.body.entry.length, 4);
    const next = first.body.link.find((l) => l.relation === 'next');
    assert.ok(next, 'next link');
    assert.ok(next.url.startsWith(`${base}/Observation?`));
    const second = await get(next.url);
    assert.equal(second.body.entry.length, 2);
    assert.equal(second.body.link.find((l) => l.relation === 'next'), undefined);
    const all = [...ids(first.body), ...ids(second.body)];
    assert.equal(new Set(all).size, 6);
  });

  it('POST _search takes form parameters', async () => {
    const res = await fetch(`${base}/Observation/_search`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ subject: `Patient/${P3}`, category: 'laboratory' }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(ids(body).sort(), ['Observation/p3-creatinine', 'Observation/p3-ferritin', 'Observation/p3-tsh']);
  });

  it('rejects unknown search parameters instead of matching nothing', async () => {
    const { status, body } = await get('/Observation?not-a-param=1');
    assert.equal(status, 400);
    assert.equal(body.resourceType, 'OperationOutcome');
  });

  it('serves nothing outside /fhir/R4', async () => {
    const res = await fetch(base.replace('/fhir/R4', '/Patient'));
    assert.equal(res.status, 404);
  });
});

describe('history', () => {
  it('keeps both copies of a duplicated fixture as versions', async () => {
    const { status, body } = await get('/Observation/ExampleILHDPBP/_history');
    assert.equal(status, 200);
    assert.equal(body.type, 'history');
    assert.deepEqual(body.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
    const again = await get('/Observation/ExampleILHDPBP/_history');
    assert.deepEqual(again.body.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
    assert.equal((await get('/Observation/ExampleILHDPBP/_history/1')).status, 200);
    assert.equal((await get('/Observation/ExampleILHDPBP/_history/9')).status, 404);
  });
});

describe('demo data', () => {
  const referencesIn = (value, out = []) => {
    if (Array.isArray(value)) {
      value.forEach((v) => referencesIn(v, out));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\/[^/]+$/.test(v)) {
          out.push(v);
        } else {
          referencesIn(v, out);
        }
      }
    }
    return out;
  };

  it('every reference of the demo patients resolves', async () => {
    const dataDir = path.join(serverDir, 'data');
    const refs = new Set();
    for (const name of readdirSync(dataDir).filter((n) => n.endsWith('.json'))) {
      referencesIn(JSON.parse(readFileSync(path.join(dataDir, name), 'utf8')), []).forEach((r) => refs.add(r));
    }
    assert.ok(refs.size > 10);
    for (const ref of refs) {
      assert.equal((await get(`/${ref}`)).status, 200, ref);
    }
  });

  it('every Patient reference of the IG fixtures resolves', async () => {
    const fixtures = path.resolve(serverDir, '../../../shared/fixtures/hdp-ig-examples');
    const refs = new Set();
    for (const name of readdirSync(fixtures).filter((n) => n.endsWith('.json'))) {
      referencesIn(JSON.parse(readFileSync(path.join(fixtures, name), 'utf8')))
        .filter((r) => r.startsWith('Patient/'))
        .forEach((r) => refs.add(r));
    }
    assert.ok(refs.size >= 6);
    for (const ref of refs) {
      assert.equal((await get(`/${ref}`)).status, 200, ref);
    }
  });
});
