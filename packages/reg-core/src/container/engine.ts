// The engine: one object over the lifecycle verbs, for the CLI (embedded mode) and the sandbox
// host. Every verb reads the same: refresh → guard → act → save (in the verb's own module).

import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureRet } from '../registry/ensure.js';
import { detectCgroupDriver } from '../cgroup/detect.js';
import type { CgroupDriver } from '../cgroup/driver.js';
import { regHome, type RegHome } from '../home.js';
import { EventTail } from '../launch/events.js';
import { childProcessSpawner, type SpawnLauncher, type SpawnedLauncher } from '../launch/launcher.js';
import type { EngineContext } from './context.js';
import { waitForExit } from './proc.js';
import { exec } from './exec.js';
import { generate, type GenerateOptions } from './generate.js';
import { insert, uninstall } from './insert.js';
import { finalise, reconcile, refresh } from './refresh.js';
import { remove } from './remove.js';
import { start, type Started } from './start.js';
import { containerPaths, listStates, loadState, saveState, type ContainerState } from './state.js';
import { stats, type HostStats } from './stats.js';
import type { Outcome } from './status.js';
import { stop } from './stop.js';

export interface EngineOptions {
  home?: string | RegHome;
  cgroups?: CgroupDriver;
  ensureRet?: (ref: string) => Promise<void>;
}

export interface RunOptions extends GenerateOptions {
  /** How to spawn the launcher (default: a child process with our stdio). */
  spawn?: SpawnLauncher;
  /** Kill the run after this long; its outcome is then `timeout`. */
  timeoutMs?: number;
  /** Remove the container when the run ends. */
  rm?: boolean;
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
  await ensureRet(home, ref);
}

export class Engine {
  private constructor(readonly ctx: EngineContext) {}

  static async open(opts: EngineOptions = {}): Promise<Engine> {
    const home = typeof opts.home === 'object' ? opts.home : regHome(opts.home);
    const cgroups = opts.cgroups ?? (await detectCgroupDriver({ parent: cgroupParentFor(home) }));
    return new Engine({ home, cgroups, ensureRet: opts.ensureRet ?? ((ref) => pullIfMissing(home, ref)) });
  }

  get home(): RegHome {
    return this.ctx.home;
  }

  generate(opts: GenerateOptions): Promise<ContainerState> {
    return generate(this.ctx, opts);
  }

  /**
   * Starts a container; by default detached, its output appended to containers/<id>/output.log.
   * With a spawner the run is attached (it dies with the spawner's process) unless `detached`.
   */
  async start(id: string, spawn?: SpawnLauncher, opts: { detached?: boolean } = {}): Promise<Started> {
    if (spawn) return start(this.ctx, id, spawn, opts);
    const s = await loadState(this.ctx.home, id);
    const fd = openSync(containerPaths(this.ctx.home, s.id).log, 'a', 0o600);
    try {
      return await start(this.ctx, s.id, childProcessSpawner({ detached: true, stdio: ['ignore', fd, fd] }), { detached: true });
    } finally {
      closeSync(fd); // the launcher holds its own copies
    }
  }

  /** What a detached container wrote to stdout and stderr. */
  async logs(id: string): Promise<string> {
    const s = await loadState(this.ctx.home, id);
    return readFile(containerPaths(this.ctx.home, s.id).log, 'utf8').catch(() => '');
  }

  stop(id: string, opts?: { graceMs?: number }): Promise<ContainerState> {
    return stop(this.ctx, id, opts);
  }

  remove(id: string, opts?: { force?: boolean }): Promise<ContainerState> {
    return remove(this.ctx, id, opts);
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
      const r = await refresh(this.ctx, s.id).catch(() => s);
      if (opts.all || r.status === 'running' || r.status === 'inserting') out.push(r);
    }
    return out;
  }

  stats(): Promise<HostStats> {
    return stats(this.ctx);
  }

  reconcile(): ReturnType<typeof reconcile> {
    return reconcile(this.ctx);
  }

  /**
   * Removes this home's cgroup parent (reg-<hash>) from every hierarchy if no container is left
   * in it: for temporary homes (tests, benchmarks) that should leave no trace on the host.
   */
  async disposeCgroupParent(root = '/sys/fs/cgroup'): Promise<void> {
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
    const s = await this.generate(opts);
    try {
      const started = await this.start(s.id, opts.spawn ?? childProcessSpawner({ stdio: 'inherit' }));
      const done = started.state.status === 'stopped' ? started.state : await this.wait(started, opts.timeoutMs);
      return { state: done, outcome: done.outcome ?? { outcome: 'exited', code: 0 } };
    } finally {
      if (opts.rm) await this.remove(s.id, { force: true }).catch(() => {});
    }
  }
}
