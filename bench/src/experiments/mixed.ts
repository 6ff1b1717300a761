// Experiment 4 — memory of mixed ("non-homologous") services, the paper's figures 11 and 12:
// python, node, MariaDB, nginx and Tomcat started one after another, memory recorded after each
// start (once the service listens and has settled), for each engine in turn: bare processes, Reg,
// Reg with sharing off, Docker. Each engine starts from a dropped page cache and a baseline;
// everything is stopped before the next engine starts.
//
// Figures: host = MemTotal − MemFree after dropping caches, minus the baseline (what the host
// really spends, kernel objects and daemons included); PSS = Σ smaps_rollup of the service
// processes (Reg: engine.stats(); Docker: the containers' cgroups — its daemons are shown apart).

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../context.js';
import { cgroupPids, descendants, isListening, pssOf, settledUsedBytes, type PssFigures } from '../host.js';
import { MemoryGroup, memoryCgroupOf, usageOf } from '../memory-cgroup.js';
import { BENCH_UID } from '../peers/oci.js';
import { CLEAN_ENV, sleep, waitUntil } from '../processes.js';
import { SERVICE_ORDER, Services, type ServiceName, type ServiceSpec } from '../services.js';

export interface MixedStep {
  service: ServiceName;
  /** Start → listening, ms. */
  readyMs: number;
  hostDeltaBytes: number;
  /** Σ memory.usage_in_bytes of the engine's cgroups (see storm.ts), after dropping caches. */
  chargedBytes: number;
  pss: PssFigures;
  /** Docker: dockerd + containerd + shims. */
  enginePss?: PssFigures;
}

export interface MixedSeries {
  engine: string;
  steps: MixedStep[];
  failed?: string;
}

export interface MixedResult {
  order: ServiceName[];
  settleMs: number;
  series: MixedSeries[];
}

/** A started service instance, however the engine runs it. */
interface Instance {
  /** A pid inside the service's network namespace (for readiness). */
  netPid: () => Promise<number>;
}

interface EngineDriver {
  name: string;
  start: (spec: ServiceSpec, work: string, log: string) => Promise<Instance>;
  /** Called once the page cache was dropped for the baseline. */
  baseline: () => Promise<void>;
  memory: () => Promise<{ pss: PssFigures; chargedBytes: number; enginePss?: PssFigures }>;
  stopAll: () => Promise<void>;
}

export async function mixedExperiment(ctx: BenchContext): Promise<MixedResult> {
  const services = new Services(ctx);
  const refs = await services.regRefs();
  const settleMs = ctx.opts.quick ? 500 : 3000;
  const drivers: EngineDriver[] = [await bareDriver(ctx, services), regDriver(ctx, refs, false), regDriver(ctx, refs, true)];
  const docker = await dockerDriver(ctx, services);
  if (docker) drivers.push(docker);
  const series: MixedSeries[] = [];
  for (const driver of drivers) {
    ctx.log(`mixed: ${driver.name}`);
    const s: MixedSeries = { engine: driver.name, steps: [] };
    series.push(s);
    const undo = ctx.cleanup.add(`mixed ${driver.name} services`, () => driver.stopAll());
    try {
      const baseline = await settledUsedBytes();
      await driver.baseline();
      for (const name of SERVICE_ORDER) {
        const spec = services.specs[name];
        const dir = join(ctx.tmp, 'mixed', driver.name.replace(/[^a-z]+/gi, '-'), name);
        const work = join(dir, 'work');
        await services.makeWork(spec, work);
        const t0 = performance.now();
        const inst = await driver.start(spec, work, join(dir, 'output.log'));
        const ready = await waitUntil(async () => isListening(await inst.netPid().catch(() => 0), spec.port), spec.readyTimeoutMs, 50);
        if (!ready) {
          const out = await readFile(join(dir, 'output.log'), 'utf8').catch(() => '');
          throw new Error(`${name} did not listen on ${spec.port} within ${spec.readyTimeoutMs / 1000} s: ${out.slice(-800)}`);
        }
        const readyMs = performance.now() - t0;
        await sleep(settleMs);
        const used = await settledUsedBytes();
        const { pss, chargedBytes, enginePss } = await driver.memory();
        s.steps.push({ service: name, readyMs, hostDeltaBytes: used - baseline, chargedBytes, pss, ...(enginePss && { enginePss }) });
        const m = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
        ctx.log(`  +${name}: ready in ${readyMs.toFixed(0)} ms; host ${m(used - baseline)}, charged ${m(chargedBytes)}, PSS ${m(pss.pss)} (${pss.processes} processes)`);
      }
    } catch (e) {
      s.failed = (e as Error).message;
      ctx.note(`mixed/${driver.name}: ${s.failed}`);
    } finally {
      await undo();
    }
  }
  return { order: SERVICE_ORDER, settleMs, series };
}

const HOST_PATHS = (work: string) => ({ work, tmp: join(work, '..', 'tmp'), conf: '' });

