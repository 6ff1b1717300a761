// Stop: Running|Inserting → Stopped. SIGTERM to pid 1 (it forwards to the command), a grace
// period, then every process of the cgroup is killed — which also works against fork bombs and
// processes that ignore SIGTERM — and the container is finalised (outcome, cgroup removed). The
// container's files (upper dir, project dir) stay.

import { forEachBounded } from '../cgroup/kill-loop.js';
import { cgroupName, type EngineContext } from './context.js';
import { isSameProcess, waitForExit } from './proc.js';
import { tracer } from './trace.js';
import { finalise, refresh } from './refresh.js';
import type { ContainerState } from './state.js';
import { assertTransition } from './status.js';

export async function stop(ctx: EngineContext, id: string, opts: { graceMs?: number } = {}): Promise<ContainerState> {
  const s = await refresh(ctx, id);
  assertTransition(s.id, s.status, 'stop');
  const grace = opts.graceMs ?? 3000;
  if (s.initPid && grace > 0) {
    try {
      process.kill(s.initPid, 'SIGTERM');
    } catch {
      // already gone
    }
    await waitForExit(s.initPid, s.initStartTime, grace);
  }
  await ctx.cgroups.killAll(cgroupName(s.id));
  if (s.initPid) await waitForExit(s.initPid, s.initStartTime, 5000);
  return finalise(ctx, s);
}

/** Concurrent steps of a batch (refresh, finalise): bounded, as each one is a few file operations. */
const BATCH_CONCURRENCY = 32;

/** Waits until none of these containers' pid 1 is alive (one loop for all), or the deadline. */
async function waitAllExit(states: ContainerState[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = states.filter((s) => s.initPid);
  while (left.length > 0 && Date.now() < deadline) {
    const still: ContainerState[] = [];
    await forEachBounded(left, BATCH_CONCURRENCY, async (s) => {
      if (await isSameProcess(s.initPid, s.initStartTime)) still.push(s);
    });
    left = still;
    if (left.length > 0) await new Promise((r) => setTimeout(r, 10));
  }
}

export interface BatchResult {
  done: ContainerState[];
  failed: Array<{ id: string; error: unknown }>;
}

/**
 * Stops many containers at once (a class stop, a host shutdown, a benchmark's teardown): SIGTERM
 * to every pid 1, one shared grace period, then every cgroup killed in one batch (killMany) and
 * each container finalised. A container that cannot be stopped (not running, gone) is reported in
 * `failed` and does not hold up the others.
 */
export async function stopMany(ctx: EngineContext, ids: string[], opts: { graceMs?: number } = {}): Promise<BatchResult> {
  const trace = tracer(`stopMany(${ids.length})`);
  const grace = opts.graceMs ?? 3000;
  const running: ContainerState[] = [];
  const out: BatchResult = { done: [], failed: [] };
  await forEachBounded(ids, BATCH_CONCURRENCY, async (id) => {
    try {
      const s = await refresh(ctx, id);
      assertTransition(s.id, s.status, 'stop');
      running.push(s);
    } catch (error) {
      out.failed.push({ id, error });
    }
  });
  if (grace > 0) {
    for (const s of running) {
      try {
        if (s.initPid) process.kill(s.initPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await waitAllExit(running, grace);
  }
  trace('refresh + grace');
  await ctx.cgroups.killMany(running.map((s) => cgroupName(s.id)));
  trace('killMany');
  await waitAllExit(running, 5000);
  trace('pid 1s gone');
  await forEachBounded(running, BATCH_CONCURRENCY, async (s) => {
    try {
      out.done.push(await finalise(ctx, s));
    } catch (error) {
      out.failed.push({ id: s.id, error });
    }
  });
  trace('finalised');
  return out;
}
