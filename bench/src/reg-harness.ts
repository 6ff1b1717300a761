// Reg as the bench drives it: one engine in this process over a REG_HOME in the bench's temp dir
// (never /var/lib/reg). Runs are timed phase by phase by wrapping the launcher spawner, which is
// how the report splits a start into Node-side work and the launcher's own time.

import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import { MemoryGroup } from './memory-cgroup.js';
import { Engine, buildFromHost, childProcessSpawner, regHome, type ContainerState, type RegHome, type SpawnLauncher } from './reg-core.js';
import { privatiseLayers, removeCopies } from './sharing-off.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface RegRunTiming {
  /** generate → removed, minus the sharing-off copy. */
  totalMs: number;
  generateMs: number;
  /** start() up to spawning the launcher: refresh, cgroup creation, events file. */
  beforeSpawnMs: number;
  /** spawn → start() returned (the command was exec'd and Node noticed). */
  toStartedMs: number;
  /** spawn → wait() returned: the launcher and the program as the caller sees them. */
  spawnToEndMs: number;
  removeMs: number;
  /** spawn → the launcher process exited (its namespace teardown may outlast wait()). */
  launcherLifetimeMs: number;
  copyMs?: number;
  argv: string[];
}

export interface DetachedStart {
  id: string;
  /** generate + start (until the command was exec'd). */
  ms: number;
  state: ContainerState;
  copyMs?: number;
}

export interface DetachedOptions {
  ret: string;
  command: string[];
  projectDir?: string;
  memoryBytes?: number;
  pids?: number;
  /** Where the container's stdout and stderr go (default: nowhere). */
  logFile?: string;
  /** Sharing off: copy the layers under this directory first. */
  privateDir?: string;
}

export class RegHarness {
  private readonly privateDirs = new Map<string, string>();

  private constructor(
    readonly home: RegHome,
    readonly engine: Engine,
    /** Where sharing-off copies are made (their page cache is charged here). */
    readonly copyGroup: MemoryGroup | undefined,
  ) {}

  static async open(root: string, cleanup: Cleanup): Promise<RegHarness> {
    await mkdir(root, { recursive: true });
    const home = regHome(root);
    const copyGroup = await MemoryGroup.create('copies', cleanup);
    const h = new RegHarness(home, await Engine.open({ home }), copyGroup);
    // The engine makes one cgroup parent per REG_HOME (reg-<hash>/) and never removes it: once our
    // containers are gone it is empty and ours alone, so it goes too.
    cleanup.add(`Reg cgroup parent of ${root}`, () => h.removeCgroupParent());
    cleanup.add(`Reg containers in ${root}`, () => h.removeAll());
    return h;
  }

  /** The cgroup parent the engine puts containers under (reg/ or reg-<hash>/). */
  get cgroupParent(): string | undefined {
    return (this.engine.ctx.cgroups as { parent?: string }).parent;
  }

  /** `reg ret build --from-host BINARY`, in process, timed. */
  async build(binary: string): Promise<{ ms: number; runtime: string; rets: number; newBytes: number }> {
    const t0 = performance.now();
    const r = await buildFromHost(this.home, binary);
    return { ms: performance.now() - t0, runtime: `${r.runtime.name}@${r.runtime.version}`, rets: r.rets.length, newBytes: r.newBytes };
  }

  /** generate → start → wait → remove of a short command, phase by phase. */
  async runToCompletion(ret: string, command: string[], opts: { privateDir?: string } = {}): Promise<RegRunTiming> {
    const t0 = performance.now();
    const s = await this.engine.generate({ ret, command });
    const tGenerated = performance.now();
    let copyMs: number | undefined;
    const dir = opts.privateDir && join(opts.privateDir, s.id);
    if (dir) copyMs = (await privatiseLayers(this.home, s.id, dir, this.copyGroup?.procsFile)).copyMs;
    const tReady = performance.now();
    let tSpawn = 0;
    let tExit = 0;
    let argv: string[] = [];
    let exited: Promise<unknown> = Promise.resolve();
    const inner = childProcessSpawner({ stdio: 'ignore', detached: true });
    const spawn: SpawnLauncher = (file, args) => {
      argv = [file, ...args];
      tSpawn = performance.now();
      const l = inner(file, args);
      exited = l.exited.then(() => (tExit = performance.now()));
      return l;
    };
    let state: ContainerState;
    let tStarted: number;
    try {
      const started = await this.engine.start(s.id, spawn);
      tStarted = performance.now();
      state = started.state.status === 'stopped' ? started.state : await this.engine.wait(started);
    } catch (e) {
      await this.engine.remove(s.id, { force: true }).catch(() => {});
      if (dir) await removeCopies(dir);
      throw e;
    }
    const tWaited = performance.now();
    await this.engine.remove(s.id, { force: true });
    const tRemoved = performance.now();
    await exited; // for the lifetime figure only: not part of the run
    if (dir) await removeCopies(dir);
    const o = state.outcome;
    if (!o || o.outcome !== 'exited' || o.code !== 0) throw new Error(`${ret} ${command.join(' ')} ended ${JSON.stringify(o)}`);
    return {
      totalMs: tRemoved - t0 - (tReady - tGenerated),
      generateMs: tGenerated - t0,
      beforeSpawnMs: tSpawn - tReady,
      toStartedMs: tStarted - tSpawn,
      spawnToEndMs: tWaited - tSpawn,
      removeMs: tRemoved - tWaited,
      launcherLifetimeMs: tExit - tSpawn,
      ...(copyMs !== undefined && { copyMs }),
      argv,
    };
  }

