// The /admin socket.io namespace: the live memory dashboard. Admins only (scope admin, checked at
// the handshake with the same authorize() as the routes); each socket gets a snapshot every
// sample while connected, and may ask for history. Payloads are zod-checked both ways: what the
// client sends, and what the host emits (a malformed snapshot is a bug to log, not to ship).

import { historyRangeSchema, memorySnapshotSchema, type AdminClientToServerEvents, type AdminServerToClientEvents } from '@reg/protocol';
import type { Server } from 'socket.io';
import { handshakePrincipal } from '../auth/handshake-principal.js';
import type { Principal } from '../auth/principal.js';
import { authorize } from '../auth/scopes.js';
import type { Log } from '../log.js';
import type { MemoryMonitor } from './memory-monitor.js';

export const ADMIN_NAMESPACE = '/admin';

export function registerAdminNamespace(io: Server, deps: { monitor: MemoryMonitor; cookieName: string; authenticate: (token: string) => Promise<Principal | undefined>; log: Log }): void {
  const nsp = io.of(ADMIN_NAMESPACE) as unknown as import('socket.io').Namespace<AdminClientToServerEvents, AdminServerToClientEvents>;
  nsp.use(async (socket, next) => {
    try {
      const p = await handshakePrincipal(socket.handshake.headers, deps.cookieName, deps.authenticate);
      await authorize(p, 'admin', { membership: async () => undefined });
      socket.data.principal = p;
      next();
    } catch (e) {
      next(Object.assign(new Error((e as Error).message), { data: { code: (e as { code?: string }).code ?? 'FORBIDDEN' } }));
    }
  });
  nsp.on('connection', (socket) => {
    let warned = false;
    const unwatch = deps.monitor.watch((s) => {
      const checked = memorySnapshotSchema.safeParse(s);
      if (!checked.success) {
        if (!warned) deps.log.error('admin snapshot does not match its schema', checked.error);
        warned = true;
        return;
      }
      socket.emit('snapshot', checked.data);
    });
    socket.on('history', async (range, ack) => {
      if (typeof ack !== 'function') return;
      const r = historyRangeSchema.safeParse(range);
      if (!r.success) return ack({ error: 'range: live, hour, day or month' });
      try {
        ack(await deps.monitor.history(r.data));
      } catch (e) {
        deps.log.error('admin history', e);
        ack({ error: 'the history could not be read' });
      }
    });
    socket.on('disconnect', unwatch);
  });
}
