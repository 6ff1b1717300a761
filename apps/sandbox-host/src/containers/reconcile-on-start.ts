// At start-up, before anyone can attach: the engine reconciles with the OS (dead containers become
// Stopped, stray cgroups go), then every terminal a previous host left is closed for good — its
// pty died with that host, so nobody could ever attach to it again: stop (if it still runs),
// remove, and mark the row ended by `host-restart`.

import type { Engine } from '@reg/core';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';

export async function reconcileOnStart(engine: Engine, db: Db, log: Log): Promise<string[]> {
  await engine.reconcile();
  const open = await db.container.findMany({ where: { status: { not: 'removed' }, tty: true } });
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
