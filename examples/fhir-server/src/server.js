// Demo FHIR R4 upstream for fhir-pep. Environment:
//   PORT          listen port (default 8103; 0 picks a free one)
//   HOST          listen address (default 127.0.0.1)
//   DATA_DIR      the data to load (default examples/fhir-server/data, generated
//                 by examples/cmd/gen-demo-data)
//   BASE_URL      FHIR base written into links (default http://HOST:PORT/fhir/R4)
//   PAGING        offset (default: next links are the search URL with _offset)
//                 or hapi (next links are opaque, as HAPI FHIR writes them:
//                 <base>?_getpages=<id>&_getpagesoffset=<n>&_count=<n>)
// Prints "ready <base URL> resources=<n>" once it serves.
import { DEFAULT_DATA_DIR, startServer } from './app.js';

const port = Number.parseInt(process.env.PORT ?? '8103', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`fhir-server: invalid PORT ${process.env.PORT}`);
  process.exit(2);
}

try {
  const { server, baseUrl, resources } = await startServer({
    host: process.env.HOST || '127.0.0.1',
    port,
    dirs: [process.env.DATA_DIR || DEFAULT_DATA_DIR],
    baseUrl: process.env.BASE_URL || undefined,
    paging: process.env.PAGING || 'offset',
    // LOG_REQUESTS=1: one "request METHOD URL" line per request, so the demo
    // can show what the PEP sent upstream (the PEP keeps national ids and
    // tokens out of URLs; patient lookups are POST _search).
    logRequest: process.env.LOG_REQUESTS === '1' ? (line) => console.log(`request ${line}`) : undefined,
  });
  console.log(`ready ${baseUrl} resources=${resources}`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(`fhir-server: ${err.message}`);
  process.exit(1);
}
