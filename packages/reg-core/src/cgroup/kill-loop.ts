// The one kill algorithm both drivers share. A cgroup cannot be emptied by reading its pids once
// and killing them: a fork bomb adds processes between the read and the kill. So either the kernel
// kills the whole group atomically (v2 cgroup.kill, which also blocks new forks), or we freeze the
// group first so nothing in it can fork, kill every pid while frozen, and thaw so the SIGKILLs
// are delivered. Without a freezer we fall back to repeating kill passes until the group is empty.

import { RegError } from '../errors.js';
import { sleep } from './cgroupfs.js';

export interface KillOps {
  /** For messages: the cgroup being emptied. */
  what: string;
  listPids(): Promise<number[]>;
  kill(pid: number): void;
  /** Kernel-side atomic kill (v2 cgroup.kill); when present, freeze/thaw are not used. */
  killGroup?: () => Promise<void>;
  freeze?: () => Promise<void>;
  isFrozen?: () => Promise<boolean>;
  thaw?: () => Promise<void>;
}

/** How long one pass waits for FROZEN: a task in uninterruptible sleep can hold FREEZING forever. */
const FREEZE_WAIT_MS = 500;
/** How long one pass waits for killed processes to leave the cgroup before trying again. */
const EXIT_WAIT_MS = 250;
const POLL_MS = 5;

async function waitFor(check: () => Promise<boolean>, until: number): Promise<boolean> {
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= until) return false;
    await sleep(POLL_MS);
  }
}

export async function killUntilEmpty(ops: KillOps, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const isEmpty = async () => (await ops.listPids()).length === 0;
  for (;;) {
    if (await isEmpty()) return;
    if (ops.killGroup) {
      await ops.killGroup();
    } else if (ops.freeze && ops.thaw) {
      await ops.freeze();
      try {
        if (ops.isFrozen) await waitFor(ops.isFrozen, Math.min(deadline, Date.now() + FREEZE_WAIT_MS));
        // Read the pids only once frozen: from here on the list cannot grow.
        for (const pid of await ops.listPids()) ops.kill(pid);
      } finally {
        // Always thaw: a frozen cgroup would hold the SIGKILLs pending forever.
        await ops.thaw();
      }
    } else {
      for (const pid of await ops.listPids()) ops.kill(pid);
    }
    if (await waitFor(isEmpty, Math.min(deadline, Date.now() + EXIT_WAIT_MS))) return;
    if (Date.now() >= deadline) {
      const left = await ops.listPids();
      if (left.length === 0) return;
      throw new RegError('CGROUP_FAILED', `could not kill every process in ${ops.what} within ${timeoutMs} ms (${left.length} left: ${left.slice(0, 10).join(', ')})`, {
        hint: 'processes stuck in uninterruptible sleep (D state, e.g. on a hung NFS mount) cannot be killed; check /proc/<pid>/stack, or retry with a longer timeout',
      });
    }
  }
}

/** Runs fn over items, at most `limit` at a time (cgroupfs writes go through libuv's threadpool). */
export async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const BATCH_CONCURRENCY = 32;

/**
 * killUntilEmpty for many cgroups at once (stopping a class, a host shutdown): the same rounds,
 * but every group goes through each step before anyone waits, and one poll loop watches them all,
 * so 1000 cgroups cost about one cgroup's waiting instead of a thousand in a row. v1: freeze all,
 * kill every pid once, thaw all; v2: cgroup.kill each.
 */
export async function killManyUntilEmpty(groups: KillOps[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const nonEmpty = async (list: KillOps[]) => {
    const out: KillOps[] = [];
    await forEachBounded(list, BATCH_CONCURRENCY, async (g) => {
      if ((await g.listPids()).length > 0) out.push(g);
    });
    return out;
  };
  let pending = await nonEmpty(groups);
  while (pending.length > 0) {
    const frozen: KillOps[] = [];
    try {
      await forEachBounded(pending, BATCH_CONCURRENCY, async (g) => {
        if (g.killGroup) return g.killGroup();
        if (g.freeze && g.thaw) {
          await g.freeze();
          frozen.push(g);
        } else for (const pid of await g.listPids()) g.kill(pid);
      });
      if (frozen.length > 0) {
        const until = Math.min(deadline, Date.now() + FREEZE_WAIT_MS);
        let freezing = frozen.filter((g) => g.isFrozen);
        while (freezing.length > 0 && Date.now() < until) {
          const still: KillOps[] = [];
          await forEachBounded(freezing, BATCH_CONCURRENCY, async (g) => {
            if (!(await g.isFrozen!())) still.push(g);
          });
          freezing = still;
          if (freezing.length > 0) await sleep(POLL_MS);
        }
        // Only once frozen: from here on no list can grow.
        await forEachBounded(frozen, BATCH_CONCURRENCY, async (g) => {
          for (const pid of await g.listPids()) g.kill(pid);
        });
      }
    } finally {
      // Always thaw: a frozen cgroup would hold the SIGKILLs pending forever.
      await forEachBounded(frozen, BATCH_CONCURRENCY, async (g) => g.thaw!());
    }
    const until = Math.min(deadline, Date.now() + EXIT_WAIT_MS);
    for (;;) {
      pending = await nonEmpty(pending);
      if (pending.length === 0 || Date.now() >= until) break;
      await sleep(POLL_MS * 2);
    }
    if (pending.length > 0 && Date.now() >= deadline) {
      throw new RegError('CGROUP_FAILED', `could not kill every process in ${pending.length} cgroups within ${timeoutMs} ms (${pending.slice(0, 5).map((g) => g.what).join(', ')})`, {
        hint: 'processes stuck in uninterruptible sleep (D state) cannot be killed; check /proc/<pid>/stack, or retry with a longer timeout',
      });
    }
  }
}
