// postinstall: prepares the slim FHIR structure cache so the first start is fast.
import { buildSchemaCache } from '../src/schema.js';

buildSchemaCache();
