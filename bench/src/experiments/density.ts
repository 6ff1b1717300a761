// Density (issue 12, item 7): as many idle python containers as the machine holds, against as many
// idle bare python processes, one after the other in one invocation. For each: the host's used
// memory per instance (MemTotal − MemAvailable after dropping caches, minus the same before),
// start latency with none running (the first 100) against with N running (the last 100), and for
// Reg engine.stats() over all of them and the batch teardown. Starting stops at --n, when
// MemAvailable falls below --floor-gib, when the host's processes near kernel.pid_max, at the
// time limit, or at the first failed start — whichever comes first is reported as what stopped it.
//
//   node --import tsx bench/src/experiments/density.ts [--n 7000] [--floor-gib 3] [--minutes 25] [--pid-max 4194304]
//
// The machine is shared: compare the two engines of one run, not runs with each other.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine, buildFromHost, childProcessSpawner, regHome } from '../reg-core.js';

const SLEEP_PY = 'import time; time.sleep(1e9)';
const GIB = 2 ** 30;

export interface DensitySeries {
  engine: string;
  started: number;
  stoppedBy: string;
  usedPerInstanceBytes: number;
  firstStartsMs: number;
  lastStartsMs: number;
  processes: number;
  statsMs?: number;
  statsAgainMs?: number;
  teardownMs?: number;
}

