// `reg store …`: stats, verify and gc of the content-addressed store.

import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { gcStore } from '../store/gc.js';
import { storeStats } from '../store/stats.js';
import { verifyStore } from '../store/verify.js';
import { parse } from './args.js';
import { formatBytes, table } from './output.js';

const USAGE = `reg store stats [--json]
       reg store verify [--json]
       reg store gc [--grace SECONDS] [--json]`;

export async function storeCommand(home: RegHome, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'stats': {
      const { values } = parse(rest, { json: { type: 'boolean' } }, USAGE);
      const s = await storeStats(home);
      if (values.json) return void console.log(JSON.stringify(s, null, 2)), 0;
      console.log(`store: ${home.root}`);
      console.log(`  RETs          ${s.rets}`);
      console.log(`  files (blobs) ${s.blobs}`);
      console.log(`  bytes         ${formatBytes(s.bytes)} (${s.bytes})`);
      if (s.linkedBlobs) console.log(`  host inodes   ${s.linkedBlobs} blobs, ${formatBytes(s.linkedBytes ?? 0)}: the host's own files, linked (no disk of their own; shared page cache)`);
      if (s.closures.length) {
        console.log('');
        console.log(table([['RUNTIME', 'RETS', 'FILES', 'CLOSURE SIZE'], ...s.closures.map((c) => [c.ret, String(c.rets), String(c.files), formatBytes(c.bytes)])]));
        console.log('');
        console.log(`  closures together would take ${formatBytes(s.logicalBytes)}; stored once: ${formatBytes(s.bytes)}`);
        console.log(`  saved by deduplication: ${formatBytes(s.savedBytes)} (${s.logicalBytes ? ((100 * s.savedBytes) / s.logicalBytes).toFixed(1) : '0'}%)`);
      }
      return 0;
    }
    case 'verify': {
      const { values } = parse(rest, { json: { type: 'boolean' } }, USAGE);
      const r = await verifyStore(home);
      if (values.json) console.log(JSON.stringify(r, null, 2));
      else {
        console.log(`checked ${r.checked} blobs: ${r.problems.length === 0 ? 'all intact' : `${r.problems.length} problem(s)`}`);
        for (const p of r.problems) {
          const what = p.kind === 'corrupt' ? `content hashes to ${p.actual}` : p.kind === 'host-written' ? `the host file was written in place; content hashes to ${p.actual}` : p.kind === 'missing' ? 'missing from the store' : `mode is ${p.actual}, expected read-only`;
          console.log(`  ${p.kind.toUpperCase()} ${p.digest}: ${what}`);
          console.log(`    file: ${p.path}`);
          if (p.hostPath) console.log(`    host file (same inode): ${p.hostPath}`);
          for (const ref of p.referencedBy.slice(0, 10)) console.log(`    used by ${ref.ret} at ${ref.path}`);
          if (p.referencedBy.length === 0) console.log('    used by no RET (reg store gc removes it)');
          if (p.hint) console.log(`    what to do: ${p.hint}`);
        }
        if (r.problems.length) console.log('hint: rebuild or pull the RETs named above, then run `reg store gc`');
        if (r.linked) console.log(`${r.linked} blobs are host files' own inodes (linked, not copied)`);
        for (const n of r.notes.slice(0, 20)) {
          const rets = [...new Set(n.referencedBy.map((x) => x.ret))].join(', ') || 'no RET';
          console.log(`  note: ${n.hostPath} ${n.kind === 'host-replaced' ? 'was replaced on the host (an upgrade?)' : 'was removed from the host'}; the store keeps the version ${rets} was built from (rebuild to follow the host)`);
        }
        if (r.notes.length > 20) console.log(`  … and ${r.notes.length - 20} more notes (--json lists all)`);
        console.log(`checked ${r.layersChecked} layer trees: ${r.layerProblems.length === 0 ? 'all as their locks say' : `${r.layerProblems.length} problem(s)`}`);
        for (const p of r.layerProblems.slice(0, 200)) console.log(`  ${p.kind.toUpperCase()} ${p.layer}/${p.path}: ${p.detail}`);
        if (r.layerProblems.length > 200) console.log(`  … and ${r.layerProblems.length - 200} more (--json lists all)`);
        if (r.layerProblems.length) console.log('hint: delete the layer trees named above (rm -r layers/NAME); the next container start rebuilds them from the store');
      }
      return r.problems.length === 0 && r.layerProblems.length === 0 ? 0 : 1;
    }
    case 'gc': {
      const { values } = parse(rest, { grace: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
      const graceSec = values.grace === undefined ? undefined : Number(values.grace);
      if (graceSec !== undefined && !(Number.isFinite(graceSec) && graceSec >= 0)) {
        throw new RegError('USAGE', `--grace must be a number of seconds, not "${values.grace}"`, { field: '--grace' });
      }
      const r = await gcStore(home, graceSec === undefined ? {} : { graceMs: graceSec * 1000 });
      if (values.json) console.log(JSON.stringify(r, null, 2));
      else console.log(`removed ${r.removedBlobs} blobs (${formatBytes(r.freedBytes)}) and ${r.removedLayers} layers${r.keptYoung ? `; kept ${r.keptYoung} unreferenced blobs younger than the grace period` : ''}`);
      return 0;
    }
    default:
      throw new RegError('USAGE', sub ? `unknown command "store ${sub}"` : 'missing a store command', { hint: `usage: ${USAGE}` });
  }
}
