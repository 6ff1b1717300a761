// Kernel memory over many containers (issue 12, item 6). Every container used to create and remove
// a memory cgroup; a removed memcg lingers in the kernel while pages are still charged to it
// (a "zombie"), counted in /proc/cgroups and paid for in unreclaimable slab (SUnreclaim). With the
// cgroup pool a removed container's cgroup is reset and recycled, so no memcg dies.
//
// One invocation, two engines over two temp REG_HOMEs: the pool on, then the pool off
// (REG_CGROUP_POOL=0: mkdir/rmdir per container, as before) — on first, so the zombies of the
// old behaviour cannot inflate its numbers. Each runs N containers of `true` (generate → start →
// wait → remove), K at a time, and reads the memory cgroup count and SUnreclaim before, right
// after, and after a settle. Standalone (root):
//
//   node --import tsx bench/src/experiments/kernel-memory.ts [--n 10000] [--parallel 4] [--settle 10]
//
// The machine is shared: read the two engines' deltas against each other, not as absolutes.

import { chmod, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine, buildFromHost, childProcessSpawner, regHome } from '../reg-core.js';

export interface KernelSample {
  memcgs: number;
  sunreclaimKiB: number;
  /** Reg's cgroup directories under the home's parent (memory controller). */
  regDirs: number;
  /**
   * The parent memcg's hierarchical charge (memory.usage_in_bytes, which on v1 also counts what
   * is still charged to removed, dying children) and its kernel part (memory.kmem.usage_in_bytes):
   * unlike the global figures, only this engine's containers contribute to these.
   */
  parentUsageBytes: number;
  parentKmemBytes: number;
}

export interface KernelMemorySeries {
  engine: string;
  n: number;
  failures: number;
  seconds: number;
  before: KernelSample;
  after: KernelSample;
  settled: KernelSample;
}

async function sample(parentDir?: string): Promise<KernelSample> {
  const cgroups = await readFile('/proc/cgroups', 'utf8');
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const { readdir } = await import('node:fs/promises');
  const regDirs = parentDir ? (await readdir(parentDir, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).length : 0;
  const num = async (f: string) => (parentDir ? Number((await readFile(join(parentDir, f), 'utf8').catch(() => '0')).trim()) : 0);
  return {
    memcgs: Number(/^memory\s+\d+\s+(\d+)/m.exec(cgroups)?.[1] ?? NaN),
    sunreclaimKiB: Number(/^SUnreclaim:\s+(\d+)/m.exec(meminfo)?.[1] ?? NaN),
    regDirs,
    parentUsageBytes: await num('memory.usage_in_bytes'),
    parentKmemBytes: await num('memory.kmem.usage_in_bytes'),
  };
}

async function runMany(engine: string, pool: boolean, n: number, parallel: number, settleS: number, log: (s: string) => void): Promise<KernelMemorySeries> {
  const root = await mkdtemp(join(tmpdir(), `reg-kmem-${pool ? 'pool' : 'nopool'}-`));
  const prev = process.env.REG_CGROUP_POOL;
  process.env.REG_CGROUP_POOL = pool ? '1' : '0';
  const home = regHome(root);
  const e = await Engine.open({ home });
  if (prev === undefined) delete process.env.REG_CGROUP_POOL;
  else process.env.REG_CGROUP_POOL = prev;
  try {
    const r = await buildFromHost(home, '/usr/bin/true');
    const ref = `${r.runtime.name}@${r.runtime.version}`;
    const parentDir = join('/sys/fs/cgroup/memory', (e.ctx.cgroups as { parent?: string }).parent ?? '');
    // The parent exists from the first container on: make it now so "before" reads it too.
    await e.ctx.cgroups.create('kmem-probe', {});
    await e.ctx.cgroups.remove('kmem-probe');
    const before = await sample(parentDir);
    const spawn = childProcessSpawner({ stdio: 'ignore' });
    let next = 0;
    let failures = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < n) {
        const i = next++;
        try {
          const { outcome } = await e.run({ ret: ref, command: ['/usr/bin/true'], rm: true, spawn });
          if (outcome.outcome !== 'exited' || outcome.code !== 0) failures++;
        } catch (err) {
          failures++;
          if (failures <= 3) log(`${engine}: run ${i} failed: ${(err as Error).message}`);
        }
        if ((i + 1) % 1000 === 0) log(`${engine}: ${i + 1}/${n}`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    const seconds = (performance.now() - t0) / 1000;
    // The deferred cgroup removals after each run settle first.
    await new Promise((res) => setTimeout(res, 500));
    const after = await sample(parentDir);
    await new Promise((res) => setTimeout(res, settleS * 1000));
    const settled = await sample(parentDir);
    return { engine, n, failures, seconds, before, after, settled };
  } finally {
    await e.disposeCgroupParent().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

export async function kernelMemoryExperiment(opts: { n: number; parallel: number; settleS: number; log: (s: string) => void }): Promise<KernelMemorySeries[]> {
  const out: KernelMemorySeries[] = [];
  out.push(await runMany('Reg, cgroup pool', true, opts.n, opts.parallel, opts.settleS, opts.log));
  out.push(await runMany('Reg, no pool (mkdir/rmdir per container)', false, opts.n, opts.parallel, opts.settleS, opts.log));
  return out;
}

export function formatKernelMemory(series: KernelMemorySeries[]): string {
  const pct = (a: number, b: number) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;
  const rows = series.map((s) =>
    `| ${s.engine} | ${s.n} (${s.failures} failed) | ${s.seconds.toFixed(0)} s | ${s.before.memcgs} → ${s.after.memcgs} → ${s.settled.memcgs} (${pct(s.before.memcgs, s.settled.memcgs)}) | ${(s.before.sunreclaimKiB / 1024).toFixed(0)} → ${(s.after.sunreclaimKiB / 1024).toFixed(0)} → ${(s.settled.sunreclaimKiB / 1024).toFixed(0)} MiB (${pct(s.before.sunreclaimKiB, s.settled.sunreclaimKiB)}) | ${s.settled.regDirs} | ${((s.settled.parentUsageBytes - s.before.parentUsageBytes) / 2 ** 20).toFixed(1)} / ${((s.settled.parentKmemBytes - s.before.parentKmemBytes) / 2 ** 20).toFixed(1)} MiB |`,
  );
  return [
    '| engine | containers | time | memory cgroups (/proc/cgroups, whole host): before → after → settled | SUnreclaim (whole host): before → after → settled | Reg cgroup dirs left (idle pool) | left charged under Reg\'s parent (dying memcgs included): all / kernel |',
    '| :--- | ---: | ---: | :--- | :--- | ---: | :--- |',
    ...rows,
  ].join('\n');
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} needs a whole number, got ${process.argv[i + 1]}`);
  return v;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.getuid?.() !== 0) {
    console.error('kernel-memory: needs root (cgroups, namespaces)');
    process.exit(2);
  }
  const tmp = await mkdtemp(join(tmpdir(), 'reg-kmem-launcher-'));
  // Others rebuild packages/native on this machine: run a pinned copy of the launcher.
  const { launcherPath } = await import('@reg/native');
  const pinned = join(tmp, 'reg-launch');
  await copyFile(process.env.REG_LAUNCHER || launcherPath, pinned);
  await chmod(pinned, 0o755);
  process.env.REG_LAUNCHER = pinned;
  const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
  try {
    const series = await kernelMemoryExperiment({ n: arg('n', 10_000), parallel: arg('parallel', 4), settleS: arg('settle', 10), log });
    console.log(formatKernelMemory(series));
    console.log('\n' + JSON.stringify(series));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
