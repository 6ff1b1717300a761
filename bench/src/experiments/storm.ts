// Experiment 3 — the start storm (the paper's figure 9): N long-lived python containers started
// back to back, the latency of each start by index; then memory with all of them up, the
// teardown, and a leak check. Engines, one after the other, each from a dropped page cache:
// bare processes (the physical limit), Reg, Reg with sharing off (smaller N: every container
// copies its runtime), Docker (smaller N: it is slow).
//
// "Start" is what each engine's caller waits for until the command has been exec'd: Reg's
// generate + start (in process), `docker run -d` (CLI to exit), and spawn() of a bare process.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { cgroupPids, descendants, pssOf, processTable, settledUsedBytes, type PssFigures } from '../host.js';
import { BENCH_UID } from '../peers/oci.js';
import { CLEAN_ENV, waitUntil } from '../processes.js';
import { MemoryGroup, memoryCgroupOf, usageOf } from '../memory-cgroup.js';
import { summarise, type Summary } from '../stats.js';

const SLEEP_PY = 'import time; time.sleep(1e9)';
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface StormMemory {
  /** MemTotal − MemFree after dropping caches, minus the same before the first start. */
  hostDeltaBytes: number;
  /**
   * Σ memory.usage_in_bytes of the cgroups the engine's processes run in, after dropping caches:
   * Reg's container cgroups; Docker's container cgroups plus the growth of dockerd's (its
   * containerd and shims); for bare processes a cgroup of the bench's own.
   */
  chargedBytes: number;
  /** Σ smaps_rollup of every process the engine runs for the containers (Reg: engine.stats()). */
  pss: PssFigures;
  /** Σ PSS of the python processes alone. */
  commandPss: number;
  /** Docker: dockerd, containerd and the shims. */
  enginePss?: PssFigures;
  /** How long one engine.stats() over all containers took (Reg only). */
  statsMs?: number;
}

export interface StormSeries {
  engine: string;
  n: number;
  started: number;
  latencies: number[];
  summary: Summary;
  failed?: string;
  memory?: StormMemory;
  teardownMs?: number;
  teardownHow: string;
  leaks: string[];
}

export interface StormResult {
  series: StormSeries[];
}

export async function stormExperiment(ctx: BenchContext): Promise<StormResult> {
  const series: StormSeries[] = [];
  const ref = await ctx.buildRuntime('/usr/bin/python3.11');
  series.push(await bareStorm(ctx, ctx.opts.n, false));
  // Reg's python finds its .pyc stale (the store does not keep source mtimes) and compiles its
  // imports; the same bare, to show how much of the difference that is.
  series.push(await bareStorm(ctx, ctx.opts.n, true));
  series.push(await regStorm(ctx, ref, ctx.opts.n, false));
  if (ctx.opts.offN > 0) series.push(await regStorm(ctx, ref, ctx.opts.offN, true));
  if (ctx.opts.dockerN > 0) {
    const s = await dockerStorm(ctx, ctx.opts.dockerN);
    if (s) series.push(s);
  }
  return { series };
}

function progress(ctx: BenchContext, engine: string, i: number, n: number, ms: number): void {
  if ((i + 1) % Math.max(1, Math.floor(n / 10)) === 0) ctx.log(`  ${engine}: ${i + 1}/${n} started (last ${ms.toFixed(0)} ms)`);
}

/** Waits until every pid is asleep (its import done, blocked in time.sleep): twice in a row. */
async function waitAsleep(pids: number[], timeoutMs: number): Promise<boolean> {
  let streak = 0;
  return waitUntil(async () => {
    const table = await processTable();
    const asleep = pids.every((p) => table.get(p)?.state === 'S');
    streak = asleep ? streak + 1 : 0;
    return streak >= 2;
  }, timeoutMs, 200);
}

async function commandPids(roots: number[], comm: RegExp): Promise<number[]> {
  const table = await processTable();
  return (await descendants(roots)).filter((p) => comm.test(table.get(p)?.comm ?? ''));
}

function finish(engine: string, n: number, latencies: number[], teardownHow: string): StormSeries {
  return { engine, n, started: latencies.length, latencies, summary: summarise(latencies), teardownHow, leaks: [] };
}

export const BARE_NO_PYC = 'bare process, .pyc ignored';

