// A container's limits as numbers: the fields, the built-in defaults, what this host can give
// (hostCeilings), and the pure functions over them (effectiveLimits, cgroupLimitsOf, …). No zod:
// a command that only applies the policy (`reg run` without a limits.json) never loads it.
// policy.ts adds the schemas that check untrusted input and re-exports all of this.

import { availableParallelism } from 'node:os';
import { readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import type { CgroupLimits } from '../cgroup/driver.js';
import type { RegHome } from '../home.js';
import type { DiskQuota } from '../quota/volume.js';

export interface Limits {
  /** Memory (RAM) in bytes; no swap on top. */
  memoryBytes: number;
  /** Processes and threads. */
  pids: number;
  /** CPUs (1 = one core, 0.5 = half of one). */
  cpus: number;
  /** Bytes the container may write: its writable layer, and a workspace's quota. */
  diskBytes: number;
  /** Files (inodes) it may create there. */
  diskInodes: number;
  /** Terminals (pseudo-terminals) it may open at once. */
  ptys: number;
}

export interface LimitPolicy {
  defaults: Limits;
  ceilings: Limits;
  /** Containers one user may have running (or starting) at once. */
  maxContainersPerUser: number;
}

export const LIMIT_FIELDS = ['memoryBytes', 'pids', 'cpus', 'diskBytes', 'diskInodes', 'ptys'] as const satisfies ReadonlyArray<keyof Limits>;
/** Everything but cpus counts whole things. */
const INTEGER_FIELDS = new Set<keyof Limits>(['memoryBytes', 'pids', 'diskBytes', 'diskInodes', 'ptys']);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** What a student gets when nobody said otherwise (before clamping to the host, see defaultPolicy). */
export const DEFAULT_LIMITS: Limits = {
  memoryBytes: 512 * MiB,
  pids: 256,
  cpus: 1,
  diskBytes: 1 * GiB,
  diskInodes: 100_000,
  ptys: 16,
};

export const DEFAULT_MAX_CONTAINERS_PER_USER = 4;

/**
 * The most this machine can give one container: all its memory, the kernel's pid_max, every CPU,
 * the disk (bytes and inodes) free under `diskPath` (REG_HOME), the kernel's pty limit.
 */
export function hostCeilings(diskPath = '/'): Limits {
  const memTotal = /^MemTotal:\s+(\d+) kB/m.exec(readText('/proc/meminfo') ?? '')?.[1];
  const pidMax = Number(readText('/proc/sys/kernel/pid_max')?.trim() ?? 32768);
  const ptyMax = Number(readText('/proc/sys/kernel/pty/max')?.trim() ?? 4096);
  let diskBytes = Number.MAX_SAFE_INTEGER;
  let diskInodes = Number.MAX_SAFE_INTEGER;
  try {
    const fs = statfsSync(diskPath);
    diskBytes = Number(fs.bavail) * Number(fs.bsize);
    // Filesystems with dynamic inodes (btrfs, some tmpfs) report 0 files: no inode ceiling then.
    if (Number(fs.files) > 0) diskInodes = Number(fs.ffree);
  } catch {
    // no such path yet: leave the disk unbounded here; the quota filesystem still bounds it
  }
  return {
    memoryBytes: memTotal ? Number(memTotal) * 1024 : Number.MAX_SAFE_INTEGER,
    pids: Number.isFinite(pidMax) && pidMax > 0 ? pidMax : 32768,
    cpus: availableParallelism(),
    diskBytes: Math.max(diskBytes, 1),
    diskInodes: Math.max(diskInodes, 1),
    ptys: Number.isFinite(ptyMax) && ptyMax > 0 ? ptyMax : 4096,
  };
}

/** The policy when the administrator has set none: DEFAULT_LIMITS, never above the host's ceilings. */
export function defaultPolicy(ceilings: Limits = hostCeilings()): LimitPolicy {
  const defaults = { ...DEFAULT_LIMITS };
  for (const f of LIMIT_FIELDS) defaults[f] = Math.min(defaults[f], ceilings[f]);
  return { defaults, ceilings: { ...ceilings }, maxContainersPerUser: DEFAULT_MAX_CONTAINERS_PER_USER };
}

/**
 * The limits a container gets: the policy's defaults, overridden by each layer in turn (admin
 * default → class → per-student override; `undefined` fields leave the value below them). Any
 * resulting value that is not a positive number, or is above its ceiling, is refused with
 * LIMIT_EXCEEDED naming the field, the value and the ceiling.
 */
export function effectiveLimits(policy: LimitPolicy, ...layers: Array<Partial<Limits> | undefined>): Limits {
  const out: Limits = { ...policy.defaults };
  for (const layer of layers) {
    if (!layer) continue;
    for (const f of LIMIT_FIELDS) {
      const v = layer[f];
      if (v !== undefined) out[f] = v;
    }
    for (const key of Object.keys(layer)) {
      if (!(LIMIT_FIELDS as readonly string[]).includes(key)) {
        throw new RegError('USAGE', `unknown limit "${key}"`, { field: key, hint: `known limits: ${LIMIT_FIELDS.join(', ')}` });
      }
    }
  }
  for (const f of LIMIT_FIELDS) checkLimit(f, out[f], policy.ceilings[f]);
  return out;
}


export function checkLimit(field: keyof Limits, value: unknown, ceiling: number, prefix = ''): void {
  const shown = `${prefix}${field}`;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (INTEGER_FIELDS.has(field) && !Number.isInteger(value))) {
    throw new RegError('LIMIT_EXCEEDED', `limit ${shown} must be a positive ${INTEGER_FIELDS.has(field) ? 'whole number' : 'number'}, got ${JSON.stringify(value)}`, {
      field: shown,
      hint: `${shown} may be at most ${formatLimit(field, ceiling)}`,
    });
  }
  if (value > ceiling) {
    throw new RegError('LIMIT_EXCEEDED', `limit ${shown} = ${formatLimit(field, value)} is above its ceiling of ${formatLimit(field, ceiling)}`, {
      field: shown,
      hint: `ask for at most ${formatLimit(field, ceiling)}; ceilings are set by the administrator and bounded by this host`,
    });
  }
}

