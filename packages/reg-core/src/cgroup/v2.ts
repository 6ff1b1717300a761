// cgroup v2 driver: one unified tree, Reg's cgroups at <root>/<parent>/<name>. Controllers have to
// be switched on top-down (cgroup.subtree_control of root, then of <parent>) before a leaf gets
// their files; <parent> itself never holds processes, which the "no internal processes" rule needs.

import { mkdir, readdir, readlink, rename as renameFile, symlink, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RegError } from '../errors.js';
import {
  type CgroupFs,
  cgroupError,
  errnoOf,
  cgroupExists,
  cgroupNotFound,
  parseKeyedValue,
  parseNumber,
  parsePids,
  parseWords,
  realCgroupFs,
  rmdirRetrying,
  writeControl,
} from './cgroupfs.js';
import {
  type CgroupDriver,
  type CgroupDriverOptions,
  type CgroupLimits,
  type CgroupStats,
  CPU_PERIOD_US,
  assertCgroupName,
  cpuQuotaUs,
  isValidCgroupName,
  validateLimits,
} from './driver.js';
import { type KillOps, killManyUntilEmpty, killUntilEmpty } from './kill-loop.js';


const WANTED_CONTROLLERS = ['cpu', 'memory', 'pids'];
const DEFAULT_KILL_TIMEOUT_MS = 5000;
const RMDIR_TIMEOUT_MS = 2000;
/** As v1: only a real leftover charge is reclaimed before reuse. */
const RECLAIM_ABOVE_BYTES = 1 << 20;

