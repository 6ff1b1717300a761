// Remove: Generated|Stopped → Removed. Deletes the container space (upper, work, its own project
// directory). `force` stops a running container first. A project directory the user passed in
// is theirs and stays.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Where removed container directories wait for their deletion (not a container id: never listed). */
export const trashDir = (ctx: EngineContext) => join(ctx.home.containers, '.trash');
/** Deletions running in the background at once: a batch of 1000 must not flood the threadpool. */
const TRASH_CONCURRENCY = 2;
let trashRunning = 0;
const trashQueue: string[] = [];
const trashIdle: Array<() => void> = [];

function pumpTrash(): void {
  while (trashRunning < TRASH_CONCURRENCY && trashQueue.length > 0) {
    const dir = trashQueue.shift()!;
    trashRunning++;
    // A failure leaves it in .trash, which reconcile() empties.
    void rm(dir, { recursive: true, force: true })
      .catch(() => undefined)
      .finally(() => {
        trashRunning--;
        pumpTrash();
        if (trashRunning === 0 && trashQueue.length === 0) for (const done of trashIdle.splice(0)) done();
      });
  }
}

/** Resolves once every background deletion of this process has finished (tests, shutdown). */
export function trashEmptied(): Promise<void> {
  if (trashRunning === 0 && trashQueue.length === 0) return Promise.resolve();
  return new Promise((resolve) => trashIdle.push(resolve));
}

/**
 * A removed container's directory is renamed into .trash (one operation: the container is gone from
 * every listing at once) and deleted in the background, a couple at a time; rm -r of the upper
 * layer and work dirs was most of a removal. Pending deletions keep the process alive until done.
 */
async function discardDir(ctx: EngineContext, dir: string, id: string): Promise<void> {
  const dest = join(trashDir(ctx), `${id}-${randomBytes(3).toString('hex')}`);
  try {
    await mkdir(trashDir(ctx), { recursive: true });
    await rename(dir, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(dir)) return;
    // EBUSY (a mount point), EXDEV, …: delete it in place, as before.
    await rm(dir, { recursive: true, force: true });
    return;
  }
  trashQueue.push(dest);
  pumpTrash();
}

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
    await discardDir(ctx, p.dir, s.id);
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
