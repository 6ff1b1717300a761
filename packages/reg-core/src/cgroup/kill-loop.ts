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
