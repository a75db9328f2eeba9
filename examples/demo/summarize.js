// Small JSON helpers for examples/demo.sh, which must not depend on python3
// or jq (a fresh machine has node, because the FHIR server needs it).
//
//   node summarize.js body              one-line summary of a FHIR JSON body (stdin)
//   node summarize.js field <a.b.c>     a field of a JSON document (stdin); objects as JSON
//   node summarize.js query             the decoded query parameters of a URL (stdin), one per line
//   node summarize.js link <relation>   the URL of a Bundle link (stdin), empty if none
//   node summarize.js audit             one line per fhir-pep audit record in a Caddy log (stdin)
//
// Nothing here prints a token or a national id: the demo decides what to show.

const mode = process.argv[2] ?? 'body';
const arg = process.argv[3] ?? '';

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
