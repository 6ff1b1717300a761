// A pool of ready cgroups in front of a driver, as SOCK keeps one: a container's cgroup is an idle
// member renamed to the container's name (no mkdir, limits written on hand-out), and a removed
// container's cgroup is reset and renamed back into the pool instead of rmdir'd. Two things pay:
// no directory is created per start, and on cgroup v1 no memory cgroup dies per stop — a removed
// memcg lingers in the kernel while pages are still charged to it ("zombie" memcgs), which over
// thousands of containers grew SUnreclaim by gigabytes on this machine.
//
// Idle members are `pool-<8 hex>` cgroups under the home's parent, so they outlive the process:
// the next Engine over the same home (the CLI, a restarted host) adopts them. Taking one is a
// rename, which is atomic across processes: a member another process took first is simply gone.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { RegError, isRegError } from '../errors.js';
import { type CgroupDriver, type CgroupLimits, type CgroupStats, assertCgroupName, validateLimits } from './driver.js';

export interface CgroupPoolOptions {
  /** Idle members kept at most; a removal beyond this rmdirs (default 1024). */
  maxIdle?: number;
  /** Idle members kept when demand is low (default 0: only what removals return). */
  minIdle?: number;
  /** After this long without a hand-out, idle members beyond minIdle are removed (default 5 min). */
  idleMs?: number;
}

export interface CgroupPoolStats {
  idle: number;
  /** What the pool is kept at: minIdle, or more while a reserve(n) is recent. */
  target: number;
  /** Since this driver was made. */
  handedOut: number;
  created: number;
  recycled: number;
  /** Removals that rmdir'd instead (pool full, OOM recorded, child cgroups, reset failed). */
  removed: number;
  /** Members that were gone or populated when taken. */
  dropped: number;
}

const MEMBER = /^pool-[0-9a-f]{8}$/;
export const isPoolMember = (name: string) => MEMBER.test(name);
const newMemberName = () => `pool-${randomBytes(4).toString('hex')}`;
/** Pool members made at once by reserve(): mkdirs serialise on the kernel's cgroup mutex anyway. */
const CREATE_CONCURRENCY = 8;

/** Pooling from the environment: REG_CGROUP_POOL=0 turns it off, REG_CGROUP_POOL_MAX caps idle members. */
export function poolOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): CgroupPoolOptions | false {
  const on = env.REG_CGROUP_POOL;
  if (on !== undefined && !['0', '1', 'false', 'true', ''].includes(on)) {
    throw new RegError('USAGE', `REG_CGROUP_POOL must be 0 or 1, got ${JSON.stringify(on)}`, { field: 'REG_CGROUP_POOL', hint: 'REG_CGROUP_POOL=0 creates and removes a cgroup per container, as before pooling' });
  }
  if (on === '0' || on === 'false') return false;
  const opts: CgroupPoolOptions = {};
  for (const [key, field] of [['REG_CGROUP_POOL_MAX', 'maxIdle'], ['REG_CGROUP_POOL_MIN', 'minIdle']] as const) {
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0 || n > 100_000) {
      throw new RegError('USAGE', `${key} must be an integer from 0 to 100000, got ${JSON.stringify(raw)}`, { field: key, hint: `unset ${key} for the default` });
    }
    opts[field] = n;
  }
  return opts;
}

export class PooledCgroupDriver implements CgroupDriver {
  readonly version: 1 | 2;
  private idle: string[] | undefined;
  private loading: Promise<void> | undefined;
  private readonly maxIdle: number;
  private readonly minIdle: number;
  private readonly idleMs: number;
  private target: number;
  private lastHandOut = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private shrinking = false;
  private readonly counts = { handedOut: 0, created: 0, recycled: 0, removed: 0, dropped: 0 };

  constructor(readonly base: CgroupDriver, opts: CgroupPoolOptions = {}) {
    this.version = base.version;
    this.maxIdle = opts.maxIdle ?? 1024;
    this.minIdle = Math.min(opts.minIdle ?? 0, this.maxIdle);
    this.idleMs = opts.idleMs ?? 5 * 60_000;
    this.target = this.minIdle;
  }

  /** The base driver's parent directory name (reg or reg-<hash>), for callers that show it. */
  get parent(): string | undefined {
    return (this.base as { parent?: string }).parent;
  }

  /** Adopts the members already on the cgroupfs (left by an earlier process over this home). */
  private async members(): Promise<string[]> {
    if (this.idle) return this.idle;
    this.loading ??= this.base.list().then((names) => {
      this.idle ??= names.filter(isPoolMember);
    });
    await this.loading;
    return this.idle!;
  }

  poolStats(): CgroupPoolStats {
    return { idle: this.idle?.length ?? 0, target: this.target, ...this.counts };
  }