async function bareStorm(ctx: BenchContext, n: number, ignorePyc: boolean): Promise<StormSeries> {
  const engine = ignorePyc ? BARE_NO_PYC : 'bare process';
  ctx.log(`storm: ${n} × ${engine}`);
  const group = await MemoryGroup.create(ignorePyc ? 'bare-storm-nopyc' : 'bare-storm', ctx.cleanup);
  const baseline = await settledUsedBytes();
  const children: ChildProcess[] = [];
  const undo = ctx.cleanup.add('bare storm processes', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const latencies: number[] = [];
  const s = finish(engine, n, latencies, 'SIGKILL to each, then wait for every exit');
  const args = [...(ignorePyc ? ['-X', 'pycache_prefix=/proc/nonexistent'] : []), '-c', SLEEP_PY];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const child = spawn('/usr/bin/python3.11', args, { stdio: 'ignore', detached: true, uid: BENCH_UID, gid: BENCH_UID, env: CLEAN_ENV });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      latencies.push(performance.now() - t0);
      children.push(child);
      // Outside the timed part: into the bench's group (python does not fork, so nothing escapes).
      await group?.add(child.pid!);
      progress(ctx, engine, i, n, latencies[i]!);
    }
    const pids = children.map((c) => c.pid!);
    if (!(await waitAsleep(pids, 120_000))) ctx.note('storm/bare: not every process was asleep after 120 s');
    const used = await settledUsedBytes();
    const pss = await pssOf(pids);
    s.memory = { hostDeltaBytes: used - baseline, chargedBytes: (await group?.usage()) ?? Number.NaN, pss, commandPss: pss.pss };
  } finally {
    const t0 = performance.now();
    const exits = children.map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))));
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(exits);
    s.teardownMs = performance.now() - t0;
    await undo();
  }
  s.summary = summarise(latencies);
  s.started = latencies.length;
  await group?.remove();
  const alive = children.filter((c) => c.pid && existsProc(c.pid));
  if (alive.length) s.leaks.push(`${alive.length} processes alive`);
  return s;
}

function existsProc(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function regStorm(ctx: BenchContext, ref: string, n: number, sharingOff: boolean): Promise<StormSeries> {
  const engine = sharingOff ? 'Reg, sharing off' : 'Reg';
  ctx.log(`storm: ${n} ${engine} containers`);
  const privateDir = sharingOff ? join(ctx.tmp, 'private-storm') : undefined;
  const baseline = await settledUsedBytes();
  // Sharing off: the copies' page cache is charged to the group cp ran in; count it too.
  const copiesBefore = sharingOff ? ((await ctx.reg.copyGroup?.usage()) ?? 0) : 0;
  const latencies: number[] = [];
  const s = finish(engine, n, latencies, 'engine.remove(id, {force: true}) one by one (stop: SIGKILL via the cgroup, rm of the container dir)');
  const ids: string[] = [];
  const initPids: number[] = [];
  const launcherPids: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const r = await ctx.reg.startDetached({ ret: ref, command: ['python3', '-c', SLEEP_PY], ...(privateDir && { privateDir }) });
      latencies.push(r.ms);
      ids.push(r.id);
      if (r.state.initPid) initPids.push(r.state.initPid);
      if (r.state.launcherPid) launcherPids.push(r.state.launcherPid);
      progress(ctx, engine, i, n, r.ms);
    }
  } catch (e) {
    s.failed = `start ${latencies.length + 1} failed: ${(e as Error).message}`;
    ctx.note(`storm/${engine}: ${s.failed}`);
  }
  try {
    const pythons = await commandPids(initPids, /^python3/);
    if (!(await waitAsleep(pythons, 120_000))) ctx.note(`storm/${engine}: not every python was asleep after 120 s`);
    const used = await settledUsedBytes();
    const t0 = performance.now();
    const st = await ctx.reg.engine.stats();
    const statsMs = performance.now() - t0;
    const pss: PssFigures = { processes: st.containers.reduce((k, c) => k + c.pids, 0), rss: st.total.rss, pss: st.total.pss, uss: st.total.uss };
    const copies = sharingOff ? ((await ctx.reg.copyGroup?.usage()) ?? 0) - copiesBefore : 0;
    const chargedBytes = st.containers.reduce((k, c) => k + c.cgroupMemoryBytes, 0) + copies;
    s.memory = { hostDeltaBytes: used - baseline, chargedBytes, pss, commandPss: (await pssOf(pythons)).pss, statsMs };
  } catch (e) {
    ctx.note(`storm/${engine}: memory not measured: ${(e as Error).message}`);
  }
  const t0 = performance.now();
  for (const id of ids) await ctx.reg.remove(id).catch((e: Error) => s.leaks.push(`remove ${id}: ${e.message}`));
  s.teardownMs = performance.now() - t0;
  s.summary = summarise(latencies);
  s.started = latencies.length;
  s.leaks.push(...(await regLeaks(ctx, ids, [...initPids, ...launcherPids])));
  return s;
}

