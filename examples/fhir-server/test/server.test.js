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

const P1 = 'hdp-demo-patient-1';
const P1_OLD = 'hdp-demo-patient-1-old';
const FORBIDDEN = 'http://fhir.health.gov.il/cs/il-core-main-security-label|V';

/** Starts src/server.js on a free port; resolves with { child, base }. */
async function startServer(env = {}) {
  const child = spawn(process.execPath, ['src/server.js'], {
    cwd: serverDir,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolve, reject) => {
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
  return { child, base };
}

let child;
let base;

before(async () => {
  ({ child, base } = await startServer());
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
  it('reads patient 1 with its own id and version', async () => {
    const { status, body, headers } = await get(`/Patient/${P1}`);
    assert.equal(status, 200);
    assert.equal(body.id, P1);
    assert.deepEqual(body.identifier, [{ system: NID, value: '000000018' }]);
    assert.equal(headers.get('etag'), 'W/"1"');
  });

  it('keeps contained resources and their labels', async () => {
    const { status, body } = await get('/DiagnosticReport/p1-viral-load-report');
    assert.equal(status, 200);
    assert.deepEqual(body.result, [{ reference: '#viral-load' }]);
    const labels = body.contained[0].meta.security.map((s) => `${s.system}|${s.code}`);
    assert.ok(labels.includes(FORBIDDEN), labels.join());
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
      name: 'Patient by national id with two records',
      query: `/Patient?identifier=${NID}|000000018`,
      want: [`Patient/${P1}`, `Patient/${P1_OLD}`],
    },
    { name: 'Patient by national id, patient 2', query: `/Patient?identifier=${NID}|000000026`, want: [`Patient/${P2}`] },
    { name: 'Patient by national id, patient 3', query: `/Patient?identifier=${NID}|000000034`, want: [`Patient/${P3}`] },
    { name: 'Patient by unknown national id', query: `/Patient?identifier=${NID}|000000000`, want: [] },
    { name: 'Patient by _id', query: `/Patient?_id=${P3}`, want: [`Patient/${P3}`] },
    {
      name: 'Observation by subject',
      query: `/Observation?subject=Patient/${P2}`,
      want: ['p2-hemoglobin', 'p2-glucose', 'p2-potassium', 'p2-ki67', 'p2-bp', 'p2-unlabelled-ldl', 'p2-home-glucose'].map(
        (id) => `Observation/${id}`
      ),
    },
    {
      name: 'Observation by patient and IG bucket (codes compare case-insensitively)',
      query: `/Observation?patient=Patient/${P2}&_security=${IG_BUCKETS}|laboratoryTests`,
      want: ['Observation/p2-hemoglobin', 'Observation/p2-potassium', 'Observation/p2-ki67', 'Observation/p2-home-glucose'],
    },
    {
      name: 'Observation by performer: the attribution trap',
      query: `/Observation?performer=Patient/${P1}`,
      want: ['Observation/p2-home-glucose'],
    },
    {
      name: 'lab Observations without the forbidden label (_security:not)',
      query: `/Observation?subject=Patient/${P3}&category=laboratory&_security:not=${FORBIDDEN}`,
      want: ['Observation/p3-creatinine', 'Observation/p3-tsh', 'Observation/p3-ferritin'],
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
      want: ['p3-creatinine', 'p3-ferritin', 'p3-restricted-lab', 'p3-weight', 'p3-unlabelled-heart-rate'].map((id) => `Observation/${id}`),
    },
    {
      name: 'Observations of both records of patient 1',
      query: `/Observation?subject=Patient/${P1},Patient/${P1_OLD}&category=laboratory`,
      want: ['Observation/p1-hemoglobin', 'Observation/p1-glucose-2019', 'Observation/p1-cholesterol'],
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

  it('_include follows Encounter part-of and reason-reference', async () => {
    const partOf = await get('/Encounter?_id=p1-segment-ward-2025&_include=Encounter:part-of');
    assert.deepEqual(ids(partOf.body, 'include'), ['Encounter/p1-hospitalization-2023']);
    const reason = await get('/Encounter?_id=p1-er-2025&_include=Encounter:reason-reference');
    assert.deepEqual(ids(reason.body, 'include'), ['Condition/p1-restricted-diagnosis']);
  });

  it('_revinclude adds referencing resources', async () => {
    const { body } = await get('/Observation?_id=p3-creatinine&_revinclude=DiagnosticReport:result');
    assert.deepEqual(ids(body, 'include'), ['DiagnosticReport/p3-renal-panel']);
  });

  it('pages with next links that can be followed', async () => {
    const first = await get(`/Observation?subject=Patient/${P2}&_count=4`);
    assert.equal(first.body.total, 7);
    assert.equal(first.body.entry.length, 4);
    const next = first.body.link.find((l) => l.relation === 'next');
    assert.ok(next, 'next link');
    assert.ok(next.url.startsWith(`${base}/Observation?`));
    const second = await get(next.url);
    assert.equal(second.body.entry.length, 3);
    assert.equal(second.body.link.find((l) => l.relation === 'next'), undefined);
    const all = [...ids(first.body), ...ids(second.body)];
    assert.equal(new Set(all).size, 7);
  });

  it('POST _search takes form parameters', async () => {
    const res = await fetch(`${base}/Observation/_search`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ subject: `Patient/${P3}`, category: 'laboratory' }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(ids(body).sort(), ['Observation/p3-creatinine', 'Observation/p3-ferritin', 'Observation/p3-restricted-lab', 'Observation/p3-tsh']);
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
  it('keeps an Encounter rewritten from 2023 to 2025 as two versions', async () => {
    const { status, body } = await get('/Encounter/p1-gp-visit/_history');
    assert.equal(status, 200);
    assert.equal(body.type, 'history');
    assert.deepEqual(body.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
    assert.deepEqual(body.entry.map((e) => e.resource.period.start.slice(0, 4)), ['2025', '2023']);
    const again = await get('/Encounter/p1-gp-visit/_history');
    assert.deepEqual(again.body.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
    const v1 = await get('/Encounter/p1-gp-visit/_history/1');
    assert.equal(v1.status, 200);
    assert.equal(v1.body.meta.lastUpdated, '2023-04-01T08:00:00Z');
    assert.equal((await get('/Encounter/p1-gp-visit')).body.period.start.slice(0, 4), '2025');
    assert.equal((await get('/Encounter/p1-gp-visit/_history/9')).status, 404);
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

  it('loads nothing from outside the repository', () => {
    assert.doesNotMatch(readFileSync(path.join(serverDir, 'src', 'app.js'), 'utf8'), /shared/);
  });
});

describe('HAPI-style paging (PAGING=hapi)', () => {
  let hapi;
  before(async () => {
    hapi = await startServer({ PAGING: 'hapi' });
  });
  after(() => hapi?.child.kill('SIGTERM'));

  const getHapi = async (target) => {
    const res = await fetch(target.startsWith('http') ? target : hapi.base + target);
    return { status: res.status, body: await res.json() };
  };

  it('pages through opaque _getpages links', async () => {
    const first = await getHapi(`/Observation?subject=Patient/${P2}&_count=3`);
    assert.equal(first.status, 200);
    assert.equal(first.body.total, 7);
    const self = first.body.link.find((l) => l.relation === 'self').url;
    assert.equal(self, `${hapi.base}/Observation?subject=Patient%2F${P2}&_count=3`);
    const seen = [...ids(first.body)];
    let next = first.body.link.find((l) => l.relation === 'next')?.url;
    let pages = 1;
    while (next) {
      const u = new URL(next);
      assert.equal(`${u.origin}${u.pathname}`, hapi.base, 'page links point at the server base');
      assert.match(u.searchParams.get('_getpages'), /^[0-9a-f-]{36}$/);
      assert.equal(u.searchParams.get('_getpagesoffset'), String(pages * 3));
      assert.equal(u.searchParams.get('subject'), null, 'the search is not in the link');
      const page = await getHapi(next);
      assert.equal(page.status, 200);
      seen.push(...ids(page.body));
      const previous = page.body.link.find((l) => l.relation === 'previous')?.url;
      assert.ok(previous?.includes('_getpages='), 'previous link is a _getpages link');
      next = page.body.link.find((l) => l.relation === 'next')?.url;
      pages++;
      assert.ok(pages <= 3, 'too many pages');
    }
    assert.equal(pages, 3);
    assert.equal(new Set(seen).size, 7);
  });

  it('pages a Patient compartment search', async () => {
    const first = await getHapi(`/Patient/${P3}/Observation?_count=4`);
    const next = first.body.link.find((l) => l.relation === 'next').url;
    const second = await getHapi(next);
    assert.equal(ids(second.body).length, 2);
    assert.equal(new Set([...ids(first.body), ...ids(second.body)]).size, 6);
  });

  it('answers 410 for an unknown search id', async () => {
    const { status, body } = await getHapi('?_getpages=00000000-0000-0000-0000-000000000000&_getpagesoffset=2&_count=2');
    assert.equal(status, 410);
    assert.equal(body.resourceType, 'OperationOutcome');
  });

  it('keeps single-page searches without page links', async () => {
    const { body } = await getHapi(`/Patient?_id=${P3}`);
    assert.deepEqual(body.link.map((l) => l.relation), ['self']);
  });

  it('is off by default: _getpages is an unknown parameter', async () => {
    const { status } = await get('?_getpages=x');
    assert.equal(status, 400);
  });
});

describe('request log (LOG_REQUESTS=1)', () => {
  let logged;
  before(async () => {
    logged = await startServer({ LOG_REQUESTS: '1' });
  });
  after(() => logged?.child.kill('SIGTERM'));

  it('writes one line per request with the method and the URL as sent', async () => {
    const want = `request GET ${new URL(logged.base).pathname}/Observation?_security:not=`;
    const seen = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line starting ${want}`)), 10000);
      let out = '';
      logged.child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.split('\n').some((l) => l.startsWith(want))) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const target = '/Observation?_security:not=http://fhir.health.gov.il/cs/il-core-main-security-label|V';
    const res = await fetch(logged.base + target);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await seen;
  });

  it('is off by default', async () => {
    const lines = [];
    child.stdout.on('data', (chunk) => lines.push(String(chunk)));
    const res = await fetch(base + '/Observation');
    await res.arrayBuffer();
    assert.deepEqual(lines.filter((l) => l.includes('request ')), []);
  });
});
