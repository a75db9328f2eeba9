// Small JSON helpers for examples/demo.sh, which must not depend on python3
// or jq (a fresh machine has node, because the FHIR server needs it).
//
//   node summarize.js body              one-line summary of a FHIR JSON body (stdin)
//   node summarize.js field <a.b.c>     a field of a JSON document (stdin); objects as JSON
//   node summarize.js query             the decoded query parameters of a URL (stdin), one per line
//   node summarize.js link <relation>   the URL of a Bundle link (stdin), empty if none
//   node summarize.js audit             one line per fhir-pep audit record in a Caddy log (stdin)
//   node summarize.js decision <id>     "<outcome> <reason>" of the audit record with that
//                                       decision id in a Caddy log (stdin); empty if none yet
//   node summarize.js series <metric>   the samples of a metric in a Prometheus text
//                                       exposition (stdin), as JSON {"<labels>": value}
//   node summarize.js increased <metric> <before.json>
//                                       the label sets of <metric> (stdin) that grew since
//                                       <before.json> (from "series"), one per line
//   node summarize.js accumulate <metric> <before.json> <total.json>
//                                       adds the growth since <before.json> to <total.json>
//   node summarize.js counters <metric> <exclude.json>
//                                       the samples of <metric> (stdin) minus <exclude.json>
//
// Nothing here prints a token or a national id: the demo decides what to show.

const { existsSync, readFileSync, writeFileSync } = require('node:fs');

const mode = process.argv[2] ?? 'body';
const arg = process.argv[3] ?? '';
const files = process.argv.slice(4);

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
});
process.stdin.on('end', () => {
  try {
    process.stdout.write(run(mode, arg, input));
  } catch (err) {
    process.stdout.write(`(unreadable answer: ${err.message})\n`);
    process.exitCode = 1;
  }
});

function run(mode, arg, text) {
  switch (mode) {
    case 'body':
      return `${summarize(text)}\n`;
    case 'field':
      return `${field(JSON.parse(text), arg)}\n`;
    case 'query':
      return query(text.trim());
    case 'link':
      return `${link(JSON.parse(text), arg)}\n`;
    case 'audit':
      return audit(text);
    case 'decision':
      return decision(text, arg);
    case 'series':
      return `${JSON.stringify(series(text, arg))}\n`;
    case 'increased':
      return increased(series(text, arg), readSeries(files[0]));
    case 'accumulate': {
      const total = readSeries(files[1]);
      const before = readSeries(files[0]);
      for (const [labels, value] of Object.entries(series(text, arg))) {
        const grown = value - (before[labels] ?? 0);
        if (grown > 0) {
          total[labels] = (total[labels] ?? 0) + grown;
        }
      }
      writeFileSync(files[1], JSON.stringify(total));
      return '';
    }
    case 'counters':
      return counters(series(text, arg), readSeries(files[0]));
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

function field(doc, path) {
  let v = doc;
  for (const key of path.split('.')) {
    v = v?.[key];
  }
  if (v === undefined || v === null) {
    return '';
  }
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function query(url) {
  const u = new URL(url);
  let out = '';
  for (const [name, value] of u.searchParams) {
    const items = value.split(',');
    if (items.length > 2) {
      out += `    ${name} = ${items[0]},\n`;
      for (const item of items.slice(1)) {
        out += `    ${' '.repeat(name.length)}   ${item}${item === items.at(-1) ? '' : ','}\n`;
      }
    } else {
      out += `    ${name} = ${value}\n`;
    }
  }
  return out;
}

function audit(log) {
  let out = '';
  for (const line of log.split('\n')) {
    if (!line.includes('"logger":"http.handlers.fhir_pep.audit"')) {
      continue;
    }
    const r = JSON.parse(line);
    const what = [r.interaction, r.resource_type].filter(Boolean).join(' ');
    out += `${r.time} ${r.member_id || '-'} ${what || '-'} -> ${r.outcome} ${r.status}`;
    out += `${r.reason ? ` (${r.reason})` : ''}, returned ${r.returned}, withheld ${r.withheld}`;
    out += `, patient_hash ${r.patient_hash ? `${r.patient_hash.slice(0, 12)}...` : '-'}\n`;
  }
  return out;
}

function decision(log, id) {
  for (const line of log.split('\n')) {
    if (!line.includes('"logger":"http.handlers.fhir_pep.audit"') || !line.includes(`"decision_id":"${id}"`)) {
      continue;
    }
    const r = JSON.parse(line);
    if (r.decision_id === id) {
      return `${r.outcome} ${r.reason || '-'}\n`;
    }
  }
  return '';
}

// series parses the samples of one metric: {'outcome="allow",reason="ok"': 3}.
function series(text, metric) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line.trim());
    if (m && m[1] === metric) {
      out[m[2] ?? ''] = Number(m[3]);
    }
  }
  return out;
}

function readSeries(file) {
  return file && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8') || '{}') : {};
}

function increased(now, before) {
  let out = '';
  for (const [labels, value] of Object.entries(now)) {
    const grown = value - (before[labels] ?? 0);
    if (grown > 0) {
      out += `${labels} (+${grown})\n`;
    }
  }
  return out;
}

function counters(now, exclude) {
  let out = '';
  for (const [labels, value] of Object.entries(now).sort(([a], [b]) => a.localeCompare(b))) {
    const shown = value - (exclude[labels] ?? 0);
    if (shown > 0) {
      out += `${String(shown).padStart(4)}  ${labels}\n`;
    }
  }
  return out;
}

function link(bundle, relation) {
  return (bundle.link ?? []).find((l) => l.relation === relation)?.url ?? '';
}

// buckets lists the HDP information bucket codes of a resource, marking the
// seed's alias system, so the demo shows what the response check looked at.
function buckets(resource) {
  const codes = (resource?.meta?.security ?? [])
    .filter((s) => /hdp-information-buckets$/.test(s.system ?? ''))
    .map((s) => (s.system.includes('/il-hdp-') ? s.code : `${s.code} (alias system)`));
  return codes.length > 0 ? codes.join(', ') : 'no bucket label';
}

function summarize(text) {
  if (text.trim() === '') {
    return '(empty body)';
  }
  const doc = JSON.parse(text);
  switch (doc.resourceType) {
    case 'Bundle': {
      const entries = doc.entry ?? [];
      const list = entries
        .filter((e) => e.resource?.resourceType !== 'OperationOutcome')
        .map((e) => `${e.resource.resourceType}/${e.resource.id} [${buckets(e.resource)}]`);
      const rels = (doc.link ?? []).map((l) => l.relation).join(', ');
      let s = `Bundle ${doc.type}, ${list.length} ${list.length === 1 ? 'entry' : 'entries'}`;
      if (list.length > 0) {
        s += `: ${list.join('; ')}`;
      }
      if (rels) {
        s += ` (links: ${rels})`;
      }
      return s;
    }
    case 'OperationOutcome': {
      const issue = doc.issue?.[0] ?? {};
      return `OperationOutcome ${issue.severity}/${issue.code}${issue.diagnostics ? `: ${issue.diagnostics}` : ''}`;
    }
    case 'CapabilityStatement': {
      const types = doc.rest?.[0]?.resource?.length ?? 0;
      return `CapabilityStatement, FHIR ${doc.fhirVersion}, ${types} resource types`;
    }
    default:
      return `${doc.resourceType}/${doc.id} [${buckets(doc)}]`;
  }
}
