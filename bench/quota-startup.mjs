#!/usr/bin/env node
// Start-up cost of disk quotas: `python3 -c pass` in a container with a disk quota (its writable
// layer on its own ext4 volume: create + format + loop mount at generate, unmount + delete at rm)
// against the same without one, interleaved in one run so the machine's load hits both alike.
// Reports medians (and p90) of generate→start→exit→rm and of each phase. Needs root and a build.
//   node bench/quota-startup.mjs [--runs 40]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildFromHost, Engine, regHome } from '@reg/core';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 40;
const root = mkdtempSync(join(tmpdir(), 'reg-quota-bench-'));
const home = regHome(root);
const engine = await Engine.open({ home });
await buildFromHost(home, '/usr/bin/python3.11');
const spawner = (file, args) => {
  const c = spawn(file, args, { stdio: 'ignore' });
  return { pid: c.pid, exited: new Promise((r) => c.on('close', (code, signal) => r({ code, signal }))) };
};
const disk = { bytes: 1024 ** 3, inodes: 100_000 }; // the policy's default
const samples = { quota: [], none: [] };
const phases = { quota: { generate: [], run: [], remove: [] }, none: { generate: [], run: [], remove: [] } };
try {
  for (let i = 0; i < runs * 2 + 4; i++) {
    const kind = i % 2 === 0 ? 'quota' : 'none';
    const t0 = performance.now();
    const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'pass'], ...(kind === 'quota' && { disk }) });
    const t1 = performance.now();
    const started = await engine.start(s.id, spawner);
    await engine.wait(started);
    const t2 = performance.now();
    await engine.remove(s.id);
    const t3 = performance.now();
    if (i < 4) continue; // warm-up
    samples[kind].push(t3 - t0);
    phases[kind].generate.push(t1 - t0);
    phases[kind].run.push(t2 - t1);
    phases[kind].remove.push(t3 - t2);
  }
} finally {
  await engine.disposeCgroupParent();
  // The pre-mounted spare volumes first: rm -r must not descend into a mount.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${root}/`));
  for (const m of mounts.sort().reverse()) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
  rmSync(root, { recursive: true, force: true });
}
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f = (x) => `${x.toFixed(1)} ms`;
for (const kind of ['none', 'quota']) {
  const ph = phases[kind];
  console.log(`${kind.padEnd(5)} total median ${f(q(samples[kind], 0.5))} p90 ${f(q(samples[kind], 0.9))} | generate ${f(q(ph.generate, 0.5))}, start→exit ${f(q(ph.run, 0.5))}, rm ${f(q(ph.remove, 0.5))} (n=${samples[kind].length})`);
}
console.log(`quota costs ${f(q(samples.quota, 0.5) - q(samples.none, 0.5))} per container (median difference)`);
