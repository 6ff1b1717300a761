// The cgroup driver interface the lifecycle talks to, and the checks every driver applies to its
// input: container cgroup names and resource limits. The v1 and v2 drivers (v1.ts, v2.ts) only
// differ in which files they write; detect.ts picks one at run time.

import { RegError } from '../errors.js';
import type { CgroupFs } from './cgroupfs.js';

export interface CgroupLimits {
  memoryBytes?: number;
  /** Extra swap allowed on top of memoryBytes; 0 = none. */
  swapBytes?: number;
  pids?: number;
  /** 1000 = one core. */
  cpuMillicores?: number;
}

export interface CgroupStats {
  memoryBytes: number;
  memoryPeakBytes?: number;
  oomKills: number;
  pids: number;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Creates reg/<name> (idempotent) with the limits; returns the cgroup.procs files a launcher must write its pid into (one per v1 controller, one for v2). */
  create(name: string, limits: CgroupLimits): Promise<{ procsFiles: string[] }>;
  setLimits(name: string, limits: CgroupLimits): Promise<void>;
  exists(name: string): Promise<boolean>;
  /** The cgroup.procs files of an existing cgroup (what create() returned for it). */
  procsFiles(name: string): Promise<string[]>;
  pids(name: string): Promise<number[]>;
  stats(name: string): Promise<CgroupStats>;
  /** Kills every process: v2 cgroup.kill if present, else freeze (v1 freezer / v2 cgroup.freeze) + SIGKILL every pid + thaw, repeated until empty or a deadline (fork bombs race you). */
  killAll(name: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** killAll of many cgroups at once: each step for all of them, one shared wait (a class stop, 1000 containers). */
  killMany(names: string[], opts?: { timeoutMs?: number }): Promise<void>;
  /** killAll then rmdir (all v1 controller dirs); idempotent; never leaves a dir behind unless it throws CGROUP_FAILED. */
  remove(name: string): Promise<void>;
  /** Names of Reg's cgroups that exist (for reconciling after a crash). */
  list(): Promise<string[]>;
  /**
   * Renames a cgroup within the parent; its processes stay in it (nothing migrates). v1: rename(2)
   * in every controller. v2: the kernel refuses rename (EPERM), so the driver records an alias and
   * `to` resolves to the same directory from then on. CGROUP_FAILED if `from` is gone (or another
   * process took it first) or `to` exists.
   */
  rename(from: string, to: string): Promise<void>;
  /**
   * Makes an empty cgroup as good as new for the next container: limits back to unlimited, memory
   * reclaimed, resettable counters zeroed. false (and nothing changed that matters) when it cannot
   * be: processes or child cgroups in it, or an OOM kill recorded (that counter never resets).
   */
  resetForReuse(name: string): Promise<boolean>;
  /** Pooled drivers (pool.ts): grow the idle pool to at least n members (a class start). */
  reserve?(n: number): Promise<void>;
  /** Pooled drivers: remove every idle member (temp homes, host shutdown). */
  drainPool?(): Promise<void>;
}

export interface CgroupDriverOptions {
  /** Mount point of the hierarchy (v2) or of the v1 controller mounts; default /sys/fs/cgroup. */
  root?: string;
  /** Directory under root (under each v1 controller) holding Reg's cgroups; default 'reg'. */
  parent?: string;
  /** Filesystem access; a fake tree in tests. */
  fs?: CgroupFs;
  /** v2 only: where renames are recorded as aliases (default /run/reg/cgroup-names/<parent>). */
  names?: string;
}

/** CFS period used by both drivers; quota = millicores × period / 1000. */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses a CFS quota below 1 ms, i.e. 10 millicores at our period. */
const MIN_CPU_MILLICORES = 10;
const MAX_CPU_MILLICORES = 1_000_000;
/** Below this a container cannot even exec a shell; almost certainly a unit mistake (MiB vs bytes). */
const MIN_MEMORY_BYTES = 1 << 20;
/** PID_MAX_LIMIT on 64-bit kernels. */
const MAX_PIDS = 4_194_304;

const NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/**
 * A cgroup directory shares its namespace with the control files of its parent; a name like
 * `memory.max` or `tasks` would collide with one (mkdir fails, or list() mistakes a file for us).
 */
const RESERVED_PREFIXES = ['cgroup', 'memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'io', 'freezer', 'hugetlb', 'rdma', 'misc', 'blkio', 'devices', 'net_cls', 'net_prio', 'perf_event'];
const RESERVED_NAMES = new Set(['tasks', 'notify_on_release', 'release_agent']);

export function isValidCgroupName(name: string): boolean {
  if (!NAME_PATTERN.test(name) || RESERVED_NAMES.has(name)) return false;
  const dot = name.indexOf('.');
  return dot < 0 || !RESERVED_PREFIXES.includes(name.slice(0, dot));
}

export function assertCgroupName(name: string): void {
  if (typeof name !== 'string' || !isValidCgroupName(name)) {
    throw new RegError('USAGE', `invalid cgroup name ${JSON.stringify(name)}`, {
      field: 'name',
      hint: 'use 1-64 characters [a-z0-9_.-], starting with a letter or digit, not shaped like a control file (e.g. memory.max)',
    });
  }
}

function checkInteger(limits: Record<string, unknown>, field: keyof CgroupLimits, min: number, max: number, unit: string): number | undefined {
  const value = limits[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new RegError('USAGE', `cgroup limit ${field} must be an integer from ${min} to ${max} ${unit}, got ${JSON.stringify(value)}`, {
      field,
      hint: field === 'memoryBytes' ? 'memoryBytes is in bytes (64 MiB = 67108864)' : field === 'cpuMillicores' ? 'cpuMillicores: 1000 = one core, at least 10' : `omit ${field} to leave it unlimited`,
    });
  }
  return value;
}

/** Checks a limits object from an untrusted source (API, config file); returns a clean copy. */
export function validateLimits(limits: unknown): CgroupLimits {
  if (limits === undefined || limits === null) return {};
  if (typeof limits !== 'object' || Array.isArray(limits)) {
    throw new RegError('USAGE', 'cgroup limits must be an object', { field: 'limits', hint: 'e.g. { "memoryBytes": 268435456, "pids": 64 }' });
  }
  const record = limits as Record<string, unknown>;
  const known = new Set<string>(['memoryBytes', 'swapBytes', 'pids', 'cpuMillicores']);
  for (const key of Object.keys(record)) {
    if (!known.has(key)) {
      throw new RegError('USAGE', `unknown cgroup limit ${JSON.stringify(key)}`, { field: key, hint: `known limits: ${[...known].join(', ')}` });
    }
  }
  const out: CgroupLimits = {};
  const memoryBytes = checkInteger(record, 'memoryBytes', MIN_MEMORY_BYTES, Number.MAX_SAFE_INTEGER, 'bytes');
  const swapBytes = checkInteger(record, 'swapBytes', 0, Number.MAX_SAFE_INTEGER, 'bytes');
  const pids = checkInteger(record, 'pids', 1, MAX_PIDS, 'processes');
  const cpuMillicores = checkInteger(record, 'cpuMillicores', MIN_CPU_MILLICORES, MAX_CPU_MILLICORES, 'millicores');
  if (memoryBytes !== undefined) out.memoryBytes = memoryBytes;
  if (swapBytes !== undefined) out.swapBytes = swapBytes;
  if (pids !== undefined) out.pids = pids;
  if (cpuMillicores !== undefined) out.cpuMillicores = cpuMillicores;
  return out;
}

export function cpuQuotaUs(millicores: number): number {
  return Math.round((millicores * CPU_PERIOD_US) / 1000);
}
