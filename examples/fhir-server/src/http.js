// The HTTP face of the server: FHIR REST over node:http, delegating to
// Medplum's FhirRouter, plus the parts a plain router leaves to the server
// (metadata, Patient compartment search, paging links, fullUrl, ETag).
import {
  OperationOutcomeError,
  badRequest,
  getStatus,
  normalizeOperationOutcome,
  notFound,
  parseSearchRequest,
} from '@medplum/core';
import { DEFAULT_COUNT, MAX_COUNT } from './repository.js';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_BODY_BYTES = 1 << 20;
const COMPARTMENT = /^\/Patient\/([A-Za-z0-9\-.]{1,64})\/([A-Z][A-Za-z]+)$/;

/**
 * @param {object} deps
 * @param {import('./repository.js').DemoRepository} deps.repo
 * @param {import('@medplum/fhir-router').FhirRouter} deps.router
 * @param {string} deps.baseUrl - absolute FHIR base written into links and fullUrl
 * @param {string} deps.basePath - path prefix served, e.g. /fhir/R4
 * @param {object} deps.capability - the CapabilityStatement
 */
export function createHandler({ repo, router, baseUrl, basePath, capability }) {
  return async (req, res) => {
    let result;
    try {
      result = await route(req, { repo, router, baseUrl, basePath, capability });
    } catch (err) {
      const outcome = normalizeOperationOutcome(err);
      result = { status: getStatus(outcome), body: outcome };
    }
    send(res, result);
  };
}

async function route(req, { repo, router, baseUrl, basePath, capability }) {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== basePath && !url.pathname.startsWith(basePath + '/')) {
    return { status: 404, body: notFound };
  }
  const rel = url.pathname.slice(basePath.length).replace(/\/+$/, '') || '/';
  const method = req.method;
  if (method === 'GET' && rel === '/metadata') {
    return { status: 200, body: capability };
  }
  const body = await readBody(req);

  const compartment = method === 'GET' ? COMPARTMENT.exec(rel) : null;
  if (compartment) {
    const [, patientId, resourceType] = compartment;
    const search = parseSearchRequest(resourceType, queryObject(url.searchParams));
    const bundle = await repo.searchCompartment(patientId, search);
    return { status: 200, body: decorateSearch(bundle, baseUrl, rel, url.searchParams) };
  }

  const [outcome, resource] = await router.handleRequest(
    { method, url: rel + url.search, pathname: '', body, params: {}, query: {}, headers: req.headers },
    repo
  );
  const status = getStatus(outcome);
  if (!resource) {
    return { status, body: outcome };
  }
  if (resource.resourceType === 'Bundle' && resource.type === 'searchset') {
    const isPost = rel.endsWith('/_search');
    const params = isPost ? new URLSearchParams(flatten(body)) : url.searchParams;
    return { status, body: decorateSearch(resource, baseUrl, rel.replace(/\/_search$/, ''), params) };
  }
  if (resource.resourceType === 'Bundle' && resource.type === 'history') {
    for (const e of resource.entry ?? []) {
      e.fullUrl = `${baseUrl}/${e.resource.resourceType}/${e.resource.id}`;
    }
    return { status, body: resource };
  }
  const headers = {};
  if (resource.meta?.versionId) {
    headers.ETag = `W/"${resource.meta.versionId}"`;
  }
  if (resource.meta?.lastUpdated) {
    headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  }
  if (status === 201) {
    headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  return { status, body: resource, headers };
}

/** Adds self/next/previous links and fullUrl, as a FHIR server must for paging. */
function decorateSearch(bundle, baseUrl, path, params) {
  const count = params.get('_summary') === 'count' ? 0 : clamp(parseInt(params.get('_count') ?? '', 10));
  const offset = Math.max(0, parseInt(params.get('_offset') ?? '0', 10) || 0);
  const link = (at) => {
    const q = new URLSearchParams(params);
    q.set('_count', String(count));
    q.set('_offset', String(at));
    return `${baseUrl}${path}?${q}`;
  };
  const links = [{ relation: 'self', url: link(offset) }];
  if (count > 0 && offset + count < (bundle.total ?? 0)) {
    links.push({ relation: 'next', url: link(offset + count) });
  }
  if (count > 0 && offset > 0) {
    links.push({ relation: 'previous', url: link(Math.max(0, offset - count)) });
  }
  const entry = (bundle.entry ?? []).map((e) => ({
    fullUrl: `${baseUrl}/${e.resource.resourceType}/${e.resource.id}`,
    ...e,
  }));
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: bundle.total,
    link: links,
    ...(entry.length ? { entry } : {}),
  };
}

function clamp(count) {
  if (Number.isNaN(count)) {
    return DEFAULT_COUNT;
  }
  return Math.min(Math.max(0, count), MAX_COUNT);
}

/** URLSearchParams -> { name: value | [values] }, the shape parseSearchRequest takes. */
function queryObject(searchParams) {
  const query = {};
  for (const key of new Set(searchParams.keys())) {
    const values = searchParams.getAll(key);
    query[key] = values.length === 1 ? values[0] : values;
  }
  return query;
}

/** { name: value | [values] } -> [[name, value], ...]. */
function flatten(query) {
  const pairs = [];
  for (const [key, value] of Object.entries(query ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      pairs.push([key, v ?? '']);
    }
  }
  return pairs;
}

/** Reads and parses a JSON or form body; no body gives undefined. */
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new OperationOutcomeError(badRequest('Request body too large'));
    }
    chunks.push(chunk);
  }
  if (size === 0) {
    return undefined;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    return queryObject(new URLSearchParams(text));
  }
  if (type === 'application/fhir+json' || type === 'application/json' || type === '') {
    try {
      return JSON.parse(text);
    } catch {
      throw new OperationOutcomeError(badRequest('Body is not valid JSON'));
    }
  }
  throw new OperationOutcomeError(badRequest(`Unsupported content type ${type}`));
}

function send(res, { status, body, headers = {} }) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}
