// Picks the cgroup driver for this host at run time. Production hosts are unified (v2); older and
// "hybrid" hosts mount v1 controllers under /sys/fs/cgroup and an empty cgroup2 at
// /sys/fs/cgroup/unified, which is useless for limits, so hybrid counts as v1.

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import { type CgroupFs, realCgroupFs } from './cgroupfs.js';
import type { CgroupDriver } from './driver.js';
import { CgroupV1Driver } from './v1.js';
import { CgroupV2Driver } from './v2.js';
import { type CgroupPoolOptions, PooledCgroupDriver, poolOptionsFromEnv } from './pool.js';

const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface DetectOptions {
  /** default /sys/fs/cgroup */
  root?: string;
  /** default 'reg' */
  parent?: string;
  /** Skip detection (tests, or an operator who knows better). */
  version?: 1 | 2;
  /** Filesystem access; a fake tree in tests. */
  fs?: CgroupFs;
  /** v2: where renames are recorded (see CgroupV2Driver). */
  names?: string;
  /**
   * Put a pool of recycled cgroups in front of the driver (pool.ts). `'env'`: as REG_CGROUP_POOL
   * and REG_CGROUP_POOL_MAX/MIN say (on unless REG_CGROUP_POOL=0). Default: no pool.
   */
  pool?: CgroupPoolOptions | false | 'env';
}

async function isCgroup2Mount(root: string): Promise<boolean> {
  try {
    return (await fsp.statfs(root)).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

export async function detectCgroupVersion(opts: DetectOptions = {}): Promise<1 | 2> {
  if (opts.version !== undefined) return opts.version;
  const root = opts.root ?? '/sys/fs/cgroup';
  const fs = opts.fs ?? realCgroupFs;
  // The file check also recognises a fake tree, which is a plain directory.
  if ((await isCgroup2Mount(root)) || (await fs.exists(join(root, 'cgroup.controllers')))) return 2;
  if (await fs.exists(join(root, 'memory', 'cgroup.procs'))) return 1;
  throw new RegError('CGROUP_FAILED', `no usable cgroup hierarchy at ${root}`, {
    file: root,
    hint: 'mount cgroup2 at /sys/fs/cgroup (unified, preferred) or the v1 memory controller at /sys/fs/cgroup/memory; inside a container, run with the host cgroupfs mounted rw',
  });
}

export async function detectCgroupDriver(opts: DetectOptions = {}): Promise<CgroupDriver> {
  const version = await detectCgroupVersion(opts);
  const driverOpts = {
    ...(opts.root !== undefined && { root: opts.root }),
    ...(opts.parent !== undefined && { parent: opts.parent }),
    ...(opts.fs !== undefined && { fs: opts.fs }),
  };
  const base = version === 2 ? new CgroupV2Driver({ ...driverOpts, ...(opts.names !== undefined && { names: opts.names }) }) : new CgroupV1Driver(driverOpts);
  const pool = opts.pool === 'env' ? poolOptionsFromEnv() : opts.pool;
  return pool ? new PooledCgroupDriver(base, pool) : base;
}
