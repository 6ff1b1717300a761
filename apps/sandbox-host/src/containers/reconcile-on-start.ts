// At start-up, before anyone can attach: the engine reconciles with the OS (dead containers become
// Stopped, stray cgroups go), then every container a previous host left is dealt with by one
// policy, so none is left without an owner-side lifetime:
// - a terminal: closed for good — its pty died with that host, so nobody could ever attach to it
//   again: stop (if it still runs), remove, and mark the row ended by `host-restart`;
// - a detached container (created with terminal: false) that still runs: re-adopted — it keeps
//   running for its owner, its output in its bounded log — but only until DETACHED_LIFETIME after
//   its start (stopExpired, run here and periodically), then it is stopped;
// - one that is generated or stopped and older than ORPHAN_GRACE: removed (its disk volume and
//   uid are released) and marked ended by `host-restart`.

import type { Engine } from '@reg/core';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';

/** How long a detached container may run (from its start) before the host stops it. */
export const DETACHED_LIFETIME_MS = 4 * 60 * 60 * 1000;
/** How long a generated or stopped API container may sit unused before a restarted host removes it. */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000;

/** Stops detached containers that have run longer than `lifetimeMs`; returns their ids. */
export async function stopExpired(engine: Engine, db: Db, log: Log, lifetimeMs = DETACHED_LIFETIME_MS, now = Date.now(), hostId?: string): Promise<string[]> {
  const rows = await db.container.findMany({ where: { status: { not: 'removed' }, tty: false, ...(hostId !== undefined && { hostId }) } });
  const stopped: string[] = [];
  for (const row of rows) {
    const state = await engine.inspect(row.id).catch(() => undefined);
    if (!state || state.status !== 'running' || !state.startedAt || now - Date.parse(state.startedAt) < lifetimeMs) continue;
    const s = await engine.stop(row.id).catch((e) => void log.error(`stopping ${row.id} past its lifetime`, e));
    if (!s) continue;
    await db.container.update({ where: { id: row.id }, data: { status: s.status, endReason: 'lifetime', endedAt: new Date(), outcome: s.outcome?.outcome ?? null } });
    stopped.push(row.id);
  }
  return stopped;
}

export async function reconcileOnStart(engine: Engine, db: Db, log: Log, opts: { orphanGraceMs?: number; lifetimeMs?: number; hostId?: string } = {}): Promise<string[]> {
  await engine.reconcile();
  // In a cluster the database holds every host's containers: only this host's are its business.
  const mine = opts.hostId !== undefined ? { hostId: opts.hostId } : {};
  // Detached containers: the running ones are re-adopted (within their lifetime), stale ones removed.
  const detached = await db.container.findMany({ where: { status: { not: 'removed' }, tty: false, ...mine } });
  for (const row of detached) {
    const state = await engine.inspect(row.id).catch(() => undefined);
    if (state?.status === 'running' || state?.status === 'inserting') continue;
    const since = Date.parse(state?.finishedAt ?? state?.createdAt ?? '') || row.createdAt.getTime();
    if (state && Date.now() - since < (opts.orphanGraceMs ?? ORPHAN_GRACE_MS)) continue;
    if (state) await engine.remove(row.id, { force: true }).catch((e) => log.error(`removing ${row.id} left by the previous host`, e));
    await db.container.update({ where: { id: row.id }, data: { status: 'removed', endReason: 'host-restart', endedAt: new Date() } });
  }
  await stopExpired(engine, db, log, opts.lifetimeMs, Date.now(), opts.hostId);
  const open = await db.container.findMany({ where: { status: { not: 'removed' }, tty: true, ...mine } });
  const closed: string[] = [];
  for (const row of open) {
    const state = await engine.inspect(row.id).catch(() => undefined);
    if (state) {
      await engine.remove(row.id, { force: true }).catch((e) => log.error(`removing ${row.id} left by the previous host`, e));
    }
    await db.container.update({
      where: { id: row.id },
      data: {
        status: 'removed',
        endReason: 'host-restart',
        endedAt: new Date(),
        ...(state?.outcome && { outcome: state.outcome.outcome, outcomeCode: state.outcome.code ?? null, outcomeSignal: state.outcome.signal ?? null }),
      },
    });
    closed.push(row.id);
  }
  return closed;
}