/** After teardown: no container state, cgroup, process or mount of these containers may remain. */
async function regLeaks(ctx: BenchContext, ids: string[], pids: number[]): Promise<string[]> {
  const leaks: string[] = [];
  const left = await ctx.reg.ids();
  if (left.length) leaks.push(`${left.length} containers still listed`);
  const mine = new Set(ids);
  // Reg's cgroup parent is reg/ for /var/lib/reg and reg-<hash>/ for another REG_HOME: look in both.
  for (const controller of await readdir(CGROUP_ROOT).catch(() => [] as string[])) {
    for (const parent of (await readdir(join(CGROUP_ROOT, controller)).catch(() => [] as string[])).filter((p) => /^reg(-[0-9a-f]+)?$/.test(p))) {
      const cg = (await readdir(join(CGROUP_ROOT, controller, parent)).catch(() => [] as string[])).filter((d) => mine.has(d));
      if (cg.length) leaks.push(`${cg.length} cgroups left under ${controller}/${parent}`);
    }
  }
  const alive = [];
  for (const pid of pids) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
    if (cmd.includes('reg-launch') || cmd.includes('python3')) alive.push(pid);
  }
  if (alive.length) leaks.push(`${alive.length} container processes alive`);
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(ctx.reg.home.root));
  if (mounts.length) leaks.push(`${mounts.length} mounts under ${ctx.reg.home.root} in the host's mount table`);
  return leaks;
}

async function dockerStorm(ctx: BenchContext, n: number): Promise<StormSeries | undefined> {
  const d = await ctx.docker();
  const tag = d && (await ctx.image('python'));
  if (!d || !tag) return undefined;
  ctx.log(`storm: ${n} Docker containers`);
  const baseline = await settledUsedBytes();
  const daemonsBefore = (await ctx.dockerGroup?.usage()) ?? 0;
  const latencies: number[] = [];
  const s = finish('Docker', n, latencies, '`docker rm -f` of all containers, 100 ids per call');
  const names: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const name = `bench-storm-${i}`;
      const t = await d.timeDocker(['run', '-d', '--network', 'none', '--user', `${BENCH_UID}:${BENCH_UID}`, '--name', name, tag, 'python3', '-c', SLEEP_PY]);
      if (t.code !== 0) throw new Error(`docker run -d exited ${t.code}`);
      latencies.push(t.ms);
      names.push(name);
      progress(ctx, 'Docker', i, n, t.ms);
    }
  } catch (e) {
    s.failed = `start ${latencies.length + 1} failed: ${(e as Error).message}`;
    ctx.note(`storm/Docker: ${s.failed}`);
  }
  try {
    const cgroups = (await Promise.all((await d.containerInitPids(names)).map((p) => memoryCgroupOf(p)))).filter((c): c is string => !!c);
    const all = (await Promise.all(cgroups.map((c) => cgroupPids(join(c, 'cgroup.procs'))))).flat();
    const table = await processTable();
    const pythons = all.filter((p) => /^python3/.test(table.get(p)?.comm ?? ''));
    if (!(await waitAsleep(pythons, 120_000))) ctx.note('storm/Docker: not every python was asleep after 120 s');
    const used = await settledUsedBytes();
    const pss = await pssOf(all);
    const containers = (await Promise.all(cgroups.map((c) => usageOf(c)))).reduce((a, b) => a + b, 0);
    const daemons = ctx.dockerGroup ? (await ctx.dockerGroup.usage()) - daemonsBefore : 0;
    s.memory = { hostDeltaBytes: used - baseline, chargedBytes: containers + daemons, pss, commandPss: (await pssOf(pythons)).pss, enginePss: await pssOf(await d.enginePids()) };
  } catch (e) {
    ctx.note(`storm/Docker: memory not measured: ${(e as Error).message}`);
  }
  const t0 = performance.now();
  await d.removeAllContainers();
  s.teardownMs = performance.now() - t0;
  s.summary = summarise(latencies);
  s.started = latencies.length;
  const left = await d.containerIds();
  if (left.length) s.leaks.push(`${left.length} containers still listed`);
  return s;
}
