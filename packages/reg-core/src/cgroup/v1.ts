// cgroup v1 driver: one hierarchy per controller, so Reg's cgroup <name> is a directory
// <root>/<controller>/<parent>/<name> in each of memory, pids, cpu and (if mounted) freezer, and
// the launcher must join every one of them. Limits that need a controller that is not mounted fail
// loudly rather than silently not applying.

import { join } from 'node:path';
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

type Controller = 'memory' | 'pids' | 'cpu' | 'freezer';
const CONTROLLERS: Controller[] = ['memory', 'pids', 'cpu', 'freezer'];
/** v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712); anything this big is unlimited. */
const V1_UNLIMITED = 2 ** 62;
const DEFAULT_KILL_TIMEOUT_MS = 5000;
const RMDIR_TIMEOUT_MS = 2000;
/** A recycled cgroup with more than this still charged is reclaimed before reuse. */
export const RECLAIM_ABOVE_BYTES = 1 << 20;

export class CgroupV1Driver implements CgroupDriver {
  readonly version = 1 as const;
  readonly root: string;
  readonly parent: string;
  private readonly fs: CgroupFs;
  private mounted: Promise<Controller[]> | undefined;

  constructor(opts: CgroupDriverOptions = {}) {
    this.root = opts.root ?? '/sys/fs/cgroup';
    this.parent = opts.parent ?? 'reg';
    this.fs = opts.fs ?? realCgroupFs;
  }

  /** The controllers mounted as v1 hierarchies (memory is required: detection checked it). */
  private controllers(): Promise<Controller[]> {
    this.mounted ??= (async () => {
      const found: Controller[] = [];
      for (const c of CONTROLLERS) if (await this.fs.exists(join(this.root, c, 'cgroup.procs'))) found.push(c);
      if (!found.includes('memory')) {
        this.mounted = undefined;
        throw new RegError('CGROUP_FAILED', `no cgroup v1 memory hierarchy under ${this.root}`, {
          file: join(this.root, 'memory'),
          hint: 'mount it (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory) or use a cgroup v2 host',
        });
      }
      return found;
    })();
    return this.mounted;
  }

  private dirIn(controller: Controller, name: string): string {
    return join(this.root, controller, this.parent, name);
  }

  private async dirs(name: string): Promise<Array<[Controller, string]>> {
    assertCgroupName(name);
    return (await this.controllers()).map((c) => [c, this.dirIn(c, name)]);
  }

  private async ensureParents(controllers: Controller[]): Promise<void> {
    for (const c of controllers) {
      const dir = join(this.root, c, this.parent);
      try {
        await this.fs.mkdir(dir);
      } catch (e) {
        throw cgroupError(`cannot create the Reg parent cgroup in the ${c} hierarchy`, dir, e);
      }
      if (c === 'memory') {
        // Old kernels default to flat accounting; hierarchical accounting can only be switched on
        // while the cgroup has no children, and newer kernels force it on (the write then fails
        // harmlessly), so a failure here is not worth refusing to run.
        const file = join(dir, 'memory.use_hierarchy');
        if ((await this.fs.read(file))?.trim() === '0') await this.fs.write(file, '1').catch(() => undefined);
      }
    }
  }

  async create(name: string, limits: CgroupLimits): Promise<{ procsFiles: string[] }> {
    const clean = validateLimits(limits);
    const dirs = await this.dirs(name);
    this.requireControllers(dirs.map(([c]) => c), clean);
    await this.ensureParents(dirs.map(([c]) => c));
    const created: string[] = [];
    try {
      for (const [c, dir] of dirs) {
        // Another process may remove the (empty) parent between our mkdir of it and of the child:
        // ENOENT then means "make the parent again".
        for (let attempt = 0; ; attempt++) {
          try {
            if (await this.fs.mkdir(dir)) created.push(dir);
            break;
          } catch (e) {
            if (attempt < 3 && errnoOf(e) === 'ENOENT') {
              await this.ensureParents([c]);
              continue;
            }
            throw cgroupError(`cannot create cgroup ${name}`, dir, e);
          }
        }
      }
      await this.applyLimits(name, clean);
    } catch (e) {
      for (const dir of created) await this.fs.rmdir(dir).catch(() => undefined);
      throw e;
    }
    return { procsFiles: dirs.map(([, dir]) => join(dir, 'cgroup.procs')) };
  }

