// cgroup v2 driver: one unified tree, Reg's cgroups at <root>/<parent>/<name>. Controllers have to
// be switched on top-down (cgroup.subtree_control of root, then of <parent>) before a leaf gets
// their files; <parent> itself never holds processes, which the "no internal processes" rule needs.

import { join } from 'node:path';
import { RegError } from '../errors.js';
import {
  type CgroupFs,
  cgroupError,
  errnoOf,
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
import { killUntilEmpty } from './kill-loop.js';


const WANTED_CONTROLLERS = ['cpu', 'memory', 'pids'];
const DEFAULT_KILL_TIMEOUT_MS = 5000;
const RMDIR_TIMEOUT_MS = 2000;

export class CgroupV2Driver implements CgroupDriver {
  readonly version = 2 as const;
  readonly root: string;
  readonly parent: string;
  private readonly fs: CgroupFs;

  constructor(opts: CgroupDriverOptions = {}) {
    this.root = opts.root ?? '/sys/fs/cgroup';
    this.parent = opts.parent ?? 'reg';
    this.fs = opts.fs ?? realCgroupFs;
  }

  private get parentDir(): string {
    return join(this.root, this.parent);
  }

  private dir(name: string): string {
    assertCgroupName(name);
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
    const dir = this.dir(name);
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
    const dir = this.dir(name);
    const clean = validateLimits(limits);
    if (!(await this.fs.isDir(dir))) throw cgroupNotFound(name, dir);
    await this.applyLimits(dir, clean);
  }

  async exists(name: string): Promise<boolean> {
    return this.fs.isDir(this.dir(name));
  }

  async pids(name: string): Promise<number[]> {
    return parsePids(await this.fs.read(join(this.dir(name), 'cgroup.procs')));
  }

  /** Pids of the cgroup and of any child cgroups its processes made. */
  private async treePids(dir: string): Promise<number[]> {
    const own = parsePids(await this.fs.read(join(dir, 'cgroup.procs')));
    for (const sub of await this.fs.subdirs(dir)) own.push(...(await this.treePids(join(dir, sub))));
    return own;
  }

  async stats(name: string): Promise<CgroupStats> {
    const dir = this.dir(name);
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
    if (peakBytes !== undefined) stats.memoryPeakBytes = peakBytes;
    return stats;
  }

  async killAll(name: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const dir = this.dir(name);
    if (!(await this.fs.isDir(dir))) return;
    const file = (f: string) => join(dir, f);
    const hasKill = await this.fs.exists(file('cgroup.kill'));
    const hasFreeze = await this.fs.exists(file('cgroup.freeze'));
    await killUntilEmpty(
      {
        what: `cgroup ${dir}`,
        listPids: () => this.treePids(dir),
        kill: (pid) => this.fs.kill(pid),
        ...(hasKill && { killGroup: () => writeControl(this.fs, file('cgroup.kill'), '1') }),
        ...(!hasKill && hasFreeze && {
          freeze: () => writeControl(this.fs, file('cgroup.freeze'), '1'),
          isFrozen: async () => parseKeyedValue(await this.fs.read(file('cgroup.events')), 'frozen') === 1,
          thaw: () => writeControl(this.fs, file('cgroup.freeze'), '0'),
        }),
      },
      opts.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS,
    );
  }

  async remove(name: string): Promise<void> {
    const dir = this.dir(name);
    if (!(await this.fs.isDir(dir))) return;
    await this.killAll(name);
    await this.removeTree(dir, Date.now() + RMDIR_TIMEOUT_MS);
  }

  /** Children first: a cgroup with child cgroups cannot be removed. */
  private async removeTree(dir: string, deadline: number): Promise<void> {
    for (const sub of await this.fs.subdirs(dir)) await this.removeTree(join(dir, sub), deadline);
    await rmdirRetrying(this.fs, dir, deadline);
  }

  async list(): Promise<string[]> {
    return (await this.fs.subdirs(this.parentDir)).filter(isValidCgroupName).sort();
  }
}
