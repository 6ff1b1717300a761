// What an admin does from the memory dashboard: read the current snapshot and its history (also
// live over the /admin socket), stop a container (the student's terminal says "stopped by an
// administrator"), end idle terminals now. Each action is audited.

import { historyRangeSchema, historySchema, memorySnapshotSchema } from '@reg/protocol';
import { z } from 'zod';
import { clientAddress } from '../auth/client-address.js';
import { AccessError } from '../auth/principal.js';
import type { Db } from '../db/client.js';
import { route, type ApiRoute } from '../http/api-routes.js';
import type { MemoryMonitor } from '../metrics/memory-monitor.js';
import type { SessionRegistry } from '../terminals/session-registry.js';
import { audit } from './audit.js';
import { endContainer, type ContainerEnder } from './end-user-containers.js';

export const STOPPED_BY_ADMIN = 'stopped by an administrator';
export const CULLED_BY_ADMIN = 'ended by an administrator because it was idle';

export function dashboardRoutes(d: ContainerEnder & { db: Db; sessions: SessionRegistry; monitor: MemoryMonitor }): ApiRoute[] {
  return [
    route({ method: 'get', path: '/api/admin/memory', operationId: 'adminMemory', scope: 'admin', summary: 'The memory dashboard\'s current figures (the same as the /admin socket\'s snapshot event)', status: 200, response: memorySnapshotSchema, handle: () => d.monitor.current() }),
    route({ method: 'get', path: '/api/admin/memory/history', operationId: 'adminMemoryHistory', scope: 'admin', summary: 'Memory history: ?range=live (raw samples, last 15 min), hour or day (minute rollups), month (ten-minute rollups)', status: 200, response: historySchema, handle: ({ c }) => d.monitor.history(historyRangeSchema.parse(c.req.query('range') ?? 'hour')) }),
    route({
      method: 'post',
      path: '/api/admin/containers/:id/stop',
      operationId: 'adminStopContainer',
      scope: 'admin',
      summary: 'Stop any container; its student sees "stopped by an administrator"',
      status: 200,
      response: z.object({ ok: z.literal(true), stopped: z.boolean() }),
      handle: async ({ principal, id, c }) => {
        if (!/^[0-9a-f]{12}$/.test(id)) throw new AccessError('NOT_FOUND', `no container ${id}`);
        const row = await d.db.container.findUnique({ where: { id }, select: { ownerId: true, classId: true, owner: { select: { username: true } } } });
        const stopped = await endContainer(d, id, STOPPED_BY_ADMIN);
        if (!stopped && !row) throw new AccessError('NOT_FOUND', `no container ${id}`);
        await audit(d.db, principal, { action: 'container.stop', targetType: 'container', targetId: id, ...(row?.classId && { classId: row.classId }), details: { owner: row?.owner?.username ?? null, stopped }, ip: clientAddress(c) });
        return { ok: true as const, stopped };
      },
    }),
    route({
      method: 'post',
      path: '/api/admin/cull-idle',
      operationId: 'adminCullIdle',
      scope: 'admin',
      summary: 'End now every terminal with no activity for idleSeconds (default 600) or already in its idle warning',
      body: z.object({ idleSeconds: z.number().int().min(0).max(86_400).default(600) }).strict(),
      status: 200,
      response: z.object({ ok: z.literal(true), ended: z.array(z.string()) }),
      handle: async ({ principal, body, c }) => {
        const now = Date.now();
        const idle = d.sessions.all().filter((s) => s.idle || now - s.lastActivityAt.getTime() >= body.idleSeconds * 1000);
        for (const s of idle) await endContainer(d, s.containerId, CULLED_BY_ADMIN);
        const ended = idle.map((s) => s.containerId);
        await audit(d.db, principal, { action: 'containers.cull-idle', targetType: 'container', details: { ended, idleSeconds: body.idleSeconds }, ip: clientAddress(c) });
        return { ok: true as const, ended };
      },
    }),
  ];
}
