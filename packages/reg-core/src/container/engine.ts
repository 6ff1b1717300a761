// The engine: one object over the lifecycle verbs, for the CLI (embedded mode) and the sandbox
// host. Every verb reads the same: refresh → guard → act → save (in the verb's own module).

import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { detectCgroupDriver } from '../cgroup/detect.js';
import { markParent } from '../cgroup/parents.js';
import { releaseSpares } from '../quota/volume.js';
import type { CgroupDriver } from '../cgroup/driver.js';
import { RegError } from '../errors.js';
import { regHome, type RegHome } from '../home.js';
import { EventTail } from '../launch/events.js';
import { childProcessSpawner, type SpawnLauncher, type SpawnedLauncher } from '../launch/launcher.js';
import { LauncherPool, poolKeyOf, type LauncherPoolOptions, type PoolMember } from '../launch/park.js';
import type { EngineContext } from './context.js';
import { processStartTime, waitForExit } from './proc.js';
import { exec } from './exec.js';
import { generate, type GenerateOptions } from './generate.js';
import { insert, uninstall } from './insert.js';
import { finalise, reconcile, refresh, refreshListed } from './refresh.js';
import { remove, removeMany } from './remove.js';
import { PARKED_LAUNCHER_LOST, start, type Started } from './start.js';
import { containerPaths, listStates, loadState, saveState, type ContainerState } from './state.js';
import { stats, type HostStats } from './stats.js';
import type { Outcome } from './status.js';
import { stop, stopMany, type BatchResult } from './stop.js';
import { readLog } from './log-reader.js';
import { spawnLogWriter as spawnNativeLogWriter } from './log-writer.js';

/** The log helper (native reg-log, see log-writer.ts) as a detached process reading its stdin. */
function spawnLogWriter(path: string): ChildProcess {
  return spawnNativeLogWriter(path);
}

export interface EngineOptions {
  home?: string | RegHome;
  cgroups?: CgroupDriver;
  /**
   * Parked launchers (launch/park.ts): options, or false for none. Default: a pool with no floor
   * (members exist only once someone fills it: `reg pool fill`, a class start's reserve, setMin),
   * sharing REG_HOME/run/pool/shared with every process; REG_LAUNCHER_POOL=0 turns it off.
   */
  pool?: LauncherPoolOptions | false;
  ensureRet?: (ref: string) => Promise<void>;
}

export interface RunOptions extends GenerateOptions {
  /** How to spawn the launcher (default: a child process with our stdio). */
  spawn?: SpawnLauncher;
  /** Kill the run after this long; its outcome is then `timeout`. */
  timeoutMs?: number;
  /** Remove the container when the run ends (its writable layer is then ephemeral unless `writable` says otherwise). */
  rm?: boolean;
  /** Aborting stops the run (SIGTERM, a short grace, then every process killed); `rm` still applies. */
  signal?: AbortSignal;
}

/**
 * The cgroup parent of a Reg home: `reg` for the default /var/lib/reg, `reg-<hash>` for any other
 * REG_HOME, so that two Reg instances on one host (a test run beside the product) never see —
 * or reconcile away — each other's containers.
 */
export function cgroupParentFor(home: RegHome): string {
  if (home.root === '/var/lib/reg') return 'reg';
  return `reg-${createHash('sha256').update(home.root).digest('hex').slice(0, 12)}`;
}

/** The default on-demand fetch: pull a RET missing here from the configured registry. */
async function pullIfMissing(home: RegHome, ref: string): Promise<void> {
  // Loaded here, not at the top: only a RET missing here needs the registry client (and its zod
  // schemas, http, zlib); every `reg run` and `reg ps` of a local RET would pay for loading it.
  const { ensureRet } = await import('../registry/ensure.js');
  await ensureRet(home, ref);
}

export class Engine {
  /** Parked launchers; undefined when turned off. */
  readonly pool: LauncherPool | undefined;

  private constructor(readonly ctx: EngineContext, pool: LauncherPoolOptions | false) {
    this.pool = pool === false ? undefined : new LauncherPool(ctx.home, ctx.cgroups, pool);
  }

  static async open(opts: EngineOptions = {}): Promise<Engine> {
    const home = typeof opts.home === 'object' ? opts.home : regHome(opts.home);
    const cgroups = opts.cgroups ?? (await detectCgroupDriver({ parent: cgroupParentFor(home), pool: 'env' }));
    // Real cgroups: the parent is marked with its home (for `reg cgroup prune`) and removed with its last container.
    if (!opts.cgroups) await markParent(cgroupParentFor(home), home.root);
    const pool = opts.pool ?? (['0', 'false'].includes(process.env.REG_LAUNCHER_POOL ?? '') ? false : {});
    return new Engine({ home, cgroups, ensureRet: opts.ensureRet ?? ((ref) => pullIfMissing(home, ref)), ...(!opts.cgroups && { cgroupParent: cgroupParentFor(home) }) }, pool);
  }

