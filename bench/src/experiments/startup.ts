// Experiment 2 — startup: R sequential runs of a trivial program (`python3 -c pass`,
// `node -e 0`) per engine, each run timed from the caller's first action to the engine being
// done (process exited, container removed). Engines take turns run by run, so a noisy moment of
// the shared machine hits all of them alike. Then a profile of where Reg's time goes.

import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { bwrapArgs } from '../peers/oci.js';
import { CLEAN_ENV, timeRun, type Timed } from '../processes.js';
import { exportTree } from '../reg-core.js';
import type { RegRunTiming } from '../reg-harness.js';
import { median, summarise, type Summary } from '../stats.js';

export interface StartupRow {
  engine: string;
  runtime: string;
  samples: number[];
  summary: Summary;
  failed?: string;
}

export interface PhaseBreakdown {
  runtime: string;
  /** Medians (ms) of the phases of the in-process Reg runs. */
  phases: Record<string, number>;
  /** Medians (ms) of direct launcher runs (no Node involved). */
  launcher: Record<string, number>;
}

export interface StartupResult {
  runs: number;
  /** `python3 -v -c pass` in a Reg container: how many imports found their .pyc stale. */
  pythonStaleBytecode?: { stale: number; fromPyc: number };
  rows: StartupRow[];
  breakdowns: PhaseBreakdown[];
}

interface Runtime {
  name: 'python' | 'node';
  binary: string;
  bare: [string, string[]];
  inContainer: string[];
}

const RUNTIMES: Runtime[] = [
  { name: 'python', binary: '/usr/bin/python3.11', bare: ['/usr/bin/python3.11', ['-c', 'pass']], inContainer: ['python3', '-c', 'pass'] },
  { name: 'node', binary: '/usr/bin/node', bare: ['/usr/bin/node', ['-e', '0']], inContainer: ['node', '-e', '0'] },
];

interface Engine {
  name: string;
  /** Untimed, before each run (a warm pool: one parked launcher ready). */
  prepare?: () => Promise<void>;
  run: () => Promise<number>;
}

const REG_CLI = new URL('../../../packages/reg-core/bin/reg.js', import.meta.url).pathname;

function ok(t: Timed, what: string): number {
  if (t.code !== 0) throw new Error(`${what} exited with ${t.code ?? t.signal}`);
  return t.ms;
}