  private requireControllers(mounted: Controller[], limits: CgroupLimits): void {
    const need: Array<[keyof CgroupLimits, Controller]> = [['pids', 'pids'], ['cpuMillicores', 'cpu']];
    for (const [field, controller] of need) {
      if (limits[field] !== undefined && !mounted.includes(controller)) {
        throw new RegError('CGROUP_FAILED', `cannot limit ${field}: the cgroup v1 ${controller} controller is not mounted under ${this.root}`, {
          field,
          hint: `mount it (mount -t cgroup -o ${controller} cgroup ${join(this.root, controller)}) or drop the limit`,
        });
      }
    }
  }

  async setLimits(name: string, limits: CgroupLimits): Promise<void> {
    const clean = validateLimits(limits);
    const dirs = await this.dirs(name);
    this.requireControllers(dirs.map(([c]) => c), clean);
    if (!(await this.fs.isDir(this.dirIn('memory', name)))) throw cgroupNotFound(name, this.dirIn('memory', name));
    await this.applyLimits(name, clean);
  }

  private async applyLimits(name: string, limits: CgroupLimits): Promise<void> {
    await this.applyMemory(this.dirIn('memory', name), limits);
    if (limits.pids !== undefined) await writeControl(this.fs, join(this.dirIn('pids', name), 'pids.max'), String(limits.pids));
    if (limits.cpuMillicores !== undefined) {
      const dir = this.dirIn('cpu', name);
      await writeControl(this.fs, join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await writeControl(this.fs, join(dir, 'cpu.cfs_quota_us'), String(cpuQuotaUs(limits.cpuMillicores)));
    }
  }

  /**
   * v1 has no separate swap limit, only memsw = memory + swap, and the kernel insists on
   * memory.limit_in_bytes <= memory.memsw.limit_in_bytes after every single write. So the two
   * files are written in whichever order keeps that true. Given only memoryBytes, the extra swap
   * allowance already configured is kept (as v2 keeps memory.swap.max).
   */
  private async applyMemory(dir: string, limits: CgroupLimits): Promise<void> {
    if (limits.memoryBytes === undefined && limits.swapBytes === undefined) return;
    const memFile = join(dir, 'memory.limit_in_bytes');
    const swFile = join(dir, 'memory.memsw.limit_in_bytes');
    const memswText = await this.fs.read(swFile);
    if (memswText === undefined) {
      // No swap accounting (swapaccount=0): nothing to write for swapBytes.
      if (limits.memoryBytes !== undefined) await writeControl(this.fs, memFile, String(limits.memoryBytes));
      return;
    }
    const toLimit = (n: number | undefined) => (n === undefined || n >= V1_UNLIMITED ? Infinity : n);
    const oldMem = toLimit(parseNumber(await this.fs.read(memFile)));
    const oldMemsw = toLimit(parseNumber(memswText));
    const newMem = limits.memoryBytes ?? oldMem;
    const extra = limits.swapBytes ?? oldMemsw - oldMem; // Infinity - Infinity is NaN: handled below
    const newMemsw = newMem === Infinity || !Number.isFinite(extra) ? Infinity : newMem + extra;
    const writeMem = async () => {
      if (limits.memoryBytes !== undefined) await writeControl(this.fs, memFile, String(limits.memoryBytes));
    };
    const writeMemsw = async () => {
      if (newMemsw !== oldMemsw) await writeControl(this.fs, swFile, newMemsw === Infinity ? '-1' : String(newMemsw));
    };
    if (newMemsw > oldMemsw) {
      await writeMemsw();
      await writeMem();
    } else {
      await writeMem();
      await writeMemsw();
    }
  }

  async procsFiles(name: string): Promise<string[]> {
    return (await this.dirs(name)).map(([, dir]) => join(dir, 'cgroup.procs'));
  }

  async exists(name: string): Promise<boolean> {
    for (const [, dir] of await this.dirs(name)) if (await this.fs.isDir(dir)) return true;
    return false;
  }

  /** Union over the controllers: a process the launcher put into only some of them still counts. */
  async pids(name: string): Promise<number[]> {
    const all = new Set<number>();
    for (const [, dir] of await this.dirs(name)) for (const pid of parsePids(await this.fs.read(join(dir, 'cgroup.procs')))) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  async stats(name: string): Promise<CgroupStats> {
    const mounted = (await this.dirs(name)).map(([c]) => c);
    const mem = this.dirIn('memory', name);
    const [usage, peak, oom] = await Promise.all(
      ['memory.usage_in_bytes', 'memory.max_usage_in_bytes', 'memory.oom_control'].map((f) => this.fs.read(join(mem, f))),
    );
    if (usage === undefined) throw cgroupNotFound(name, mem);
    const pidsCurrent = mounted.includes('pids') ? parseNumber(await this.fs.read(join(this.dirIn('pids', name), 'pids.current'))) : undefined;
    const stats: CgroupStats = {
      memoryBytes: parseNumber(usage) ?? 0,
      // The oom_kill line exists since Linux 4.13.
      oomKills: parseKeyedValue(oom, 'oom_kill') ?? 0,
      pids: pidsCurrent ?? (await this.pids(name)).length,
    };
    const peakBytes = parseNumber(peak);
    if (peakBytes !== undefined) stats.memoryPeakBytes = peakBytes;
    return stats;
  }

  private async killOps(name: string): Promise<KillOps> {
    const dirs = await this.dirs(name);
    const freezer = dirs.find(([c]) => c === 'freezer')?.[1];
    const state = freezer === undefined ? undefined : join(freezer, 'freezer.state');
    const freezeOps =
      state !== undefined && (await this.fs.exists(state))
        ? {
            freeze: () => writeControl(this.fs, state, 'FROZEN'),
            // FREEZING means some task has not stopped yet.
            isFrozen: async () => (await this.fs.read(state))?.trim() === 'FROZEN',
            thaw: () => writeControl(this.fs, state, 'THAWED'),
          }
        : {};
    return {
      what: `cgroup ${this.parent}/${name}`,
      listPids: () => this.pids(name),
      kill: (pid) => this.fs.kill(pid),
      ...freezeOps,
    };
  }

  async killAll(name: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    await killUntilEmpty(await this.killOps(name), opts.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS);
  }

  async killMany(names: string[], opts: { timeoutMs?: number } = {}): Promise<void> {
    const ops: KillOps[] = [];
    for (const name of names) ops.push(await this.killOps(name));
    await killManyUntilEmpty(ops, opts.timeoutMs ?? DEFAULT_KILL_TIMEOUT_MS);
  }

  async remove(name: string): Promise<void> {
    const dirs = await this.dirs(name);
    if (!(await this.exists(name))) return;
    await this.killAll(name);
    const deadline = Date.now() + RMDIR_TIMEOUT_MS;
    for (const [, dir] of dirs) await this.removeTree(dir, deadline);
  }

  private async removeTree(dir: string, deadline: number): Promise<void> {
    for (const sub of await this.fs.subdirs(dir)) await this.removeTree(join(dir, sub), deadline);
    await rmdirRetrying(this.fs, dir, deadline);
  }

  async rename(from: string, to: string): Promise<void> {
    const dirs = await this.dirs(from);
    assertCgroupName(to);
    if (await this.exists(to)) throw cgroupExists(to, this.dirIn('memory', to));
    // Memory first, always: of two processes renaming the same cgroup, the loser fails on the
    // first controller (ENOENT) before it has moved anything.
    const done: Controller[] = [];
    const one = async ([c, dir]: [Controller, string]) => {
      try {
        await this.fs.rename(dir, this.dirIn(c, to));
        done.push(c);
      } catch (e) {
        // A controller dir missing (never made, or removed behind our back) is made again by the
        // next create() of that name.
        if (errnoOf(e) === 'ENOENT' && c !== 'memory') return;
        throw e;
      }
    };
    try {
      const memory = dirs.find(([c]) => c === 'memory')!;
      await one(memory);
      // Once memory is ours nobody else can be renaming this cgroup: the rest at once.
      const rest = await Promise.allSettled(dirs.filter(([c]) => c !== 'memory').map(one));
      const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (e) {
      for (const c of done) await this.fs.rename(this.dirIn(c, to), this.dirIn(c, from)).catch(() => undefined);
      if (errnoOf(e) === 'ENOENT') throw cgroupNotFound(from, this.dirIn('memory', from));
      if (errnoOf(e) === 'EEXIST' || errnoOf(e) === 'ENOTEMPTY') throw cgroupExists(to, this.dirIn('memory', to));
      throw cgroupError(`cannot rename cgroup ${from} to ${to}`, this.dirIn('memory', from), e);
    }
  }

  /**
   * For the pool: an empty cgroup back to a fresh one's state. force_empty reclaims what is still
   * charged to it (page cache the last container read), so the next container is charged only for
   * its own pages and the memcg does not pin memory while idle; the peak and failure counters are
   * zeroed; every limit goes back to unlimited (the next hand-out writes its own).
   */
  async resetForReuse(name: string): Promise<boolean> {
    const dirs = await this.dirs(name);
    const mem = this.dirIn('memory', name);
    const oom = await this.fs.read(join(mem, 'memory.oom_control'));
    if (oom === undefined || (parseKeyedValue(oom, 'oom_kill') ?? 0) > 0) return false;
    for (const [, dir] of dirs) {
      if ((await this.fs.subdirs(dir)).length > 0) return false;
      if (parsePids(await this.fs.read(join(dir, 'cgroup.procs'))).length > 0) return false;
    }
    const files = (c: Controller, ...f: string[]) => join(this.dirIn(c, name), ...f);
    // What a container leaves charged is mostly kernel memory (tens of KiB): its private pages
    // went with its processes and its files with its upper dir. Only a real leftover (page cache
    // of files it wrote elsewhere) is worth force_empty, which drains every CPU's LRU lists and
    // could evict pages other containers share.
    if ((parseNumber(await this.fs.read(join(mem, 'memory.usage_in_bytes'))) ?? 0) > RECLAIM_ABOVE_BYTES) {
      try {
        await this.fs.write(join(mem, 'memory.force_empty'), '0');
      } catch (e) {
        // EBUSY: a task is still on its way out; the cgroup is not reusable yet.
        if (errnoOf(e) === 'EBUSY') return false;
        throw cgroupError('cannot empty the memory of cgroup', join(mem, 'memory.force_empty'), e);
      }
    }
    // memsw >= limit after every write: raise memsw first.
    if ((await this.fs.read(join(mem, 'memory.memsw.limit_in_bytes'))) !== undefined) await writeControl(this.fs, join(mem, 'memory.memsw.limit_in_bytes'), '-1');
    await writeControl(this.fs, join(mem, 'memory.limit_in_bytes'), '-1');
    for (const f of ['memory.max_usage_in_bytes', 'memory.failcnt', 'memory.memsw.max_usage_in_bytes', 'memory.memsw.failcnt']) {
      // memsw files are absent without swap accounting.
      await this.fs.write(join(mem, f), '0').catch((e) => {
        if (errnoOf(e) !== 'ENOENT') throw cgroupError('cannot reset cgroup counter', join(mem, f), e);
      });
    }
    const mounted = dirs.map(([c]) => c);
    if (mounted.includes('pids')) await writeControl(this.fs, files('pids', 'pids.max'), 'max');
    if (mounted.includes('cpu')) await writeControl(this.fs, files('cpu', 'cpu.cfs_quota_us'), '-1');
    if (mounted.includes('freezer')) await writeControl(this.fs, files('freezer', 'freezer.state'), 'THAWED');
    return true;
  }

  async list(): Promise<string[]> {
    const names = new Set<string>();
    for (const c of await this.controllers()) for (const n of await this.fs.subdirs(join(this.root, c, this.parent))) names.add(n);
    return [...names].filter(isValidCgroupName).sort();
  }
}