export function formatLimit(field: keyof Limits, v: number): string {
  if (field === 'memoryBytes' || field === 'diskBytes') {
    if (v >= GiB && v % (GiB / 16) === 0) return `${v / GiB} GiB (${v} bytes)`;
    if (v >= MiB) return `${Math.round((v / MiB) * 10) / 10} MiB (${v} bytes)`;
    return `${v} bytes`;
  }
  if (field === 'cpus') return `${v} CPU${v === 1 ? '' : 's'}`;
  return String(v);
}

/** The cgroup part of a container's limits (memory without swap, pids, CPU quota). */
export function cgroupLimitsOf(l: Limits): CgroupLimits {
  return { memoryBytes: l.memoryBytes, swapBytes: 0, pids: l.pids, cpuMillicores: Math.max(10, Math.round(l.cpus * 1000)) };
}

/**
 * Refuses a new container when the user already has `running` of them and the policy's cap is
 * reached (LIMIT_EXCEEDED; the host answers 429).
 */
export function assertContainerCap(policy: LimitPolicy, running: number, who = 'you'): void {
  if (running >= policy.maxContainersPerUser) {
    throw new RegError('LIMIT_EXCEEDED', `${who} already ${who === 'you' ? 'have' : 'has'} ${running} container${running === 1 ? '' : 's'} running: the limit is ${policy.maxContainersPerUser} per user`, {
      field: 'maxContainersPerUser',
      hint: 'end a session you no longer use, then try again',
    });
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Where the administrator's policy lives: $REG_HOME/limits.json (policy-file.ts reads and writes it). */
export const policyFilePath = (home: RegHome) => join(home.root, 'limits.json');

/** The disk part of a container's limits. */
export const diskQuotaOf = (l: Limits): DiskQuota => ({ bytes: l.diskBytes, inodes: l.diskInodes });