  async create(name: string, limits: CgroupLimits): Promise<{ procsFiles: string[] }> {
    assertCgroupName(name);
    const clean = validateLimits(limits);
    const idle = await this.members();
    // A cgroup of that name already (exec into a running container): re-apply limits, as before.
    if (idle.length === 0 || isPoolMember(name) || (await this.base.exists(name))) return this.base.create(name, clean);
    for (let member = idle.pop(); member !== undefined; member = idle.pop()) {
      try {
        await this.base.rename(member, name);
      } catch (e) {
        if (!isRegError(e, 'CGROUP_FAILED')) throw e;
        if (await this.base.exists(name)) {
          // Lost a race for the name, not the member: the member is still good.
          if (await this.base.exists(member)) idle.push(member);
          break;
        }
        this.counts.dropped++; // removed behind our back, or another process took it first
        continue;
      }
      if ((await this.base.pids(name)).length > 0) {
        // Someone put processes into an idle member: it is not clean, and never handed out.
        this.counts.dropped++;
        await this.base.remove(name);
        continue;
      }
      this.counts.handedOut++;
      this.lastHandOut = Date.now();
      try {
        const procsFiles = await this.base.procsFiles(name);
        // A controller dir that vanished while idle: create() makes it again (idempotent).
        if (procsFiles.some((f) => !existsSync(f))) return await this.base.create(name, clean);
        await this.base.setLimits(name, clean);
        return { procsFiles };
      } catch (e) {
        await this.remove(name).catch(() => undefined);
        throw e;
      }
    }
    return this.base.create(name, clean);
  }

  /** Kills everything in it, then recycles it into the pool (or rmdirs it: see CgroupPoolStats.removed). */
  async remove(name: string): Promise<void> {
    assertCgroupName(name);
    const idle = await this.members();
    if (isPoolMember(name)) {
      const i = idle.indexOf(name);
      if (i >= 0) idle.splice(i, 1);
      return this.base.remove(name);
    }
    if (!(await this.base.exists(name))) return this.base.remove(name); // clears what a v2 alias left
    if (idle.length >= Math.max(this.maxIdle, this.target)) {
      this.counts.removed++;
      return this.base.remove(name);
    }
    await this.base.killAll(name);
    const reusable = await this.base.resetForReuse(name).catch(() => false);
    const member = newMemberName();
    if (reusable) {
      try {
        await this.base.rename(name, member);
        idle.push(member);
        this.counts.recycled++;
        this.scheduleShrink();
        return;
      } catch {
        // fall through: rmdir it
      }
    }
    this.counts.removed++;
    await this.base.remove(name);
  }

  /** Grows the idle pool to at least n members and keeps it there while demand lasts (a class start). */
  async reserve(n: number): Promise<void> {
    if (!Number.isSafeInteger(n) || n < 0) throw new RegError('USAGE', `reserve needs a whole number of cgroups, got ${JSON.stringify(n)}`, { field: 'n' });
    const idle = await this.members();
    this.target = Math.min(Math.max(this.target, n), Math.max(this.maxIdle, n));
    this.lastHandOut = Date.now();
    let missing = n - idle.length;
    const worker = async () => {
      while (missing > 0) {
        missing--;
        const member = newMemberName();
        await this.base.create(member, {});
        idle.push(member);
        this.counts.created++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, Math.max(0, missing)) }, worker));
    this.scheduleShrink();
  }

  /** Removes every idle member (a temp home going away, host shutdown). */
  async drainPool(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const idle = await this.members();
    this.target = this.minIdle;
    const all = idle.splice(0);
    const worker = async () => {
      for (let m = all.pop(); m !== undefined; m = all.pop()) await this.base.remove(m);
    };
    await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
  }

  /** Idle shrink: once nobody has taken a member for idleMs, the pool falls back to minIdle. */
  private scheduleShrink(): void {
    if (this.timer || this.idleMs <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.shrink().catch(() => undefined);
    }, this.idleMs);
    this.timer.unref();
  }

  private async shrink(): Promise<void> {
    if (this.shrinking) return;
    const idle = await this.members();
    if (Date.now() - this.lastHandOut < this.idleMs) {
      this.scheduleShrink();
      return;
    }
    this.shrinking = true;
    try {
      this.target = this.minIdle;
      while (idle.length > this.minIdle) await this.base.remove(idle.pop()!);
    } finally {
      this.shrinking = false;
    }
  }

  setLimits(name: string, limits: CgroupLimits): Promise<void> {
    return this.base.setLimits(name, limits);
  }
  exists(name: string): Promise<boolean> {
    return this.base.exists(name);
  }
  procsFiles(name: string): Promise<string[]> {
    return this.base.procsFiles(name);
  }
  pids(name: string): Promise<number[]> {
    return this.base.pids(name);
  }
  stats(name: string): Promise<CgroupStats> {
    return this.base.stats(name);
  }
  killAll(name: string, opts?: { timeoutMs?: number }): Promise<void> {
    return this.base.killAll(name, opts);
  }
  killMany(names: string[], opts?: { timeoutMs?: number }): Promise<void> {
    return this.base.killMany(names, opts);
  }
  rename(from: string, to: string): Promise<void> {
    return this.base.rename(from, to);
  }
  resetForReuse(name: string): Promise<boolean> {
    return this.base.resetForReuse(name);
  }
  /** Containers' cgroups only: idle members are the pool's business. */
  async list(): Promise<string[]> {
    return (await this.base.list()).filter((n) => !isPoolMember(n));
  }
}
