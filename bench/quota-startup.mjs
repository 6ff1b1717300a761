#!/usr/bin/env node
// Start-up cost of disk quotas: `python3 -c pass` in a container with no quota, with an ephemeral
// quota (its writable layer a tmpfs of the quota's size made by the launcher in the container's
// mount namespace) and with a persistent one (its own ext4 volume: a pre-formatted spare taken,
// or create + format + loop mount at generate; unmount + delete at rm), interleaved in one run so
// the machine's load hits all alike. Reports medians (and p90) of generate→start→exit→rm and of
// each phase. Then (--density N, default 50; 0 to skip) the host's mount table with N ephemeral,
// then N persistent, containers running. Needs root and a build.
//   node bench/quota-startup.mjs [--runs 40] [--density 50]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildFromHost, Engine, regHome } from '@reg/core';

const arg = (name, dflt) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : dflt);
const runs = arg('--runs', 40);
const density = arg('--density', 50);
const KINDS = ['none', 'ephemeral', 'persistent'];
const root = mkdtempSync(join(tmpdir(), 'reg-quota-bench-'));
const home = regHome(root);
const engine = await Engine.open({ home });
await buildFromHost(home, '/usr/bin/python3.11');
const spawner = (file, args) => {
  const c = spawn(file, args, { stdio: 'ignore' });
  return { pid: c.pid, exited: new Promise((r) => c.on('close', (code, signal) => r({ code, signal }))) };
};
const disk = { bytes: 1024 ** 3, inodes: 100_000 }; // the policy's default
const samples = Object.fromEntries(KINDS.map((k) => [k, []]));
const phases = Object.fromEntries(KINDS.map((k) => [k, { generate: [], run: [], remove: [] }]));
const quotaOf = (kind) => (kind === 'none' ? {} : { disk, writable: kind });
const hostMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').length;
const density_ = {};
try {
  for (let i = 0; i < runs * KINDS.length + 2 * KINDS.length; i++) {
    const kind = KINDS[i % KINDS.length];
    const t0 = performance.now();
    const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'pass'], ...quotaOf(kind) });
    const t1 = performance.now();
    const started = await engine.start(s.id, spawner);
    await engine.wait(started);
    const t2 = performance.now();
    await engine.remove(s.id);
    const t3 = performance.now();
    if (i < 2 * KINDS.length) continue; // warm-up
    samples[kind].push(t3 - t0);
    phases[kind].generate.push(t1 - t0);
    phases[kind].run.push(t2 - t1);
    phases[kind].remove.push(t3 - t2);
  }
  for (const kind of density > 0 ? ['ephemeral', 'persistent'] : []) {
    const before = hostMounts();
    const ids = [];
    for (let i = 0; i < density; i++) {
      const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'import time; time.sleep(600)'], ...quotaOf(kind) });
      await engine.start(s.id, spawner, { detached: true });
      ids.push(s.id);
    }
    density_[kind] = { before, running: hostMounts() };
    for (const id of ids) await engine.remove(id, { force: true });
  }
} finally {
  for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine.releaseSpareVolumes();
  await engine.disposeCgroupParent();
  // The pre-mounted spare volumes first: rm -r must not descend into a mount.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${root}/`));
  for (const m of mounts.sort().reverse()) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
  rmSync(root, { recursive: true, force: true });
}
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f = (x) => `${x.toFixed(1)} ms`;
for (const kind of KINDS) {
  const ph = phases[kind];
  console.log(`${kind.padEnd(10)} total median ${f(q(samples[kind], 0.5))} p90 ${f(q(samples[kind], 0.9))} | generate ${f(q(ph.generate, 0.5))}, start→exit ${f(q(ph.run, 0.5))}, rm ${f(q(ph.remove, 0.5))} (n=${samples[kind].length})`);
}
for (const kind of ['ephemeral', 'persistent']) console.log(`${kind === "ephemeral" ? "an" : "a"} ${kind} quota costs ${f(q(samples[kind], 0.5) - q(samples.none, 0.5))} per container (median difference)`);
for (const [kind, d] of Object.entries(density_)) console.log(`host mountinfo: ${d.before} lines before, ${d.running} with ${density} ${kind} containers running`);