async function bareDriver(ctx: BenchContext, services: Services): Promise<EngineDriver> {
  const children: ChildProcess[] = [];
  const group = await MemoryGroup.create('bare-mixed', ctx.cleanup);
  return {
    name: 'bare processes',
    start: async (spec, work, log) => {
      const paths = { ...HOST_PATHS(work), conf: services.confDir };
      await mkdir(paths.tmp, { recursive: true });
      await chown(paths.tmp, BENCH_UID, BENCH_UID);
      const argv = spec.argv(paths);
      const fd = openSync(log, 'a');
      const env = { ...CLEAN_ENV, HOME: work };
      // sh joins the bench's group and setpriv drops to the bench uid, both exec'ing in place: the
      // service is in the group (with anything it forks) from its first instruction.
      const child = group
        ? spawn('/bin/sh', ['-c', `echo $$ > "$0" && exec setpriv --reuid=${BENCH_UID} --regid=${BENCH_UID} --clear-groups -- "$@"`, group.procsFile, ...argv], { cwd: work, stdio: ['ignore', fd, fd], detached: true, env })
        : spawn(argv[0]!, argv.slice(1), { cwd: work, stdio: ['ignore', fd, fd], detached: true, uid: BENCH_UID, gid: BENCH_UID, env });
      closeSync(fd);
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      children.push(child);
      return { netPid: async () => child.pid! };
    },
    baseline: async () => {},
    memory: async () => ({ pss: await pssOf(await descendants(children.map((c) => c.pid!))), chargedBytes: (await group?.usage()) ?? Number.NaN }),
    stopAll: async () => {
      const pids = await descendants(children.map((c) => c.pid!));
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await waitUntil(() => pids.every((p) => !alive(p)), 10_000);
      children.length = 0;
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function regDriver(ctx: BenchContext, refs: Record<ServiceName, string>, sharingOff: boolean): EngineDriver {
  const ids: string[] = [];
  let copiesBefore = 0;
  return {
    name: sharingOff ? 'Reg, sharing off' : 'Reg',
    start: async (spec, work, log) => {
      const r = await ctx.reg.startDetached({
        ret: refs[spec.name],
        command: spec.argv({ work: '/work', tmp: '/tmp', conf: '/etc/bench' }),
        projectDir: work,
        memoryBytes: 2 * 2 ** 30,
        pids: 1024,
        logFile: log,
        ...(sharingOff && { privateDir: join(ctx.tmp, 'private-mixed') }),
      });
      ids.push(r.id);
      return { netPid: async () => r.state.initPid! };
    },
    baseline: async () => {
      copiesBefore = sharingOff ? ((await ctx.reg.copyGroup?.usage()) ?? 0) : 0;
    },
    memory: async () => {
      const st = await ctx.reg.engine.stats();
      // Sharing off: the copies' page cache is charged to the group cp ran in; count it too.
      const copies = sharingOff ? ((await ctx.reg.copyGroup?.usage()) ?? 0) - copiesBefore : 0;
      if (st.containers.length !== ids.length) {
        const states = await Promise.all(ids.map((id) => ctx.reg.engine.inspect(id).catch((e: Error) => ({ id, status: e.message, outcome: undefined }))));
        ctx.note(`mixed: engine.stats() listed ${st.containers.length} running containers of ${ids.length}: ${states.map((x) => `${x.id} ${x.status} ${JSON.stringify(x.outcome)}`).join('; ')}`);
      }
      return {
        pss: { processes: st.containers.reduce((k, c) => k + c.pids, 0), rss: st.total.rss, pss: st.total.pss, uss: st.total.uss },
        chargedBytes: st.containers.reduce((k, c) => k + c.cgroupMemoryBytes, 0) + copies,
      };
    },
    stopAll: async () => {
      for (const id of ids.splice(0)) await ctx.reg.remove(id);
    },
  };
}

async function dockerDriver(ctx: BenchContext, services: Services): Promise<EngineDriver | undefined> {
  const d = await ctx.docker();
  if (!d) return undefined;
  const tags = new Map<ServiceName, string>();
  for (const name of SERVICE_ORDER) {
    const tag = await ctx.image(services.specs[name].image);
    if (!tag) return undefined;
    tags.set(name, tag);
  }
  const names: string[] = [];
  let daemonsBefore = 0;
  return {
    name: 'Docker',
    start: async (spec, work) => {
      const name = `bench-mixed-${spec.name}`;
      const argv = spec.argv({ work: '/work', tmp: '/tmp', conf: '/etc/bench' });
      await d.docker([
        'run', '-d', '--network', 'none', '--user', `${BENCH_UID}:${BENCH_UID}`, '--name', name,
        '-v', `${work}:/work`, '-v', `${services.confDir}:/etc/bench:ro`, '-w', '/work', '-e', 'HOME=/work',
        tags.get(spec.name)!, ...argv,
      ]);
      names.push(name);
      return { netPid: () => d.containerInitPid(name) };
    },
    baseline: async () => {
      daemonsBefore = (await ctx.dockerGroup?.usage()) ?? 0;
    },
    memory: async () => {
      const cgroups = (await Promise.all((await d.containerInitPids(names)).map((p) => memoryCgroupOf(p)))).filter((c): c is string => !!c);
      const pids = (await Promise.all(cgroups.map((c) => cgroupPids(join(c, 'cgroup.procs'))))).flat();
      const containers = (await Promise.all(cgroups.map((c) => usageOf(c)))).reduce((a, b) => a + b, 0);
      const daemons = ctx.dockerGroup ? (await ctx.dockerGroup.usage()) - daemonsBefore : 0;
      return { pss: await pssOf(pids), chargedBytes: containers + daemons, enginePss: await pssOf(await d.enginePids()) };
    },
    stopAll: async () => {
      if (names.length) await d.docker(['rm', '-f', ...names.splice(0)]);
    },
  };
}
