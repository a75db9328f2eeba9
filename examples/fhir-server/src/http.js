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
import { randomUUID } from 'node:crypto';
import { AssertionError, exemptRequest, reduceLookup } from './assertion.js';
import { DEFAULT_COUNT, MAX_COUNT } from './repository.js';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_BODY_BYTES = 1 << 20;
const COMPARTMENT = /^\/Patient\/([A-Za-z0-9\-.]{1,64})\/([A-Z][A-Za-z]+)$/;
// HAPI keeps a search's pages for a while; this server keeps the last
// MAX_STORED_SEARCHES searches, and a page of a forgotten one is 410 Gone,
// as HAPI answers for an expired search.
const MAX_STORED_SEARCHES = 1000;

/**
 * @param {object} deps
 * @param {import('./repository.js').DemoRepository} deps.repo
 * @param {import('@medplum/fhir-router').FhirRouter} deps.router
 * @param {string} deps.baseUrl - absolute FHIR base written into links and fullUrl
 * @param {string} deps.basePath - path prefix served, e.g. /fhir/R4
 * @param {object} deps.capability - the CapabilityStatement
 * @param {string} [deps.paging] - 'offset' (default) or 'hapi'
 * @param {(line: string) => void} [deps.logRequest] - called with "METHOD URL" of every request
 * @param {ReturnType<import('./assertion.js').createAssertionVerifier>} [deps.assertion] - when set,
 *   every request but metadata and the PEP's patient lookup must carry a valid fhir-pep assertion
 * @param {(line: string) => void} [deps.logAssertion] - called with one JSON line per verified or refused assertion
 */
export function createHandler({ repo, router, baseUrl, basePath, capability, paging = 'offset', logRequest, assertion, logAssertion }) {
  const pages = paging === 'hapi' ? new SearchStore(MAX_STORED_SEARCHES) : null;
  return async (req, res) => {
    logRequest?.(`${req.method} ${req.url}`);
    let result;
    try {
      result = await route(req, { repo, router, baseUrl, basePath, capability, pages, assertion, logAssertion });
    } catch (err) {
      const outcome = normalizeOperationOutcome(err);
      result = { status: getStatus(outcome), body: outcome };
    }
    send(res, result);
  };
}

async function route(req, deps) {
  const { basePath, assertion, logAssertion } = deps;
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname !== basePath && !url.pathname.startsWith(basePath + '/')) {
    return { status: 404, body: notFound };
  }
  const rel = url.pathname.slice(basePath.length).replace(/\/+$/, '') || '/';
  const body = await readBody(req);
  if (!assertion) {
    return serve(req, url, rel, body, deps);
  }
  const exempt = exemptRequest(req.method, rel, body, contentType(req));
  if (exempt === null) {
    try {
      const { header, claims } = await assertion.verifyRequest(req.headers);
      logAssertion?.(JSON.stringify({ verified: true, method: req.method, url: req.url, ...header, ...claimsForLog(claims) }));
    } catch (err) {
      if (!(err instanceof AssertionError)) {
        throw err;
      }
      logAssertion?.(JSON.stringify({ verified: false, method: req.method, url: req.url, reason: err.reason }));
      return refusal(err);
    }
  }
  const result = await serve(req, url, rel, body, deps);
  if (exempt === 'lookup' && result.body?.resourceType === 'Bundle') {
    result.body = reduceLookup(result.body);
  }
  return result;
}

/**
 * The claims of a verified assertion as logged: all of them but those that
 * could carry a credential or a national id (none of the PEP's claims do;
 * anything unknown is left out rather than trusted).
 */
function claimsForLog(c) {
  const keep = ['iss', 'sub', 'aud', 'patient', 'scope', 'consent_id', 'baskets', 'correlation_id', 'iat', 'exp', 'jti'];
  return Object.fromEntries(keep.filter((k) => c[k] !== undefined).map((k) => [k, c[k]]));
}

/** 401 (or 503 when the PEP's keys cannot be fetched): the reason is logged, not told. */
function refusal(err) {
  if (err.status === 503) {
    return {
      status: 503,
      body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: 'The assertion cannot be verified now.' }] },
    };
  }
  return {
    status: 401,
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'A valid fhir-pep assertion is required.' }] },
  };
}

