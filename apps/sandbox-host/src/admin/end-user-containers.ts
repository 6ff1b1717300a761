// Ends every container a user has on this host (terminal or detached), telling the student why:
// the reason is written to Container.endMessage before the session ends, so the terminal page
// shows "stopped by an administrator" (or the like) instead of a bare disconnect. Used when an
// admin disables or deletes an account, resets its password, or stops a container.

import type { Engine } from '@reg/core';
import type { Db } from '../db/client.js';
import type { SessionRegistry } from '../terminals/session-registry.js';

export interface ContainerEnder {
  db: Db;
  engine: Engine;
  sessions: SessionRegistry;
}

/** Ends one container; true when there was something to end. */
export async function endContainer(d: ContainerEnder, id: string, message: string): Promise<boolean> {
  await d.db.container.updateMany({ where: { id }, data: { endMessage: message } });
  if (d.sessions.get(id)) {
    // The message is what the student's terminal shows instead of the reason's default sentence.
    await d.sessions.end(id, 'ended', message);
    // The row keeps the same sentence whatever the registry derived from the reason.
    await d.db.container.updateMany({ where: { id }, data: { endMessage: message } });
    return true;
  }
  const state = await d.engine.inspect(id).catch(() => undefined);
  if (!state || state.status === 'removed') return false;
  await d.engine.remove(id, { force: true });
  await d.db.container.updateMany({ where: { id }, data: { status: 'removed', endReason: 'ended', endedAt: new Date() } });
  return true;
}

/** Ends every live container owned by `userId`; returns how many ended. */
export async function endContainersOf(d: ContainerEnder, userId: string, message: string): Promise<number> {
  const rows = await d.db.container.findMany({ where: { ownerId: userId, status: { not: 'removed' } }, select: { id: true } });
  const live = new Set(rows.map((r) => r.id));
  for (const s of d.sessions.all()) if (s.ownerId === userId) live.add(s.containerId);
  let ended = 0;
  for (const id of live) if (await endContainer(d, id, message).catch(() => false)) ended++;
  return ended;
}
