// A cgroup v1 memory group of the bench's own, for processes no engine puts in one (bare
// processes, dockerd and its daemons), so that every engine's memory can also be read as what
// its cgroups are charged (memory.usage_in_bytes: anonymous memory, page cache and kernel
// objects such as dentries and inodes, each page charged once, to the group that touched it
// first). Unlike MemTotal − MemFree, this figure is not moved by the other work on the machine.

import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanup } from './cleanup.js';
import { waitUntil } from './processes.js';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';

export class MemoryGroup {
  private constructor(readonly dir: string) {}

  /** Creates reg-bench-NAME in the v1 memory hierarchy; undefined on a host without one. */
  static async create(name: string, cleanup: Cleanup): Promise<MemoryGroup | undefined> {
    if (!existsSync(join(MEMORY_ROOT, 'cgroup.procs'))) return undefined;
    const dir = join(MEMORY_ROOT, `reg-bench-${name}-${process.pid}`);
    await mkdir(dir, { recursive: true });
    // Charges follow a process moved in (bit 0: anonymous, bit 1: file pages it mapped).
    await writeFile(join(dir, 'memory.move_charge_at_immigrate'), '3').catch(() => {});
    const g = new MemoryGroup(dir);
    cleanup.add(`cgroup ${dir}`, () => g.remove());
    return g;
  }

  get procsFile(): string {
    return join(this.dir, 'cgroup.procs');
  }

  async add(pid: number): Promise<void> {
    await writeFile(this.procsFile, String(pid));
  }

  async usage(): Promise<number> {
    return usageOf(this.dir);
  }

  /** Moves whatever is still inside back to the root group, then removes the group (children first). */
  async remove(): Promise<void> {
    await removeGroupTree(this.dir);
  }
}

async function removeGroupTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await removeGroupTree(join(dir, e.name));
  const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  for (const pid of pids) await writeFile(join(MEMORY_ROOT, 'cgroup.procs'), pid).catch(() => {});
  await waitUntil(async () => {
    try {
      await rmdir(dir);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }, 5000, 50);
}

/** memory.usage_in_bytes of a v1 memory cgroup directory (0 if it is gone). */
export async function usageOf(dir: string): Promise<number> {
  return Number((await readFile(join(dir, 'memory.usage_in_bytes'), 'utf8').catch(() => '0')).trim());
}

/** The v1 memory cgroup directory of a process. */
export async function memoryCgroupOf(pid: number): Promise<string | undefined> {
  const line = (await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')).split('\n').find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (!line) return undefined;
  return join(MEMORY_ROOT, line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1));
}
