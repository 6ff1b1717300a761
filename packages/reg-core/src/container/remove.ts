// Remove: Generated|Stopped → Removed. Deletes the container space (upper, work, its own project
// directory). `force` stops a running container first. A project directory the user passed in
// is theirs and stays.

import { rm } from 'node:fs/promises';
import { isRegError, storeIoError } from '../errors.js';
import { destroyVolume } from '../quota/volume.js';
import { cgroupName, removeCgroup, type EngineContext } from './context.js';
import { refresh } from './refresh.js';
import { waitForExit } from './proc.js';
import { containerPaths, hasVolume, releaseMarkers, writablePaths, type ContainerState } from './state.js';
import { assertTransition } from './status.js';
import { forEachBounded } from '../cgroup/kill-loop.js';
import { tracer } from './trace.js';
import { stop, stopMany, type BatchResult } from './stop.js';

export async function remove(ctx: EngineContext, id: string, opts: { force?: boolean } = {}): Promise<ContainerState> {
  let s = await refresh(ctx, id);
  if (opts.force && (s.status === 'running' || s.status === 'inserting')) s = await stop(ctx, s.id, { graceMs: 0 });
  if (!(opts.force && s.status === 'generating')) assertTransition(s.id, s.status, 'remove');
  await removeCgroup(ctx, s.id); // a no-op unless a crash left it behind
  // The log helper ends once the container's output pipe is closed; its log is about to go anyway.
  if (s.logPid && !(await waitForExit(s.logPid, s.logStartTime, 1000, 20))) {
    try {
      process.kill(s.logPid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await waitForExit(s.logPid, s.logStartTime, 1000, 10);
  }
  const p = containerPaths(ctx.home, s.id);
  try {
    // The quota volume first: rm -r into a mounted filesystem would empty it and then fail.
    // (An ephemeral layer's tmpfs went with the container's mount namespace.)
    if (hasVolume(s)) await destroyVolume(p.layerImage, writablePaths(ctx.home, s).layer);
    await rm(p.dir, { recursive: true, force: true });
  } catch (e) {
    if (isRegError(e)) throw e;
    throw storeIoError(e, `removing container ${s.id}`, p.dir);
  }
  await releaseMarkers(ctx.home, s);
  return { ...s, status: 'removed' };
}

/**
 * Removes many containers at once; `force` stops the running ones first in one batch (stopMany),
 * so 1000 containers are not stopped one after the other. Failures are reported per container.
 */
export async function removeMany(ctx: EngineContext, ids: string[], opts: { force?: boolean } = {}): Promise<BatchResult> {
  const trace = tracer(`removeMany(${ids.length})`);
  const out: BatchResult = { done: [], failed: [] };
  let targets = ids;
  if (opts.force) {
    const running: string[] = [];
    await forEachBounded(ids, 32, async (id) => {
      const s = await refresh(ctx, id).catch(() => undefined);
      if (s && (s.status === 'running' || s.status === 'inserting')) running.push(s.id);
    });
    const stopped = await stopMany(ctx, running, { graceMs: 0 });
    const failedStop = new Set(stopped.failed.map((f) => f.id));
    out.failed.push(...stopped.failed);
    targets = ids.filter((id) => !failedStop.has(id));
    trace('stopped');
  }
  await forEachBounded(targets, 32, async (id) => {
    try {
      out.done.push(await remove(ctx, id, opts));
    } catch (error) {
      out.failed.push({ id, error });
    }
  });
  trace('removed');
  return out;
}
