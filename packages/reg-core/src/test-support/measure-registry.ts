// Measurement (not a test): pulling python@3.11 with its libraries from a loopback registry into
// an empty store, into a store that already holds node (what sharing saves on the wire), and again
// (only manifests). Prints a Markdown table. Run from packages/reg-core:
//   npx tsx src/test-support/measure-registry.ts [runs]
import { rmSync } from 'node:fs';
import { buildFromHost } from '../ret/build-from-host.js';
import { pullRet, type PullReport } from '../registry/pull.js';
import { pushRet } from '../registry/push.js';
import { humanBytes } from '../registry/progress.js';
import { startTestRegistry } from './docker-registry.js';
import { tempHome } from './temp-home.js';

const runs = Number(process.argv[2] ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const src = tempHome('reg-measure-src-');
const reg = await startTestRegistry();
const target = `${reg.host}/campus`;
try {
  await buildFromHost(src, '/usr/bin/python3.11');
  await buildFromHost(src, '/usr/bin/node');
  const pushPy = await pushRet(src, 'python@3.11', target);
  const pushNode = await pushRet(src, 'node', target);

  const rows: string[][] = [];
  const row = (what: string, rs: PullReport[]) => {
    const r = rs[0]!;
    rows.push([
      what,
      `${median(rs.map((x) => x.seconds)).toFixed(2)} s`,
      `${humanBytes(r.requests.bytesIn)}`,
      `${r.blobsFetched}`,
      `${r.requests.requests} (${Object.entries(r.requests.byKind).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ')})`,
    ]);
    return r;
  };

  const empty: PullReport[] = [];
  const again: PullReport[] = [];
  const shared: PullReport[] = [];
  for (let i = 0; i < runs; i++) {
    const h = tempHome('reg-measure-');
    empty.push(await pullRet(h, 'python@3.11', { registry: target }));
    again.push(await pullRet(h, 'python@3.11', { registry: target }));
    h.cleanup();
    const n = tempHome('reg-measure-');
    await pullRet(n, 'node', { registry: target });
    shared.push(await pullRet(n, 'python@3.11', { registry: target }));
    n.cleanup();
  }
  const e = row('python@3.11 closure → empty store', empty);
  const s = row('python@3.11 closure → store holding node', shared);
  row('python@3.11 again (up to date)', again);
  console.log(`registry: docker-registry (distribution 2.8) on ${reg.host}; ${runs} runs, median time; python closure ${e.rets.length} RETs\n`);
  console.log('| pull | time | bytes on the wire | blobs fetched | requests |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  const saved = e.requests.bytesIn - s.requests.bytesIn;
  console.log(`\nsharing with node saves ${humanBytes(saved)} (${((saved / e.requests.bytesIn) * 100).toFixed(1)}%) of the python pull's bytes on the wire`);
  console.log(`push (fresh registry): python closure ${pushPy.seconds.toFixed(1)} s, ${pushPy.blobsUploaded} blobs, ${humanBytes(pushPy.bytesUploaded)}, ${pushPy.requests.requests} requests; ` +
    `node closure then ${pushNode.seconds.toFixed(1)} s, ${pushNode.blobsUploaded} blobs, ${humanBytes(pushNode.bytesUploaded)} (shared RETs up to date)`);
} finally {
  await reg.stop();
  src.cleanup();
  rmSync(src.root, { recursive: true, force: true });
}
