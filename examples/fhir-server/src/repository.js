// DemoRepository: Medplum's MemoryRepository plus what a FHIR upstream of the
// PEP needs and MemoryRepository leaves out: paging defaults, _include and
// _revinclude, Patient compartment search, strict unknown-parameter errors,
// and a stable version history.
import {
  OperationOutcomeError,
  Operator,
  badRequest,
  deepClone,
  evalFhirPath,
  getSearchParameter,
  notFound,
} from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 1000;

export class DemoRepository extends MemoryRepository {
  /** "Type/id" -> versions, oldest first. */
  #versions = new Map();
  /** Patient compartment: resource type -> reference parameter names. */
  #compartment;

  /** @param {Map<string, string[]>} compartment */
  constructor(compartment) {
    super();
    this.#compartment = compartment;
  }

  async createResource(resource) {
    const created = await super.createResource(resource);
    const key = `${created.resourceType}/${created.id}`;
    const versions = this.#versions.get(key) ?? [];
    versions.push(deepClone(created));
    this.#versions.set(key, versions);
    return created;
  }

  // MemoryRepository.readHistory reverses its stored array in place, so the
  // order flips on every call; this one keeps its own copy.
  async readHistory(resourceType, id) {
    await this.readResource(resourceType, id);
    const entry = [...(this.#versions.get(`${resourceType}/${id}`) ?? [])]
      .reverse()
      .map((resource) => ({ resource: deepClone(resource) }));
    return { resourceType: 'Bundle', type: 'history', total: entry.length, entry };
  }

  async readVersion(resourceType, id, versionId) {
    await this.readResource(resourceType, id);
    const version = this.#versions.get(`${resourceType}/${id}`)?.find((v) => v.meta?.versionId === versionId);
    if (!version) {
      throw new OperationOutcomeError(notFound);
    }
    return deepClone(version);
  }

  async search(searchRequest) {
    checkParameters(searchRequest);
    const request = { ...searchRequest };
    request.count = clampCount(request.count);
    request.offset = Math.max(0, request.offset ?? 0);
    const bundle = await super.search(request);
    const matches = (bundle.entry ?? []).map((e) => ({ ...e, search: { mode: 'match' } }));
    const included = await this.#included(request, matches.map((e) => e.resource));
    const entry = [...matches, ...included];
    return { resourceType: 'Bundle', type: 'searchset', total: bundle.total, ...(entry.length ? { entry } : {}) };
  }

  /**
   * Searches resourceType within the compartment of Patient/patientId: a
   * resource belongs when any of its compartment parameters references the
   * patient (FHIR R4 CompartmentDefinition "patient").
   */
  async searchCompartment(patientId, searchRequest) {
    checkParameters(searchRequest);
    const params = this.#compartment.get(searchRequest.resourceType);
    if (!params) {
      throw new OperationOutcomeError(badRequest(`${searchRequest.resourceType} is not in the Patient compartment`));
    }
    const seen = new Set();
    const members = [];
    for (const code of params) {
      const filters = [...(searchRequest.filters ?? []), { code, operator: Operator.EQUALS, value: `Patient/${patientId}` }];
      const bundle = await super.search({ resourceType: searchRequest.resourceType, filters, sortRules: searchRequest.sortRules });
      for (const { resource } of bundle.entry ?? []) {
        if (!seen.has(resource.id)) {
          seen.add(resource.id);
          members.push(resource);
        }
      }
    }
    const count = clampCount(searchRequest.count);
    const offset = Math.max(0, searchRequest.offset ?? 0);
    const page = members.slice(offset, offset + count).map((resource) => ({ resource, search: { mode: 'match' } }));
    const included = await this.#included(searchRequest, page.map((e) => e.resource));
    const entry = [...page, ...included];
    return { resourceType: 'Bundle', type: 'searchset', total: members.length, ...(entry.length ? { entry } : {}) };
  }

  /** Resolves _include and _revinclude for the matched resources. */
  async #included(request, matches) {
    const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
    const out = [];
    const add = (resource) => {
      const key = `${resource.resourceType}/${resource.id}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ resource, search: { mode: 'include' } });
      }
    };
    for (const target of request.include ?? []) {
      const param = referenceParameter(target.resourceType, target.searchParam);
      if (target.resourceType !== request.resourceType) {
        continue;
      }
      for (const resource of matches) {
        for (const value of evalFhirPath(param.expression, resource)) {
          const [type, id, ...rest] = (value?.reference ?? '').split('/');
          if (!type || !id || rest.length || (target.targetType && type !== target.targetType)) {
            continue;
          }
          try {
            add(await this.readResource(type, id));
          } catch (err) {
            if (!(err instanceof OperationOutcomeError)) {
              throw err;
            }
            // A dangling reference includes nothing, as on any FHIR server.
          }
        }
      }
    }
    for (const target of request.revInclude ?? []) {
      referenceParameter(target.resourceType, target.searchParam);
      for (const resource of matches) {
        const bundle = await super.search({
          resourceType: target.resourceType,
          filters: [{ code: target.searchParam, operator: Operator.EQUALS, value: `${resource.resourceType}/${resource.id}` }],
        });
        for (const e of bundle.entry ?? []) {
          add(e.resource);
        }
      }
    }
    return out;
  }
}

function clampCount(count) {
  if (count === undefined || Number.isNaN(count)) {
    return DEFAULT_COUNT;
  }
  return Math.min(Math.max(0, count), MAX_COUNT);
}

function referenceParameter(resourceType, code) {
  const param = getSearchParameter(resourceType, code);
  if (param?.type !== 'reference') {
    throw new OperationOutcomeError(badRequest(`Unknown reference search parameter ${resourceType}:${code}`));
  }
  return param;
}

/**
 * Rejects unknown, chained and _has parameters instead of matching nothing:
 * a silent empty result would hide a PEP that rewrote a query wrongly.
 */
function checkParameters(searchRequest) {
  for (const filter of searchRequest.filters ?? []) {
    if (
      filter.code === '_has' ||
      filter.code === '_compartment' ||
      filter.code.includes('.') ||
      !getSearchParameter(searchRequest.resourceType, filter.code)
    ) {
      throw new OperationOutcomeError(badRequest(`Unknown or unsupported search parameter: ${filter.code}`));
    }
  }
}
