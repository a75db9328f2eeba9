// Loads FHIR JSON files into the repository, keeping every resource's own id
// so that the references between example resources resolve.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Loads every *.json file of dir (sorted by name). A file holds one resource
 * or a Bundle whose entries are loaded one by one. A resource id that occurs
 * again becomes its next version (meta.versionId "1", "2", ...), so vread and
 * history have real data. Returns the number of resources stored.
 * @param {import('./repository.js').DemoRepository} repo
 * @param {string} dir
 * @param {Map<string, number>} versions - "Type/id" -> versions stored so far, shared across directories
 */
export async function loadDirectory(repo, dir, versions) {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  let count = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    let json;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: ${err.message}`, { cause: err });
    }
    const resources = json.resourceType === 'Bundle' && Array.isArray(json.entry)
      ? json.entry.map((e) => e.resource)
      : [json];
    for (const resource of resources) {
      if (!resource?.resourceType || !resource.id) {
        throw new Error(`${file}: every resource needs resourceType and id`);
      }
      const key = `${resource.resourceType}/${resource.id}`;
      const version = (versions.get(key) ?? 0) + 1;
      versions.set(key, version);
      await repo.createResource({
        ...resource,
        meta: { ...resource.meta, versionId: String(version), lastUpdated: resource.meta?.lastUpdated ?? loadTime },
      });
      count++;
    }
  }
  return count;
}

// One timestamp for everything loaded at start, so _lastUpdated searches and
// ETags do not depend on how long loading took.
const loadTime = new Date().toISOString();
