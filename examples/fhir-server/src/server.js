// Demo FHIR R4 upstream for fhir-pep. Environment:
//   PORT          listen port (default 8103; 0 picks a free one)
//   HOST          listen address (default 127.0.0.1)
//   FIXTURES_DIR  HDP IG examples (default <repo>/../shared/fixtures/hdp-ig-examples)
//   DATA_DIR      extra patients (default examples/fhir-server/data)
//   BASE_URL      FHIR base written into links (default http://HOST:PORT/fhir/R4)
// Prints "ready <base URL> resources=<n>" once it serves.
import { DEFAULT_DATA_DIR, DEFAULT_FIXTURES_DIR, startServer } from './app.js';

const port = Number.parseInt(process.env.PORT ?? '8103', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`fhir-server: invalid PORT ${process.env.PORT}`);
  process.exit(2);
}

try {
  const { server, baseUrl, resources } = await startServer({
    host: process.env.HOST || '127.0.0.1',
    port,
    dirs: [process.env.FIXTURES_DIR || DEFAULT_FIXTURES_DIR, process.env.DATA_DIR || DEFAULT_DATA_DIR],
    baseUrl: process.env.BASE_URL || undefined,
  });
  console.log(`ready ${baseUrl} resources=${resources}`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(`fhir-server: ${err.message}`);
  process.exit(1);
}