async function meminfo(): Promise<{ usedBytes: number; availableBytes: number }> {
  const text = await readFile('/proc/meminfo', 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { usedBytes: kib('MemTotal') - kib('MemAvailable'), availableBytes: kib('MemAvailable') };
}

async function settledUsed(): Promise<number> {
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  return (await meminfo()).usedBytes;
}

async function processCount(): Promise<number> {
  return (await readdir('/proc')).filter((d) => /^\d+$/.test(d)).length;
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);

interface Limits {
  n: number;
  floorBytes: number;
  deadline: number;
  pidMax: number;
}

/** Why starting must stop now, or undefined. Checked every 50 starts (reading /proc is not free). */
async function stopReason(i: number, l: Limits): Promise<string | undefined> {
  if (i >= l.n) return `reached --n ${l.n}`;
  if (i % 50 !== 0) return undefined;
  if (Date.now() > l.deadline) return 'time limit';
  const m = await meminfo();
  if (m.availableBytes < l.floorBytes) return `MemAvailable below ${(l.floorBytes / GIB).toFixed(0)} GiB`;
  if ((await processCount()) > l.pidMax - 1500) return `processes near kernel.pid_max (${l.pidMax})`;
  return undefined;
}

async function bareDensity(l: Limits, log: (s: string) => void): Promise<DensitySeries> {
  const children: ChildProcess[] = [];
  const before = await settledUsed();
  const latencies: number[] = [];
  let stoppedBy = '';
  try {
    for (let i = 0; ; i++) {
      const why = await stopReason(i, l);
      if (why) {
        stoppedBy = why;
        break;
      }
      const t0 = performance.now();
      const c = spawn('/usr/bin/python3.11', ['-c', SLEEP_PY], { stdio: 'ignore' });
      children.push(c);
      await new Promise<void>((res, rej) => {
        c.once('spawn', () => res());
        c.once('error', rej);
      });
      latencies.push(performance.now() - t0);
      if ((i + 1) % 1000 === 0) log(`bare: ${i + 1}`);
    }
    await new Promise((r) => setTimeout(r, 3000)); // every interpreter initialised and asleep
    const used = await settledUsed();
    return {
      engine: 'bare python processes',
      started: children.length,
      stoppedBy,
      usedPerInstanceBytes: (used - before) / children.length,
      firstStartsMs: median(latencies.slice(0, 100)),
      lastStartsMs: median(latencies.slice(-100)),
      processes: children.length,
    };
  } finally {
    const exits = children.map((c) => new Promise<void>((res) => (c.exitCode !== null || c.signalCode !== null ? res() : c.once('exit', () => res()))));
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(exits);
  }
}

async function regDensity(l: Limits, log: (s: string) => void): Promise<DensitySeries> {
  const root = await mkdtemp(join(tmpdir(), 'reg-density-'));
  const engine = await Engine.open({ home: regHome(root) });
  const ids: string[] = [];
  try {
    const r = await buildFromHost(engine.home, '/usr/bin/python3.11');
    const ref = `${r.runtime.name}@${r.runtime.version}`;
    const before = await settledUsed();
    const procsBefore = await processCount();
    const latencies: number[] = [];
    const quiet = childProcessSpawner({ detached: true, stdio: 'ignore' });
    let stoppedBy = '';
    for (let i = 0; ; i++) {
      const why = await stopReason(i, l);
      if (why) {
        stoppedBy = why;
        break;
      }
      const t0 = performance.now();
      try {
        const s = await engine.generate({ ret: ref, command: ['/usr/bin/python3.11', '-c', SLEEP_PY] });
        ids.push(s.id);
        // Output to nowhere: no log helper per container (the host's terminals have none either),
        // and nothing outside the pinned launcher that a rebuild of packages/native could pull away.
        const started = await engine.start(s.id, quiet, { detached: true });
        if (started.state.status !== 'running') throw new Error(`ended at once: ${JSON.stringify(started.state.outcome)}`);
      } catch (e) {
        stoppedBy = `start ${i + 1} failed: ${(e as Error).message}`;
        break;
      }
      latencies.push(performance.now() - t0);
      if ((i + 1) % 500 === 0) log(`Reg: ${i + 1} running (last start ${latencies.at(-1)!.toFixed(0)} ms, MemAvailable ${((await meminfo()).availableBytes / GIB).toFixed(1)} GiB)`);
    }
    await new Promise((r) => setTimeout(r, 3000));
    const used = await settledUsed();
    const processes = (await processCount()) - procsBefore;
    let t = performance.now();
    const st = await engine.stats();
    const statsMs = performance.now() - t;
    t = performance.now();
    await engine.stats();
    const statsAgainMs = performance.now() - t;
    log(`Reg: stats() over ${st.containers.length}: ${statsMs.toFixed(0)} ms, again ${statsAgainMs.toFixed(0)} ms`);
    t = performance.now();
    const rm1 = await engine.removeMany(ids, { force: true });
    const teardownMs = performance.now() - t;
    if (rm1.failed.length) log(`Reg: ${rm1.failed.length} removals failed, e.g. ${(rm1.failed[0]!.error as Error).message}`);
    const n = latencies.length;
    ids.length = 0;
    return {
      engine: 'Reg containers (cgroup pool)',
      started: n,
      stoppedBy,
      usedPerInstanceBytes: (used - before) / n,
      firstStartsMs: median(latencies.slice(0, 100)),
      lastStartsMs: median(latencies.slice(-100)),
      processes,
      statsMs,
      statsAgainMs,
      teardownMs,
    };
  } finally {
    if (ids.length) await engine.removeMany(ids, { force: true }).catch(() => undefined);
    await engine.disposeCgroupParent().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

export async function densityExperiment(opts: { n: number; floorGiB: number; minutes: number; log: (s: string) => void }): Promise<DensitySeries[]> {
  const pidMax = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
  const limits = (): Limits => ({ n: opts.n, floorBytes: opts.floorGiB * GIB, deadline: Date.now() + opts.minutes * 60_000, pidMax });
  const out: DensitySeries[] = [];
  opts.log(`density: bare, up to ${opts.n}`);
  out.push(await bareDensity(limits(), opts.log));
  opts.log(`density: Reg, up to ${opts.n}`);
  out.push(await regDensity(limits(), opts.log));
  return out;
}

export function formatDensity(rows: DensitySeries[]): string {
  const bare = rows.find((r) => r.engine.startsWith('bare'));
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  return [
    '| engine | started | stopped by | host used / instance | vs bare | start, first 100 (median) | start, last 100 (median) | last / first | processes | stats() | stats() again | teardown |',
    '| :--- | ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) =>
      `| ${r.engine} | ${r.started} | ${r.stoppedBy} | ${mib(r.usedPerInstanceBytes)} | ${bare ? `${(r.usedPerInstanceBytes / bare.usedPerInstanceBytes).toFixed(2)}×` : '–'} | ${r.firstStartsMs.toFixed(1)} ms | ${r.lastStartsMs.toFixed(1)} ms | ${(r.lastStartsMs / r.firstStartsMs).toFixed(2)}× | ${r.processes} | ${r.statsMs !== undefined ? `${r.statsMs.toFixed(0)} ms` : '–'} | ${r.statsAgainMs !== undefined ? `${r.statsAgainMs.toFixed(0)} ms` : '–'} | ${r.teardownMs !== undefined ? `${(r.teardownMs / 1000).toFixed(1)} s` : '–'} |`,
    ),
  ].join('\n');
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number, got ${process.argv[i + 1]}`);
  return v;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.getuid?.() !== 0) {
    console.error('density: needs root (cgroups, namespaces, drop_caches)');
    process.exit(2);
  }
  const tmp = await mkdtemp(join(tmpdir(), 'reg-density-launcher-'));
  const { launcherPath } = await import('@reg/native');
  const pinned = join(tmp, 'reg-launch');
  await copyFile(process.env.REG_LAUNCHER || launcherPath, pinned);
  await chmod(pinned, 0o755);
  process.env.REG_LAUNCHER = pinned;
  const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
  // --pid-max N: raise kernel.pid_max for the run (restored after). The default 32768 is the first
  // limit a host of thousands of containers meets (each is 3–4 processes); it is the host's to set.
  const pidMax = arg('pid-max', 0);
  const oldPidMax = (await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim();
  if (pidMax > Number(oldPidMax)) {
    await writeFile('/proc/sys/kernel/pid_max', String(pidMax));
    log(`kernel.pid_max ${oldPidMax} → ${pidMax} for this run`);
  }
  try {
    const rows = await densityExperiment({ n: arg('n', 7000), floorGiB: arg('floor-gib', 3), minutes: arg('minutes', 25), log });
    console.log(formatDensity(rows));
    console.log('\n' + JSON.stringify(rows));
  } finally {
    if (pidMax > Number(oldPidMax)) await writeFile('/proc/sys/kernel/pid_max', oldPidMax).catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}