  get home(): RegHome {
    return this.ctx.home;
  }

  generate(opts: GenerateOptions): Promise<ContainerState> {
    return generate(this.ctx, opts);
  }

  /**
   * Starts a container; by default detached, its stdout and stderr a pipe to a log helper that
   * keeps containers/<id>/output.log bounded and rotated (log-writer.ts).
   * With a spawner the run is attached (it dies with the spawner's process) unless `detached`.
   */
  async start(id: string, spawn?: SpawnLauncher, opts: { detached?: boolean } = {}): Promise<Started> {
    const s = await loadState(this.ctx.home, id);
    if (spawn) return this.startParked(s, spawn, opts);
    const writer = spawnLogWriter(containerPaths(this.ctx.home, s.id).log);
    try {
      const started = await this.startParked(s, childProcessSpawner({ detached: true, stdio: ['ignore', writer.stdin!, writer.stdin!] }), { detached: true });
      if (writer.pid && started.state.status === 'running') {
        // Recorded so that rm can make sure it is gone (it outlives the container by a moment).
        started.state.logPid = writer.pid;
        const t = await processStartTime(writer.pid);
        if (t) started.state.logStartTime = t;
        await saveState(this.ctx.home, started.state);
      }
      return started;
    } finally {
      writer.stdin!.destroy(); // the launcher holds its own copies; the helper ends when they close
      writer.unref();
    }
  }

  /**
   * start() with a parked launcher when one fits; if the member went bad between its take and the
   * plan (it never reported: nothing ran), the start is made again the usual way.
   */
  private async startParked(s: ContainerState, spawn: SpawnLauncher, opts: { detached?: boolean }): Promise<Started> {
    const parked = await this.parked(s);
    if (!parked.member) return start(this.ctx, s.id, spawn, opts);
    try {
      return await start(this.ctx, s.id, spawn, { ...opts, ...parked });
    } catch (e) {
      if (!(e instanceof RegError && e.field === PARKED_LAUNCHER_LOST)) throw e;
      return start(this.ctx, s.id, spawn, opts);
    }
  }

  /**
   * A parked launcher for a start through a spawner (handed its plan by `reg-launch attach`, which
   * passes the spawner's stdio). Not for a terminal (its shell needs the pty as its controlling
   * terminal: startWithMember with a member parked under the pty does that), nor from a pool whose
   * members sit under someone's pty.
   */
  private async parked(s: ContainerState): Promise<{ member?: PoolMember }> {
    if (!this.pool || this.pool.hasCustomSpawner || s.tty || !(s.status === 'generated' || s.status === 'stopped')) return {};
    const member = await this.pool.take(poolKeyOf(s)).catch(() => undefined);
    return member ? { member } : {};
  }

  /**
   * Starts a container in a member the caller took from `engine.pool` (the host's terminals: a
   * member parked under a pty, so the shell gets that pty as its controlling terminal). The plan
   * is sent from Node; the start is attached: the connection stands for the parent, and the
   * container is killed if this process goes away. The member is discarded if the start fails.
   */
  startWithMember(id: string, member: PoolMember, opts: { command?: string[] } = {}): Promise<Started> {
    return start(this.ctx, id, () => {
      throw new RegError('LAUNCH_FAILED', 'startWithMember spawns nothing');
    }, { ...opts, member, direct: true });
  }