export class CgroupV2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly root: string;
  readonly parent: string;
  private readonly fs: CgroupFs;
  /** Where renames are recorded (see rename()): <names>/<alias> -> real dir, <names>/.taken-<real> -> alias. */
  readonly names: string;

  constructor(opts: CgroupDriverOptions = {}) {
    this.root = opts.root ?? '/sys/fs/cgroup';
    this.parent = opts.parent ?? 'reg';
    this.fs = opts.fs ?? realCgroupFs;
    // /run is a tmpfs cleared at boot, like the cgroups the aliases name; a fake tree keeps its own.
    this.names = opts.names ?? (opts.fs ? join(this.root, '.reg-names', this.parent) : join('/run/reg/cgroup-names', this.parent));
  }

  private get parentDir(): string {
    return join(this.root, this.parent);
  }

  /**
   * The directory a name stands for: its alias's target if it was renamed, else <parent>/<name>.
   * A real directory taken under another name no longer answers to its own (a path that does not
   * exist is returned instead), unless that alias is gone (a crash between the two writes).
   */
  private async dir(name: string): Promise<string> {
    assertCgroupName(name);
    const target = await readlink(join(this.names, name)).catch(() => undefined);
    if (target !== undefined && (await this.fs.isDir(join(this.parentDir, target)))) return join(this.parentDir, target);
    const takenBy = await readlink(join(this.names, `.taken-${name}`)).catch(() => undefined);
    if (takenBy !== undefined && (await readlink(join(this.names, takenBy)).catch(() => undefined)) === name) return join(this.parentDir, name, '.taken');
    return join(this.parentDir, name);
  }

  /** Enables whichever of cpu/memory/pids the kernel offers, in root and in <parent>, writing only what is missing. */
  private async enableControllers(dir: string): Promise<void> {
    const available = parseWords(await this.fs.read(join(dir, 'cgroup.controllers')));
    const enabled = parseWords(await this.fs.read(join(dir, 'cgroup.subtree_control')));
    const missing = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
    if (missing.length > 0) await writeControl(this.fs, join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  }

  private async ensureParent(): Promise<void> {
    if ((await this.fs.read(join(this.root, 'cgroup.controllers'))) === undefined) {
      throw new RegError('CGROUP_FAILED', `${this.root} is not a cgroup v2 hierarchy (no cgroup.controllers)`, {
        file: this.root,
        hint: 'mount cgroup2 there (mount -t cgroup2 none /sys/fs/cgroup) or let Reg detect the driver',
      });
    }
    await this.enableControllers(this.root);
    try {
      await this.fs.mkdir(this.parentDir);
    } catch (e) {
      throw cgroupError('cannot create the Reg parent cgroup', this.parentDir, e);
    }
    await this.enableControllers(this.parentDir);
  }

  private async applyLimits(dir: string, limits: CgroupLimits): Promise<void> {
    if (limits.memoryBytes !== undefined) await writeControl(this.fs, join(dir, 'memory.max'), String(limits.memoryBytes));
    // memory.swap.max is absent without swap accounting; then there is no swap to limit per cgroup.
    if (limits.swapBytes !== undefined && (await this.fs.exists(join(dir, 'memory.swap.max')))) {
      await writeControl(this.fs, join(dir, 'memory.swap.max'), String(limits.swapBytes));
    }
    if (limits.pids !== undefined) await writeControl(this.fs, join(dir, 'pids.max'), String(limits.pids));
    if (limits.cpuMillicores !== undefined) {
      await writeControl(this.fs, join(dir, 'cpu.max'), `${cpuQuotaUs(limits.cpuMillicores)} ${CPU_PERIOD_US}`);
    }
  }

  async create(name: string, limits: CgroupLimits): Promise<{ procsFiles: string[] }> {
    const dir = await this.dir(name);
    const clean = validateLimits(limits);
    let created = false;
    // Another process may remove the (empty) parent between our mkdir of it and of the child:
    // ENOENT then means "make the parent again".
    for (let attempt = 0; ; attempt++) {
      await this.ensureParent();
      try {
        created = await this.fs.mkdir(dir);
        break;
      } catch (e) {
        if (attempt < 3 && errnoOf(e) === 'ENOENT') continue;
        throw cgroupError(`cannot create cgroup ${name}`, dir, e);
      }
    }
    try {
      await this.applyLimits(dir, clean);
    } catch (e) {
      // Leave nothing half-configured behind; an existing cgroup was not ours to remove.
      if (created) await this.fs.rmdir(dir).catch(() => undefined);
      throw e;
    }
    return { procsFiles: [join(dir, 'cgroup.procs')] };
  }

  async setLimits(name: string, limits: CgroupLimits): Promise<void> {
    const dir = await this.dir(name);
    const clean = validateLimits(limits);
    if (!(await this.fs.isDir(dir))) throw cgroupNotFound(name, dir);
    await this.applyLimits(dir, clean);
  }

  async procsFiles(name: string): Promise<string[]> {
    return [join(await this.dir(name), 'cgroup.procs')];
  }

  async exists(name: string): Promise<boolean> {
    return this.fs.isDir(await this.dir(name));
  }

  async pids(name: string): Promise<number[]> {
    return parsePids(await this.fs.read(join(await this.dir(name), 'cgroup.procs')));
  }

  /** Pids of the cgroup and of any child cgroups its processes made. */
  private async treePids(dir: string): Promise<number[]> {
    const own = parsePids(await this.fs.read(join(dir, 'cgroup.procs')));
    for (const sub of await this.fs.subdirs(dir)) own.push(...(await this.treePids(join(dir, sub))));
    return own;
  }

  async stats(name: string): Promise<CgroupStats> {
    const dir = await this.dir(name);
    const [current, peak, events, pidsCurrent] = await Promise.all(
      ['memory.current', 'memory.peak', 'memory.events', 'pids.current'].map((f) => this.fs.read(join(dir, f))),
    );
    if (current === undefined && !(await this.fs.isDir(dir))) throw cgroupNotFound(name, dir);
    const stats: CgroupStats = {
      memoryBytes: parseNumber(current) ?? 0,
      oomKills: parseKeyedValue(events, 'oom_kill') ?? 0,
      pids: parseNumber(pidsCurrent) ?? (await this.pids(name)).length,
    };
    const peakBytes = parseNumber(peak);
    // A recycled cgroup (reached through an alias) may carry the last container's peak.
    if (peakBytes !== undefined && basename(dir) === name) stats.memoryPeakBytes = peakBytes;
    return stats;
  }

  private async killOps(name: string): Promise<KillOps | undefined> {
    const dir = await this.dir(name);
    if (!(await this.fs.isDir(dir))) return undefined;
    const file = (f: string) => join(dir, f);
    const hasKill = await this.fs.exists(file('cgroup.kill'));
    const hasFreeze = await this.fs.exists(file('cgroup.freeze'));
    return {
      what: `cgroup ${dir}`,
      listPids: () => this.treePids(dir),
      kill: (pid) => this.fs.kill(pid),
      ...(hasKill && { killGroup: () => writeControl(this.fs, file('cgroup.kill'), '1') }),
      ...(!hasKill && hasFreeze && {
        freeze: () => writeControl(this.fs, file('cgroup.freeze'), '1'),
        isFrozen: async () => parseKeyedValue(await this.fs.read(file('cgroup.events')), 'frozen') === 1,
        thaw: () => writeControl(this.fs, file('cgroup.freeze'), '0'),
      }),
    };
  }

  async killAll(name: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const ops = await this.killOps(name);
    if (ops) await killUntilEmpty(ops, opts.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS);
  }

  async killMany(names: string[], opts: { timeoutMs?: number } = {}): Promise<void> {
    const ops: KillOps[] = [];
    for (const name of names) {
      const o = await this.killOps(name);
      if (o) ops.push(o);
    }
    await killManyUntilEmpty(ops, opts.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS);
  }

  async remove(name: string): Promise<void> {
    const dir = await this.dir(name);
    if (await this.fs.isDir(dir)) {
      await this.killAll(name);
      await this.removeTree(dir, Date.now() + RMDIR_TIMEOUT_MS);
    }
    await this.dropAlias(name, basename(dir));
  }

  private async dropAlias(name: string, real: string): Promise<void> {
    if (real === name) return;
    await unlink(join(this.names, name)).catch(() => undefined);
    await unlink(join(this.names, `.taken-${real}`)).catch(() => undefined);
  }

  /**
   * cgroup2 has no rename (kernfs answers EPERM), so a rename is recorded instead: the alias `to`
   * points at the real directory, and the real name is marked taken. The mark is made first with
   * symlink(2), which fails if it exists: of two processes taking the same pool member, one wins.
   */
  async rename(from: string, to: string): Promise<void> {
    assertCgroupName(to);
    const dir = await this.dir(from);
    if (!(await this.fs.isDir(dir))) throw cgroupNotFound(from, dir);
    if (await this.exists(to)) throw cgroupExists(to, join(this.parentDir, to));
    const real = basename(dir);
    try {
      await this.fs.rename(dir, join(this.parentDir, to));
      return; // a kernel (or tree) that can rename after all
    } catch (e) {
      if (errnoOf(e) !== 'EPERM' && errnoOf(e) !== 'EINVAL' && errnoOf(e) !== 'ENOTSUP') throw cgroupError(`cannot rename cgroup ${from}`, dir, e);
    }
    const taken = join(this.names, `.taken-${real}`);
    await mkdir(this.names, { recursive: true });
    if (to === real) {
      // Back to its own name (into the pool): the alias and the mark go.
      await this.dropAlias(from, real);
      return;
    }
    if (from === real) {
      try {
        await symlink(to, taken);
      } catch (e) {
        if (errnoOf(e) === 'EEXIST') throw cgroupNotFound(from, dir);
        throw cgroupError(`cannot record the rename of cgroup ${from}`, taken, e);
      }
    }
    try {
      await symlink(real, join(this.names, to));
    } catch (e) {
      if (from === real) await unlink(taken).catch(() => undefined);
      if (errnoOf(e) === 'EEXIST') throw cgroupExists(to, join(this.names, to));
      throw cgroupError(`cannot record the rename of cgroup ${from}`, join(this.names, to), e);
    }
    if (from !== real) {
      const tmp = `${taken}.${process.pid}.tmp`;
      await unlink(tmp).catch(() => undefined);
      await symlink(to, tmp);
      await renameFile(tmp, taken);
      await unlink(join(this.names, from)).catch(() => undefined);
    }
  }

  /**
   * For the pool: an empty cgroup back to a fresh one's state. memory.reclaim (Linux 5.19+) gives
   * back what is still charged to it; limits go back to max. memory.peak cannot be reset for every
   * reader (a write resets it for that open file only), so a recycled cgroup's peak may include the
   * previous container's: stats() reports the peak only when the driver made the cgroup afresh.
   */
  async resetForReuse(name: string): Promise<boolean> {
    const dir = await this.dir(name);
    const f = (file: string) => join(dir, file);
    const events = await this.fs.read(f('memory.events'));
    if ((parseKeyedValue(events, 'oom_kill') ?? 0) > 0) return false;
    if ((await this.fs.subdirs(dir)).length > 0) return false;
    if (parsePids(await this.fs.read(f('cgroup.procs'))).length > 0) return false;
    const current = parseNumber(await this.fs.read(f('memory.current')));
    if (current && current > RECLAIM_ABOVE_BYTES && (await this.fs.exists(f('memory.reclaim')))) {
      // EAGAIN: not all of it could be reclaimed (pages in use elsewhere); what is left is shared.
      await this.fs.write(f('memory.reclaim'), String(current)).catch(() => undefined);
    }
    for (const [file, value] of [['memory.max', 'max'], ['memory.swap.max', 'max'], ['pids.max', 'max'], ['cpu.max', `max ${CPU_PERIOD_US}`], ['cgroup.freeze', '0']] as const) {
      if (await this.fs.exists(f(file))) await writeControl(this.fs, f(file), value);
    }
    return true;
  }

  /** Children first: a cgroup with child cgroups cannot be removed. */
  private async removeTree(dir: string, deadline: number): Promise<void> {
    for (const sub of await this.fs.subdirs(dir)) await this.removeTree(join(dir, sub), deadline);
    await rmdirRetrying(this.fs, dir, deadline);
  }

  /** Real directories under their own names, except those taken, plus the aliases of taken ones. */
  async list(): Promise<string[]> {
    const names = new Set<string>();
    for (const n of await this.fs.subdirs(this.parentDir)) if (isValidCgroupName(n)) names.add(n);
    for (const entry of await readdir(this.names).catch(() => [] as string[])) {
      if (!isValidCgroupName(entry)) continue;
      const real = await readlink(join(this.names, entry)).catch(() => undefined);
      if (real === undefined || !names.has(real)) {
        // Its directory is gone: a stale alias (a crash, or removed behind our back).
        await unlink(join(this.names, entry)).catch(() => undefined);
        if (real !== undefined) await unlink(join(this.names, `.taken-${real}`)).catch(() => undefined);
        continue;
      }
      if ((await readlink(join(this.names, `.taken-${real}`)).catch(() => undefined)) === entry) {
        names.delete(real);
        names.add(entry);
      }
    }
    return [...names].sort();
  }
}