  /** Runs a command to completion with its output in a file; returns the output. */
  async runCapture(ret: string, command: string[], logFile: string): Promise<string> {
    const s = await this.engine.generate({ ret, command });
    const fd = openSync(logFile, 'w');
    try {
      const started = await this.engine.start(s.id, childProcessSpawner({ stdio: ['ignore', fd, fd], detached: true }));
      if (started.state.status !== 'stopped') await this.engine.wait(started);
      await started.launcher.exited;
    } finally {
      closeSync(fd);
      await this.engine.remove(s.id, { force: true });
    }
    return readFile(logFile, 'utf8');
  }

  /**
   * Runs a command once and keeps the (stopped) container, returning the launcher argv the engine
   * used: with the container's dirs still there, the launcher can be re-run directly to profile it.
   */
  async captureLaunch(ret: string, command: string[]): Promise<{ id: string; argv: string[] }> {
    const s = await this.engine.generate({ ret, command });
    let argv: string[] = [];
    const inner = childProcessSpawner({ stdio: 'ignore', detached: true });
    const started = await this.engine.start(s.id, (file, args) => {
      argv = [file, ...args];
      return inner(file, args);
    });
    if (started.state.status !== 'stopped') await this.engine.wait(started);
    return { id: s.id, argv };
  }

  /** generate + start of a long-lived container; returns once its command has been exec'd. */
  async startDetached(o: DetachedOptions): Promise<DetachedStart> {
    const t0 = performance.now();
    const s = await this.engine.generate({
      ret: o.ret,
      command: o.command,
      ...(o.projectDir && { projectDir: o.projectDir }),
      ...((o.memoryBytes || o.pids) && { limits: { ...(o.memoryBytes && { memoryBytes: o.memoryBytes }), ...(o.pids && { pids: o.pids }) } }),
    });
    let copyMs: number | undefined;
    if (o.privateDir) {
      const dir = join(o.privateDir, s.id);
      this.privateDirs.set(s.id, dir);
      copyMs = (await privatiseLayers(this.home, s.id, dir, this.copyGroup?.procsFile)).copyMs;
    }
    const fd = o.logFile ? openSync(o.logFile, 'a') : undefined;
    try {
      const started = await this.engine.start(s.id, childProcessSpawner({ stdio: fd === undefined ? 'ignore' : ['ignore', fd, fd], detached: true }));
      if (started.state.status !== 'running') throw new Error(`${o.ret} ${o.command.join(' ')} did not start: ${JSON.stringify(started.state.outcome)}`);
      // The copy stands for an image pulled beforehand: it is not part of the start.
      const ms = performance.now() - t0 - (copyMs ?? 0);
      return { id: s.id, ms, state: started.state, ...(copyMs !== undefined && { copyMs }) };
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Stops and removes one container (and its private copies). */
  async remove(id: string): Promise<void> {
    await this.engine.remove(id, { force: true });
    const dir = this.privateDirs.get(id);
    if (dir) {
      await removeCopies(dir);
      this.privateDirs.delete(id);
    }
  }

  private async removeCgroupParent(): Promise<void> {
    const parent = this.cgroupParent;
    if (!parent || parent === 'reg') return; // /var/lib/reg's parent is not ours to remove
    for (const c of await readdir(CGROUP_ROOT).catch(() => [] as string[])) await rmdir(join(CGROUP_ROOT, c, parent)).catch(() => {});
  }

  /** Every container of this home, whatever its state. */
  async ids(): Promise<string[]> {
    return (await this.engine.list({ all: true })).map((s) => s.id);
  }

  async removeAll(): Promise<void> {
    for (const id of await this.ids()) await this.remove(id).catch((e: Error) => console.error(`bench: removing ${id}: ${e.message}`));
  }
}