  /** What a detached container wrote to stdout and stderr (bounded: the rotated files). */
  async logs(id: string): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of this.readLogs(id)) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Streams the log: all of it, or the last `tail` lines; `follow` keeps reading while the container runs. */
  async *readLogs(id: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    const s = await loadState(this.ctx.home, id);
    yield* readLog(containerPaths(this.ctx.home, s.id).log, {
      ...opts,
      stillRunning: async () => {
        const r = await refresh(this.ctx, s.id).catch(() => undefined);
        return r?.status === 'running' || r?.status === 'inserting';
      },
    });
  }

  stop(id: string, opts?: { graceMs?: number }): Promise<ContainerState> {
    return stop(this.ctx, id, opts);
  }

  remove(id: string, opts?: { force?: boolean }): Promise<ContainerState> {
    return remove(this.ctx, id, opts);
  }

  /** Stops many containers at once: one grace period, every cgroup killed in one batch. */
  stopMany(ids: string[], opts?: { graceMs?: number }): Promise<BatchResult> {
    return stopMany(this.ctx, ids, opts);
  }

  /** Removes many containers at once (`force`: the running ones are stopped in one batch first). */
  removeMany(ids: string[], opts?: { force?: boolean }): Promise<BatchResult> {
    return removeMany(this.ctx, ids, opts);
  }

  insert(id: string, ref: string): Promise<ContainerState> {
    return insert(this.ctx, id, ref);
  }

  uninstall(id: string, ref: string): Promise<ContainerState> {
    return uninstall(this.ctx, id, ref);
  }

  exec(id: string, command: string[], spawn: SpawnLauncher = childProcessSpawner({ stdio: 'inherit' })): Promise<SpawnedLauncher> {
    return exec(this.ctx, id, command, spawn);
  }

  inspect(id: string): Promise<ContainerState> {
    return refresh(this.ctx, id);
  }

  async list(opts: { all?: boolean } = {}): Promise<ContainerState[]> {
    const out: ContainerState[] = [];
    for (const s of await listStates(this.ctx.home)) {
      const r = await refreshListed(this.ctx, s).catch(() => s);
      if (opts.all || r.status === 'running' || r.status === 'inserting') out.push(r);
    }
    return out;
  }

  stats(): Promise<HostStats> {
    return stats(this.ctx);
  }

  /** After a crash or restart: containers and their cgroups (refresh.ts), then parked launchers of a process that is gone. */
  async reconcile(): Promise<Awaited<ReturnType<typeof reconcile>> & { parked?: { killed: number; strayCgroups: string[] } }> {
    const r = await reconcile(this.ctx);
    if (!this.pool) return r;
    return { ...r, parked: await this.pool.reconcile() };
  }

  /** Unmounts and deletes the pre-mounted spare quota volumes (host shutdown; before deleting a REG_HOME). */
  releaseSpareVolumes(): Promise<void> {
    return releaseSpares(join(this.ctx.home.root, 'quota', 'spares'));
  }

  /**
   * Removes this home's cgroup parent (reg-<hash>) from every hierarchy if no container is left
   * in it: for temporary homes (tests, benchmarks) that should leave no trace on the host.
   */
  async disposeCgroupParent(root = '/sys/fs/cgroup'): Promise<void> {
    await this.pool?.drain(); // parked launchers sit in this home's cgroups
    await this.ctx.cgroups.drainPool?.(); // idle pooled cgroups are this home's too
    const parent = cgroupParentFor(this.ctx.home);
    const dirs = [join(root, parent), ...(await readdir(root).catch(() => [] as string[])).map((h) => join(root, h, parent))];
    for (const d of dirs) await rmdir(d).catch(() => {}); // EBUSY/ENOTEMPTY: still in use, keep it
  }

  /**
   * Waits until a started container's command has ended and returns the finalised state. The
   * command's end is the launcher's exit event (the launcher itself may still be tearing down
   * namespaces); its process exit and pid 1's disappearance are backstops (a detached,
   * unref'd launcher, a crash).
   */
  async wait(started: Started, timeoutMs?: number): Promise<ContainerState> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        void this.stop(started.state.id, { graceMs: 0 }).catch(() => {});
      }, timeoutMs);
    }
    const tail = new EventTail(containerPaths(this.ctx.home, started.state.id).events);
    const init = started.state.initPid;
    try {
      await Promise.race([
        tail.next((e) => e.event === 'exit' || e.event === 'signaled', new Promise(() => {})),
        started.launcher.exited,
        ...(init ? [waitForExit(init, started.state.initStartTime, Number.MAX_SAFE_INTEGER, 50)] : []),
      ]);
    } finally {
      tail.close();
      if (timer) clearTimeout(timer);
    }
    let s = await loadState(this.ctx.home, started.state.id);
    if (s.status === 'running' || s.status === 'inserting') s = await finalise(this.ctx, s, { cgroupGoneAfter: started.launcher.exited });
    if (timedOut) {
      s = { ...s, outcome: { outcome: 'timeout', ...(s.outcome?.signal !== undefined && { signal: s.outcome.signal }) } };
      await saveState(this.ctx.home, s);
    }
    return s;
  }

  /** generate → start → wait (→ remove): the paper's `reg run`. */
  async run(opts: RunOptions): Promise<{ state: ContainerState; outcome: Outcome }> {
    // A container removed when its run ends needs no writable layer on the host: a tmpfs will do.
    const s = await this.generate({ ...opts, ...(opts.rm && opts.disk && !opts.writable && { writable: 'ephemeral' as const }) });
    // The owner going away (the CLI killed by SIGTERM/SIGHUP) ends the run and still removes it.
    let stopping: Promise<unknown> | undefined;
    // Stops run one after the other (an abort during start stops again once it is running).
    const onAbort = () => void (stopping = Promise.resolve(stopping).then(() => this.stop(s.id, { graceMs: 1000 })).catch(() => {}));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (opts.signal?.aborted) throw new RegError('LAUNCH_FAILED', 'the run was cancelled before it started');
      const started = await this.start(s.id, opts.spawn ?? childProcessSpawner({ stdio: 'inherit' }));
      if (opts.signal?.aborted) onAbort();
      const done = started.state.status === 'stopped' ? started.state : await this.wait(started, opts.timeoutMs);
      return { state: done, outcome: done.outcome ?? { outcome: 'exited', code: 0 } };
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      // The abort's stop finishes (and saves its state) first: a remove racing it would be undone.
      await stopping;
      if (opts.rm) await this.remove(s.id, { force: true }).catch(() => {});
    }
  }
}
