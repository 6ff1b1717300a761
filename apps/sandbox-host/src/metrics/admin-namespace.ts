// The /admin socket.io namespace: the live memory dashboard. Admins only (scope admin, checked at
// the handshake with the same authorize() as the routes); each socket gets a snapshot every
// sample while connected, and may ask for history. Payloads are zod-checked both ways: what the
// client sends, and what the host emits (a malformed snapshot is a bug to log, not to ship).
// The right to watch is checked again every RECHECK_MS: an admin who signs out, is disabled or
// demoted stops receiving within seconds, not when the tab closes.

import { historyRangeSchema, memorySnapshotSchema, type AdminClientToServerEvents, type AdminServerToClientEvents } from '@reg/protocol';
import type { Server } from 'socket.io';
import { handshakePrincipal } from '../auth/handshake-principal.js';
import { AccessError, type Principal } from '../auth/principal.js';
import { authorize } from '../auth/scopes.js';
import type { Log } from '../log.js';
import type { MemoryMonitor } from './memory-monitor.js';

export const ADMIN_NAMESPACE = '/admin';
const RECHECK_MS = 5000;

export function registerAdminNamespace(io: Server, deps: { monitor: MemoryMonitor; cookieName: string; authenticate: (token: string) => Promise<Principal | undefined>; log: Log }): void {
  const nsp = io.of(ADMIN_NAMESPACE) as unknown as import('socket.io').Namespace<AdminClientToServerEvents, AdminServerToClientEvents>;
  /** The socket's admin, or an AccessError (not signed in, not an admin, initial password unchanged). */
  const adminOf = async (headers: Record<string, string | string[] | undefined>) => {
    const p = await handshakePrincipal(headers, deps.cookieName, deps.authenticate);
    await authorize(p, 'admin', { membership: async () => undefined });
    if (p?.kind === 'user' && p.mustChangePassword) throw new AccessError('FORBIDDEN', 'choose a new password first');
    return p;
  };
  nsp.use(async (socket, next) => {
    try {
      socket.data.principal = await adminOf(socket.handshake.headers);
      next();
    } catch (e) {
      next(Object.assign(new Error((e as Error).message), { data: { code: (e as { code?: string }).code ?? 'FORBIDDEN' } }));
    }
  });
  const allowed = async (headers: Record<string, string | string[] | undefined>) => {
    try {
      await adminOf(headers);
      return true;
    } catch {
      return false;
    }
  };
  nsp.on('connection', (socket) => {
    let warned = false;
    let checkedAt = Date.now();
    let checking = false;
    const unwatch = deps.monitor.watch((s) => {
      if (Date.now() - checkedAt >= RECHECK_MS && !checking) {
        checking = true;
        void allowed(socket.handshake.headers).then((ok) => {
          checking = false;
          checkedAt = Date.now();
          if (!ok) {
            unwatch();
            socket.disconnect(true);
          }
        });
      }
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
