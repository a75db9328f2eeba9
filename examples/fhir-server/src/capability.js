// The CapabilityStatement served at /metadata.
import { globalSchema } from '@medplum/core';

const INTERACTIONS = ['read', 'vread', 'search-type', 'history-instance', 'create', 'update', 'delete'];

/**
 * Describes the server: every resource type known to the schema, with its
 * search parameters, and the interactions the router implements.
 * @param {string} baseUrl
 * @param {string} version - this server's version
 */
export function capabilityStatement(baseUrl, version) {
  const resource = Object.entries(globalSchema.types)
    .filter(([type, info]) => info.searchParams && /^[A-Z]/.test(type) && type !== 'Resource' && type !== 'DomainResource')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, info]) => ({
      type,
      interaction: INTERACTIONS.map((code) => ({ code })),
      versioning: 'versioned',
      searchParam: Object.values(info.searchParams)
        // _compartment is Medplum-internal and never matches in memory.
        .filter((p) => p.code !== '_compartment')
        .map((p) => ({ name: p.code, type: p.type }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString().slice(0, 10),
    kind: 'instance',
    software: { name: 'fhir-pep demo FHIR server (@medplum/fhir-router, in memory)', version },
    implementation: { description: 'Demo upstream for fhir-pep', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [{ mode: 'server', resource }],
  };
}