export async function startupExperiment(ctx: BenchContext): Promise<StartupResult> {
  const R = ctx.opts.runs;
  const rows: StartupRow[] = [];
  const breakdowns: PhaseBreakdown[] = [];
  for (const rt of RUNTIMES) {
    const ref = await ctx.buildRuntime(rt.binary);
    const regTimings: RegRunTiming[] = [];
    const privateDir = join(ctx.tmp, 'private-startup');
    const engines: Engine[] = [
      { name: 'bare process', run: async () => ok(await timeRun(rt.bare[0], rt.bare[1]), 'bare') },
      {
        name: 'Reg (engine API)',
        run: async () => {
          const t = await ctx.reg.runToCompletion(ref, rt.inContainer);
          regTimings.push(t);
          return t.totalMs;
        },
      },
      { name: 'Reg, sharing off', run: async () => (await ctx.reg.runToCompletion(ref, rt.inContainer, { privateDir })).totalMs },
      {
        name: 'Reg (`reg run --rm` CLI)',
        run: async () =>
          ok(await timeRun(process.execPath, [REG_CLI, '--home', ctx.reg.home.root, 'run', '--rm', '-t', ref, '--', ...rt.inContainer], { env: { ...CLEAN_ENV, ...(process.env.REG_LAUNCHER && { REG_LAUNCHER: process.env.REG_LAUNCHER }) } }), 'reg run'),
      },
    ];
    // The same two with a warm pool: one parked launcher (cgroups joined, namespaces made) ready
    // before the run, untimed, as a pool kept filled in the background would have it. The run takes
    // it, so the engines above always find the pool empty (their path is the cold one).
    const pool = ctx.reg.engine.pool;
    if (pool) {
      const warm = () => pool.fill('isolated', 1);
      engines.splice(2, 0, { name: 'Reg (engine API), warm pool', prepare: warm, run: async () => (await ctx.reg.runToCompletion(ref, rt.inContainer)).totalMs });
      engines.push({ name: 'Reg (`reg run --rm` CLI), warm pool', prepare: warm, run: engines.find((e) => e.name === 'Reg (`reg run --rm` CLI)')!.run });
    }
    const tree = await ctx.tree(rt.name).catch((e: Error) => {
      ctx.note(`image tree for ${rt.name} unavailable, image-based peers skipped: ${e.message}`);
      return undefined;
    });
    if (tree) {
      if (await ctx.bwrap()) engines.push({ name: 'bubblewrap', run: async () => ok(await timeRun('bwrap', bwrapArgs(tree, rt.inContainer)), 'bwrap') });
      for (const name of ['crun', 'runc'] as const) {
        const oci = await ctx.ociRuntime(name);
        if (!oci) continue;
        const bundle = await oci.bundle(tree, rt.inContainer, rt.name);
        engines.push({ name, run: async () => ok(await oci.run(bundle), name) });
      }
      const d = await ctx.docker();
      const tag = d && (await ctx.image(rt.name));
      if (d && tag) engines.push({ name: 'Docker', run: async () => ok(await d.timeDocker(['run', '--rm', '--network', 'none', tag, ...rt.inContainer]), 'docker run') });
    }

    const samples = new Map<string, number[]>(engines.map((e) => [e.name, []]));
    const failed = new Map<string, string>();
    const failures = new Map<string, number>();
    ctx.log(`startup ${rt.name}: ${R} runs × ${engines.length} engines, round robin`);
    // Warm-up runs per engine (first runs pay one-time page-cache and daemon costs).
    const warmup = ctx.opts.quick ? 1 : 2;
    for (let i = -warmup; i < R; i++) {
      for (const e of engines) {
        if (failed.has(e.name)) continue;
        try {
          await e.prepare?.();
          const v = await e.run();
          if (i >= 0) samples.get(e.name)!.push(v);
        } catch (err) {
          // A shared machine hiccups; an engine is given up after its third failed run.
          const n = (failures.get(e.name) ?? 0) + 1;
          failures.set(e.name, n);
          ctx.note(`startup ${rt.name} / ${e.name}: run ${i + 1} failed${n >= 3 ? ' (third failure: engine dropped)' : ''}: ${(err as Error).message}`);
          if (n >= 3) failed.set(e.name, (err as Error).message);
        }
      }
      if (i >= 0 && (i + 1) % Math.max(1, Math.floor(R / 4)) === 0) ctx.log(`  ${i + 1}/${R}`);
    }
    regTimings.splice(0, warmup);
    for (const e of engines) {
      const s = samples.get(e.name)!;
      rows.push({ engine: e.name, runtime: rt.name, samples: s, summary: summarise(s), ...(failed.has(e.name) && { failed: failed.get(e.name)! }) });
    }
    breakdowns.push({ runtime: rt.name, phases: phaseMedians(regTimings), launcher: await launcherProfile(ctx, ref, rt, Math.min(R, 50)) });
    await ctx.reg.removeAll();
    await ctx.reg.engine.pool?.drain(); // a member parked by a failed warm run
  }
  return { runs: R, rows, breakdowns, ...(await staleBytecode(ctx)) };
}

/** Does python inside Reg trust its .pyc files? (The store must keep the sources' mtimes.) */
async function staleBytecode(ctx: BenchContext): Promise<Pick<StartupResult, 'pythonStaleBytecode'>> {
  try {
    const ref = await ctx.buildRuntime('/usr/bin/python3.11');
    const out = await ctx.reg.runCapture(ref, ['python3', '-v', '-c', 'pass'], join(ctx.tmp, 'python-v.log'));
    return { pythonStaleBytecode: { stale: (out.match(/bytecode is stale/g) ?? []).length, fromPyc: (out.match(/\.pyc matches /g) ?? []).length } };
  } catch (e) {
    ctx.note(`python bytecode check failed: ${(e as Error).message}`);
    return {};
  }
}

function phaseMedians(t: RegRunTiming[]): Record<string, number> {
  const m = (f: (x: RegRunTiming) => number) => median(t.map(f));
  return {
    total: m((x) => x.totalMs),
    generate: m((x) => x.generateMs),
    beforeSpawn: m((x) => x.beforeSpawnMs),
    toStarted: m((x) => x.toStartedMs),
    spawnToEnd: m((x) => x.spawnToEndMs),
    remove: m((x) => x.removeMs),
    launcherLifetime: m((x) => x.launcherLifetimeMs),
    nodeSide: m((x) => x.totalMs - x.spawnToEndMs),
  };
}

/**
 * Runs the launcher directly, with the argv the engine used for a real start of this runtime
 * (its container kept, stopped, so the dirs exist), minus the cgroup joins. Variants: the
 * command as is; a command that does not exist (setup and teardown only); and the closure as one
 * flat lower layer instead of one layer per RET.
 */
