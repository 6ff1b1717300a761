// The narrow door between the drivers and the cgroup filesystem. Drivers never call node:fs
// directly: they go through a CgroupFs, so the v2 driver can run against a fake tree of plain files
// (fake-cgroupfs.ts) that emulates what the kernel does on mkdir, rmdir and writes. Also holds the
// parsers for the cgroupfs file formats both drivers read.

import { constants as fsConstants, existsSync, promises as fsp, readdirSync, readFileSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { basename } from 'node:path';
import { RegError } from '../errors.js';

export interface CgroupFs {
  /** Reads a control file; undefined when it does not exist (controller absent, cgroup gone). */
  read(path: string): Promise<string | undefined>;
  /** Writes a control file in one write(2), without creating it. */
  write(path: string, value: string): Promise<void>;
  /** mkdir; true if created, false if the directory already existed. */
  mkdir(path: string): Promise<boolean>;
  /** rmdir of a cgroup directory; ENOENT is success. */
  rmdir(path: string): Promise<void>;
  isDir(path: string): Promise<boolean>;
  exists(path: string): Promise<boolean>;
  /** Names of the subdirectories (child cgroups); [] when path does not exist. */
  subdirs(path: string): Promise<string[]>;
  /** Sends SIGKILL; a process that is already gone is not an error. */
  kill(pid: number): void;
  /** rename(2) of a cgroup directory within its parent (v1 only: a v2 kernel answers EPERM). */
  rename(from: string, to: string): Promise<void>;
}

export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Control files whose write can reclaim memory or wait on the cgroup mutex: written off the event loop. */
const MAY_BLOCK = new Set([
  'memory.force_empty', 'memory.reclaim', 'memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.max', 'memory.high', 'memory.swap.max',
  'cgroup.procs', 'tasks', 'cgroup.subtree_control', 'memory.use_hierarchy',
]);

/**
 * Reads, stats, directory listings and most control-file writes are synchronous: cgroupfs answers them from memory without
 * taking the cgroup mutex, in microseconds, and a hop through libuv's threadpool cost ten times
 * that (stats over 5000 containers, a batch teardown of 1000, are thousands of these). Writes,
 * mkdir, rmdir, rename and the writes in MAY_BLOCK stay asynchronous: they can wait on the cgroup
 * mutex behind another task's migration, or reclaim memory.
 */
export const realCgroupFs: CgroupFs = {
  async read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      // ENODEV: the cgroup was removed (by a concurrent remove) while we read it: gone as well.
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENODEV') return undefined;
      throw e;
    }
  },
  async write(path, value) {
    // No O_CREAT: a missing control file means a missing controller, which must surface as ENOENT.
    if (!MAY_BLOCK.has(basename(path))) {
      const fd = openSync(path, fsConstants.O_WRONLY);
      try {
        writeSync(fd, value);
      } finally {
        closeSync(fd);
      }
      return;
    }
    const fh = await fsp.open(path, fsConstants.O_WRONLY);
    try {
      await fh.write(value);
    } finally {
      await fh.close();
    }
  },
  async mkdir(path) {
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.mkdir(path);
        return true;
      } catch (e) {
        if (errnoOf(e) !== 'EEXIST') throw e;
        if (await realCgroupFs.isDir(path)) return false;
        // It existed and was removed before we looked (an empty parent another container's
        // teardown rmdir'd): make it again.
        if (attempt >= 3) throw e;
      }
    }
  },
  async rmdir(path) {
    try {
      await fsp.rmdir(path);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  },
  async isDir(path) {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  async exists(path) {
    return existsSync(path);
  },
  async subdirs(path) {
    try {
      return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw e;
    }
  },
  kill(pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      if (errnoOf(e) !== 'ESRCH') throw e;
    }
  },
  rename(from, to) {
    return fsp.rename(from, to);
  },
};

/** Wraps an fs failure on a cgroup file into CGROUP_FAILED with a hint matched to the errno. */
export function cgroupError(what: string, file: string, e: unknown): RegError {
  const errno = errnoOf(e);
  const hints: Record<string, string> = {
    EACCES: 'run Reg as root (or with a delegated cgroup subtree)',
    EPERM: 'run Reg as root (or with a delegated cgroup subtree)',
    EROFS: 'the cgroup filesystem is mounted read-only (inside a container?); mount it rw or run Reg on the host',
    ENOENT: 'the controller is not enabled for this cgroup; check cgroup.controllers / the v1 mounts under /sys/fs/cgroup',
    EBUSY: 'the cgroup still has processes or children (or the new limit is below current usage)',
    EINVAL: 'the kernel rejected the value; check the limit is in range for this kernel',
    ENOTSUP: 'this kernel does not support the file; upgrade the kernel or drop the limit',
  };
  const message = `${what}: ${errno ?? ''} ${(e as Error)?.message ?? String(e)}`.replace(/\s+/g, ' ');
  return new RegError('CGROUP_FAILED', message, {
    file,
    hint: (errno && hints[errno]) ?? 'check dmesg and the cgroup mounts under /sys/fs/cgroup',
    cause: e,
  });
}

/** Parses cgroup.procs / tasks: one decimal pid per line. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const pid = Number.parseInt(line, 10);
    if (pid > 0) out.push(pid);
  }
  return out;
}

/** Value of `key` in a flat-keyed file (memory.events, memory.oom_control, cgroup.events); undefined if absent. */
export function parseKeyedValue(text: string | undefined, key: string): number | undefined {
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && line.slice(0, space) === key) {
      const value = Number(line.slice(space + 1).trim());
      return Number.isFinite(value) ? value : undefined;
    }
  }
  return undefined;
}

/** A single-number file (memory.current, pids.current); undefined if absent or "max". */
export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text.trim());
  return Number.isFinite(value) && text.trim() !== '' ? value : undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * rmdir, retrying on EBUSY until the deadline: right after SIGKILL the processes are still
 * exiting, and a v1 cgroup stays busy until the kernel has finished taking them off it.
 */
export async function rmdirRetrying(fs: CgroupFs, path: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      await fs.rmdir(path);
      return;
    } catch (e) {
      if (errnoOf(e) !== 'EBUSY' || Date.now() >= deadline) throw cgroupError('cannot remove cgroup', path, e);
    }
    await sleep(10);
  }
}

/** Writes one control file, turning a failure into CGROUP_FAILED naming the file and value. */
export async function writeControl(fs: CgroupFs, file: string, value: string): Promise<void> {
  try {
    await fs.write(file, value);
  } catch (e) {
    throw cgroupError(`cannot write "${value}" to cgroup file`, file, e);
  }
}

/** Space-separated words of a file such as cgroup.controllers; [] if absent. */
export function parseWords(text: string | undefined): string[] {
  return text ? text.split(/\s+/).filter(Boolean) : [];
}

export function cgroupNotFound(name: string, dir: string): RegError {
  return new RegError('CGROUP_FAILED', `cgroup ${name} does not exist`, {
    file: dir,
    hint: 'it was removed (or never created); create it first, or reconcile with list()',
  });
}

export function cgroupExists(name: string, dir: string): RegError {
  return new RegError('CGROUP_FAILED', `cgroup ${name} already exists`, {
    file: dir,
    hint: 'a container of that id is still running (or its cgroup was left behind); remove it first',
  });
}
