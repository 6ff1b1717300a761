#!/usr/bin/env node
// Course packages as RETs, measured (issue 13): build time and store growth of numpy + pandas +
// matplotlib from Debian packages; PSS of N idle containers that imported numpy against N bare
// processes that did (same run; the bare ones run the same unpacked tree under chroot, so both
// sides load byte-identical files — the host itself never gets numpy); that every container maps
// the same libopenblas inode (the store's blob); and the time to insert numpy into N running
// python containers. Root, Debian 12; REG_HOME is a temp dir; .debs are cached in
// $REG_CACHE/debs or /var/cache/reg-debs.
//
//   node bench/course-packages.mjs [--n 100] [--keep]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildFromDeb, buildFromHost, composeRet, Engine, exportTree, findRet, regHome } from '@reg/core';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1] || 0) || 100;
const keep = args.includes('--keep');
const root = mkdtempSync(join(tmpdir(), 'reg-bench-pkgs-'));
const home = regHome(root);
const out = (s) => console.log(s);
const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

function storeBytes() {
  let bytes = 0;
  let blobs = 0;
  const dir = home.blobs;
  if (!existsSync(dir)) return { bytes, blobs };
  for (const p of readdirSync(dir)) for (const f of readdirSync(join(dir, p))) {
    bytes += statSync(join(dir, p, f)).size;
    blobs++;
  }
  return { bytes, blobs };
}

function pss(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Number(/^Pss:\s+(\d+) kB/m.exec(t)[1]) * 1024;
  } catch {
    return 0;
  }
}

/** Every pid below `pid` (itself included). */
function tree(pid) {
  const children = new Map();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(p));
    } catch {}
  }
  const outp = [];
  const q = [pid];
  while (q.length) {
    const x = q.shift();
    outp.push(x);
    q.push(...(children.get(x) ?? []));
  }
  return outp;
}

function mappedInodes(pid, needle) {
  const inodes = new Set();
  for (const p of tree(pid)) {
    try {
      for (const l of readFileSync(`/proc/${p}/maps`, 'utf8').split('\n')) if (l.includes(needle)) inodes.add(l.split(/\s+/)[4]);
    } catch {}
  }
  return inodes;
}

const IMPORT = "import numpy, sys, time; numpy.linalg.solve(numpy.eye(3), numpy.ones(3)); open('/work/ready' if len(sys.argv) < 2 else sys.argv[1], 'w').write('1'); time.sleep(3600)";