function contentType(req) {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

async function serve(req, url, rel, body, deps) {
  const { repo, router, baseUrl, capability, pages } = deps;
  const method = req.method;
  if (method === 'GET' && rel === '/metadata') {
    return { status: 200, body: capability };
  }

  if (method === 'GET' && rel === '/' && url.searchParams.has('_getpages')) {
    return getPage(url.searchParams, deps);
  }

  const compartment = method === 'GET' ? COMPARTMENT.exec(rel) : null;
  if (compartment) {
    const bundle = await searchCompartment(repo, compartment, url.searchParams);
    return { status: 200, body: decorateSearch(bundle, baseUrl, rel, url.searchParams, pages) };
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
    return { status, body: decorateSearch(resource, baseUrl, rel.replace(/\/_search$/, ''), params, pages) };
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

async function searchCompartment(repo, [, patientId, resourceType], params) {
  const search = parseSearchRequest(resourceType, queryObject(params));
  return repo.searchCompartment(patientId, search);
}

/**
 * Answers a HAPI-style page request (<base>?_getpages=<id>&_getpagesoffset=<n>&_count=<n>)
 * by running the stored search again at that offset.
 */
async function getPage(query, { repo, router, baseUrl, pages }) {
  if (!pages) {
    throw new OperationOutcomeError(badRequest('Unknown or unsupported search parameter: _getpages'));
  }
  const id = query.get('_getpages');
  const stored = pages.get(id);
  if (!stored) {
    return {
      status: 410,
      body: {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'not-found', diagnostics: `Search ID "${id}" does not exist and may have expired` }],
      },
    };
  }
  const params = new URLSearchParams(stored.params);
  params.set('_offset', String(Math.max(0, parseInt(query.get('_getpagesoffset') ?? '0', 10) || 0)));
  params.set('_count', query.get('_count') ?? String(stored.count));
  let bundle;
  const compartment = COMPARTMENT.exec(stored.path);
  if (compartment) {
    bundle = await searchCompartment(repo, compartment, params);
  } else {
    const [outcome, resource] = await router.handleRequest(
      { method: 'GET', url: `${stored.path}?${params}`, pathname: '', params: {}, query: {}, headers: {} },
      repo
    );
    if (!resource) {
      return { status: getStatus(outcome), body: outcome };
    }
    bundle = resource;
  }
  return { status: 200, body: decorateSearch(bundle, baseUrl, stored.path, params, pages, id) };
}

/** The searches whose pages HAPI-style links point at, oldest forgotten first. */
class SearchStore {
  #max;
  #searches = new Map();

  constructor(max) {
    this.#max = max;
  }

  add(search) {
    const id = randomUUID();
    this.#searches.set(id, search);
    if (this.#searches.size > this.#max) {
      this.#searches.delete(this.#searches.keys().next().value);
    }
    return id;
  }

  get(id) {
    return this.#searches.get(id);
  }
}

/**
 * Adds self/next/previous links and fullUrl, as a FHIR server must for
 * paging. With a SearchStore (HAPI mode) next and previous are opaque
 * _getpages links to the stored search; pageId is the stored search being
 * paged, if any.
 */
function decorateSearch(bundle, baseUrl, path, params, pages = null, pageId = undefined) {
  const count = params.get('_summary') === 'count' ? 0 : clamp(parseInt(params.get('_count') ?? '', 10));
  const offset = Math.max(0, parseInt(params.get('_offset') ?? '0', 10) || 0);
  let link = (at) => {
    const q = new URLSearchParams(params);
    q.set('_count', String(count));
    q.set('_offset', String(at));
    return `${baseUrl}${path}?${q}`;
  };
  let self = link(offset);
  if (pages) {
    // The first answer's self link is the search as the client sent it,
    // as HAPI writes it; the pages after it are _getpages links.
    const first = pageId === undefined;
    const hasMore = count > 0 && (offset + count < (bundle.total ?? 0) || offset > 0);
    if (first && hasMore) {
      const stored = new URLSearchParams(params);
      stored.delete('_count');
      stored.delete('_offset');
      pageId = pages.add({ path, params: stored.toString(), count });
    }
    self = first ? `${baseUrl}${path}?${params}` : getPagesLink(baseUrl, pageId, offset, count);
    link = (at) => getPagesLink(baseUrl, pageId, at, count);
  }
  const links = [{ relation: 'self', url: self }];
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

function getPagesLink(baseUrl, id, offset, count) {
  const q = new URLSearchParams({ _getpages: id, _getpagesoffset: String(offset), _count: String(count), _bundletype: 'searchset' });
  return `${baseUrl}?${q}`;
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
  const type = contentType(req);
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
