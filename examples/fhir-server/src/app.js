// Builds and starts the demo FHIR server.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FhirRouter } from '@medplum/fhir-router';
import { createAssertionVerifier } from './assertion.js';
import { capabilityStatement } from './capability.js';
import { createHandler } from './http.js';
import { loadDirectory } from './loader.js';
import { DemoRepository } from './repository.js';
import { loadFhirSchema, patientCompartment } from './schema.js';

export const BASE_PATH = '/fhir/R4';

const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The generated demo data (examples/demodata, `make demo-data`). */
export const DEFAULT_DATA_DIR = path.resolve(serverDir, 'data');

/** Paging link styles: `offset` (`_offset`/`_count` on the search URL) or `hapi` (`_getpages`). */
export const PAGING_MODES = ['offset', 'hapi'];

/**
 * Loads the data and starts listening.
 * @param {object} options
 * @param {string} [options.host]
 * @param {number} [options.port] - 0 picks a free port
 * @param {string[]} [options.dirs] - data directories, loaded in order
 * @param {string} [options.baseUrl] - public FHIR base for links; default http://host:port/fhir/R4
 * @param {string} [options.paging] - one of PAGING_MODES (default offset)
 * @param {(line: string) => void} [options.logRequest] - called with "METHOD URL" of every request
 * @param {object} [options.requireAssertion] - require fhir-pep's upstream assertion (src/assertion.js):
 *   { jwksUrl, issuer, audience (default: the FHIR base), header (default Authorization) }
 * @param {(line: string) => void} [options.logAssertion] - called with one JSON line per checked assertion
 * @returns {Promise<{server: http.Server, baseUrl: string, resources: number}>}
 */
export async function startServer({
  host = '127.0.0.1',
  port = 8103,
  dirs = [DEFAULT_DATA_DIR],
  baseUrl,
  paging = 'offset',
  logRequest,
  requireAssertion,
  logAssertion,
} = {}) {
  if (!PAGING_MODES.includes(paging)) {
    throw new Error(`unknown paging mode ${paging} (one of ${PAGING_MODES.join(', ')})`);
  }
  loadFhirSchema();
  const repo = new DemoRepository(patientCompartment());
  const versions = new Map();
  let resources = 0;
  for (const dir of dirs) {
    resources += await loadDirectory(repo, dir, versions);
  }
  const router = new FhirRouter();
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const base = (baseUrl ?? `http://${hostPart}:${address.port}${BASE_PATH}`).replace(/\/+$/, '');
  const capability = capabilityStatement(base, '0.1.0');
  let assertion;
  if (requireAssertion) {
    try {
      assertion = createAssertionVerifier({ audience: base, ...requireAssertion });
    } catch (err) {
      server.close();
      throw err;
    }
  }
  server.on('request', createHandler({ repo, router, baseUrl: base, basePath: BASE_PATH, capability, paging, logRequest, assertion, logAssertion }));
  return { server, baseUrl: base, resources };
}