const engine = await Engine.open({ home });
const results = {};
try {
  // 1. Builds
  let t = Date.now();
  await buildFromHost(home, '/usr/bin/python3.11');
  results.pythonBuildS = (Date.now() - t) / 1000;
  const base = storeBytes();
  t = Date.now();
  await buildFromDeb(home, ['python3-numpy', 'libopenblas0-pthread']);
  results.numpyBuildS = (Date.now() - t) / 1000;
  const afterNumpy = storeBytes();
  t = Date.now();
  await buildFromDeb(home, ['python3-pandas', 'python3-matplotlib']);
  results.pandasMatplotlibBuildS = (Date.now() - t) / 1000;
  const afterAll = storeBytes();
  results.growth = { numpy: afterNumpy.bytes - base.bytes, all: afterAll.bytes - base.bytes, blobs: afterAll.blobs - base.blobs };
  t = Date.now();
  const again = await buildFromDeb(home, ['python3-numpy', 'libopenblas0-pthread', 'python3-pandas', 'python3-matplotlib']);
  results.rebuildS = (Date.now() - t) / 1000;
  results.rebuildNewBlobs = again.newBlobs;
  out(`builds: python (host) ${results.pythonBuildS}s; numpy+openblas ${results.numpyBuildS}s (+${mib(results.growth.numpy)}); pandas+matplotlib ${results.pandasMatplotlibBuildS}s; numpy+pandas+matplotlib store growth ${mib(results.growth.all)} in ${results.growth.blobs} blobs; rebuild of all ${results.rebuildS}s, ${again.newBlobs} new blobs`);

  const python = (await findRet(home, 'python@3')).version;
  await composeRet(home, { name: 'np', version: '1', members: [`python@${python}`, 'python3-numpy@1.24'] });

  // 2. N containers that imported numpy, idle
  const started = [];
  t = Date.now();
  for (let i = 0; i < N; i++) {
    const s = await engine.generate({ ret: 'np@1', command: ['python3', '-c', IMPORT], limits: { memoryBytes: 256 * 1048576 } });
    started.push({ s, st: await engine.start(s.id) });
  }
  for (const { s } of started) {
    const ready = join(home.containers, s.id, 'project', 'ready');
    for (let i = 0; i < 1200 && !existsSync(ready); i++) await sleep(50);
  }
  results.containersStartS = (Date.now() - t) / 1000;
  // 3. N bare processes in a chroot of the same closure
  const tree0 = join(root, 'chroot');
  await exportTree(home, 'np@1', tree0);
  const bare = [];
  for (let i = 0; i < N; i++) {
    const c = spawn('chroot', [tree0, '/usr/bin/python3', '-c', IMPORT, `/tmp/ready-${i}`], { stdio: 'ignore' });
    bare.push(c);
  }
  for (let i = 0; i < N; i++) for (let k = 0; k < 1200 && !existsSync(join(tree0, 'tmp', `ready-${i}`)); k++) await sleep(50);
  await sleep(2000);
  const regPss = started.map(({ st }) => tree(st.state.initPid).reduce((a, p) => a + pss(p), 0));
  const barePss = bare.map((c) => pss(c.pid));
  results.pss = { reg: regPss.reduce((a, b) => a + b, 0) / N, bare: barePss.reduce((a, b) => a + b, 0) / N };
  out(`PSS per process tree, ${N} idle after import numpy: Reg ${mib(results.pss.reg)} (container incl. its init) vs bare ${mib(results.pss.bare)} (chroot of the same tree) — ${(((results.pss.reg / results.pss.bare) - 1) * 100).toFixed(1)} %`);
  // 4. One libopenblas inode in every container, the store's
  const inodes = new Set();
  const umath = new Set();
  for (const { st } of started) {
    for (const ino of mappedInodes(st.state.initPid, 'libopenblas')) inodes.add(ino);
    for (const ino of mappedInodes(st.state.initPid, '_multiarray_umath')) umath.add(ino);
  }
  results.multiarrayInodes = [...umath];
  out(`_multiarray_umath inodes mapped across ${N} containers: ${[...umath].join(', ')}`);
  const blas = readdirSync(home.layers).find((d) => d.startsWith('libopenblas@'));
  const so = readdirSync(join(home.layers, blas, 'usr/lib/x86_64-linux-gnu/openblas-pthread')).find((f) => f.startsWith('libopenblas') && !f.endsWith('.0'));
  const storeIno = String(statSync(join(home.layers, blas, 'usr/lib/x86_64-linux-gnu/openblas-pthread', so)).ino);
  results.openblasInodes = [...inodes];
  results.storeInode = storeIno;
  out(`libopenblas inodes mapped across ${N} containers: ${[...inodes].join(', ')} (store blob inode ${storeIno})`);
  for (const c of bare) c.kill('SIGKILL');
  for (const { s } of started) await engine.remove(s.id, { force: true });

  // 5. Insert numpy into N running python containers
  const plain = [];
  for (let i = 0; i < N; i++) {
    const s = await engine.generate({ ret: `python@${python}`, command: ['python3', '-c', 'import time; time.sleep(3600)'] });
    await engine.start(s.id);
    plain.push(s);
  }
  const times = [];
  t = Date.now();
  for (const s of plain) {
    const t1 = performance.now();
    await engine.insert(s.id, 'python3-numpy@1.24');
    times.push(performance.now() - t1);
  }
  results.insert = { totalS: (Date.now() - t) / 1000, medianMs: median(times), p99Ms: p99(times) };
  out(`insert python3-numpy into ${N} running python containers: median ${results.insert.medianMs.toFixed(1)} ms, p99 ${results.insert.p99Ms.toFixed(1)} ms, all ${results.insert.totalS.toFixed(1)} s`);
  for (const s of plain) await engine.remove(s.id, { force: true });
  console.log(JSON.stringify(results));
} finally {
  for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine.disposeCgroupParent().catch(() => {});
  if (!keep) rmSync(root, { recursive: true, force: true });
}