async function launcherProfile(ctx: BenchContext, ref: string, rt: Runtime, runs: number): Promise<Record<string, number>> {
  const { argv, id } = await ctx.reg.captureLaunch(ref, rt.inContainer);
  // Cgroups of our own in the controllers the engine used (its container's are gone by now), so
  // the launcher can also be timed joining them.
  const probeCgroups: string[] = [];
  try {
    const base: string[] = [];
    const lowers: string[] = [];
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--cgroup-procs') {
        const controller = /^\/sys\/fs\/cgroup\/([^/]+)\//.exec(argv[++i]!)?.[1];
        if (controller) {
          const dir = join('/sys/fs/cgroup', controller, `reg-bench-probe-${process.pid}`);
          await mkdir(dir, { recursive: true });
          probeCgroups.push(dir);
        }
      }
      else if (a === '--status-file') base.push(a, join(ctx.tmp, `profile-events-${rt.name}.jsonl`)), i++;
      else if (a === '--lower') lowers.push(argv[++i]!);
      else base.push(a);
    }
    const dashdash = base.indexOf('--');
    /** The launcher argv with the given lower layers and command; `minimal` drops every mount but the overlay, and the new network namespace. */
    const withLowers = (ls: string[], cmd: string[], opts: { shareNet?: boolean; minimal?: boolean; cgroups?: boolean } = {}) => {
      const before: string[] = [];
      const opts0 = base.slice(0, dashdash);
      for (let i = 0; i < opts0.length; i++) {
        const a = opts0[i]!;
        if (opts.minimal && (a === '--proc' || a === '--dev')) continue;
        if (opts.minimal && (a === '--tmpfs' || a === '--bind' || a === '--ro-bind')) {
          i++;
          continue;
        }
        before.push(a);
      }
      if (opts.shareNet) before.splice(1, 0, '--share-net');
      if (opts.cgroups) before.splice(1, 0, ...probeCgroups.flatMap((d) => ['--cgroup-procs', join(d, 'cgroup.procs')]));
      const at = before.indexOf('--upper');
      return [...before.slice(0, at), ...ls.flatMap((l) => ['--lower', l]), ...before.slice(at), '--', ...cmd];
    };
    const flat = join(ctx.tmp, `flat-${rt.name}`);
    await exportTree(ctx.reg.home, ref, flat);
    const launcher = argv[0]!;
    const missing = ['/nonexistent-bench-command'];
    const variants: Array<[string, () => Promise<Timed>]> = [
      ['bare command', () => timeRun(rt.bare[0], rt.bare[1])],
      ['launcher + command', () => timeRun(launcher, withLowers(lowers, rt.inContainer))],
      ['launcher + command, joining its cgroups (as the engine does)', () => timeRun(launcher, withLowers(lowers, rt.inContainer, { cgroups: true }))],
      ['launcher, exec fails (setup + teardown only)', () => timeRun(launcher, withLowers(lowers, missing))],
      ['launcher, exec fails, host network (no new netns)', () => timeRun(launcher, withLowers(lowers, missing, { shareNet: true }))],
      ['launcher, exec fails, only namespaces + overlay + pivot_root', () => timeRun(launcher, withLowers(lowers, missing, { shareNet: true, minimal: true }))],
      ['launcher + command, one flat lower layer', () => timeRun(launcher, withLowers([flat], rt.inContainer))],
    ];
    if (rt.name === 'python') {
      // Reg's python finds its .pyc files stale (the store does not keep the sources' mtimes) and
      // compiles what it imports; this is the same cost for a bare python.
      variants.push(['bare command, bytecode ignored', () => timeRun(rt.bare[0], ['-X', 'pycache_prefix=/proc/nonexistent', ...rt.bare[1]])]);
    }
    const samples = new Map<string, number[]>(variants.map(([k]) => [k, []]));
    for (let i = -2; i < runs; i++) {
      for (const [k, run] of variants) {
        const t = await run();
        const expected = k.includes('exec fails') ? 127 : 0;
        if (t.code !== expected) throw new Error(`launcher profile "${k}" exited ${t.code ?? t.signal}`);
        if (i >= 0) samples.get(k)!.push(t.ms);
      }
    }
    return Object.fromEntries([...samples].map(([k, v]) => [k, median(v)]));
  } finally {
    await ctx.reg.remove(id);
    for (const d of probeCgroups) await rmdir(d).catch(() => {});
  }
}
