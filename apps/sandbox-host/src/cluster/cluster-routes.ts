// Routes for the web origin and the other hosts (never browsers): which hosts are there, which
// host runs a container, where a student's next terminal would go. Every one requires the cluster
// header (request-auth.ts); anything else is 401 with the reason.

import type { Context, Hono } from 'hono';
import type { Engine } from '@reg/core';
import type { Db } from '../db/client.js';
import { z } from 'zod';
import { prepullBodySchema, prepullHere } from './prepull.js';
import type { ClusterNode } from './cluster-node.js';
import type { ClassRunner, PrepareResult } from '../classes/class-runner.js';
import { isRegError } from '@reg/core';
import { AccessError } from '../auth/principal.js';
import { listClusterHosts } from './host-list.js';

const prepareBodySchema = z.object({ runId: z.string().min(1).max(100), userIds: z.array(z.string().min(1).max(100)).max(20_000) }).strict();

export function registerClusterRoutes(app: Hono<any>, node: ClusterNode, db: Db, engine: () => Engine, runner: ClassRunner): void {
  const guard = (c: Context) => {
    const v = node.verify(c);
    return v.ok ? undefined : c.json({ error: { code: 'UNAUTHENTICATED', message: `cluster routes need the cluster's signed header: ${v.reason}` } }, 401);
  };

  app.get('/api/cluster/hosts', async (c) => {
    const refused = guard(c);
    if (refused) return refused;
    return c.json({ self: node.id, hosts: await listClusterHosts(node, db) });
  });

  app.get('/api/cluster/containers/:id/host', async (c) => {
    const refused = guard(c);
    if (refused) return refused;
    const row = await db.container.findUnique({ where: { id: c.req.param('id') }, select: { hostId: true, status: true, endReason: true } });
    if (!row?.hostId) return c.json({ error: { code: 'NOT_FOUND', message: 'no such container in this cluster' } }, 404);
    const host = await db.host.findUnique({ where: { id: row.hostId }, select: { address: true } });
    const live = (await node.membership.liveHosts()).some((h) => h.id === row.hostId);
    return c.json({ hostId: row.hostId, address: host?.address ?? null, status: live ? 'up' : 'down', container: { status: row.status, endReason: row.endReason } });
  });

  // Another host (a class start) asks this one to make RETs local now; answers per RET.
  app.post('/api/cluster/prepull', async (c) => {
    const refused = guard(c);
    if (refused) return refused;
    const body = prepullBodySchema.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) return c.json({ error: { code: 'BAD_REQUEST', message: `body: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`, hint: '{"refs": ["python@3.11", ...]}' } }, 400);
    return c.json({ hostId: node.id, results: await prepullHere(engine().home, body.data.refs) });
  });

  app.get('/api/cluster/place', async (c) => {
    const refused = guard(c);
    if (refused) return refused;
    const classId = c.req.query('classId') ?? '';
    const userId = c.req.query('userId') ?? '';
    if (!classId || !userId) return c.json({ error: { code: 'BAD_REQUEST', message: 'classId and userId are required query parameters' } }, 400);
    const { placement, hosts, done } = await node.place(classId, userId);
    done(); // a question, not an open: nothing is in flight
    if (!placement.ok) return c.json({ error: { code: 'NO_HOST_AVAILABLE', message: placement.reason } }, 503);
    const h = hosts.find((x) => x.id === placement.hostId)!;
    return c.json({ hostId: h.id, address: h.address, why: placement.why });
  });

  // A class start's coordinator asks this host to prepare its share of the students. The answer
  // streams one JSON line per student as each is ready or failed, then {"done":true}; the
  // coordinator going away (or Stop class here) cancels what is left.
  app.post('/api/cluster/classes/:classId/prepare', async (c) => {
    const refused = guard(c);
    if (refused) return refused;
    const body = prepareBodySchema.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) return c.json({ error: { code: 'BAD_REQUEST', message: `body: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`, hint: '{"runId": "...", "userIds": ["...", ...]}' } }, 400);
    const classId = c.req.param('classId');
    const gone = new AbortController();
    c.req.raw.signal.addEventListener('abort', () => gone.abort(), { once: true });
    const enc = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(out) {
        const send = (line: PrepareResult | { done: true } | { error: { code: string; message: string } }) => {
          if (!gone.signal.aborted) out.enqueue(enc.encode(`${JSON.stringify(line)}\n`));
        };
        runner
          .prepareShare(classId, body.data.runId, body.data.userIds, send, gone.signal)
          .then(() => send({ done: true }))
          .catch((e: unknown) => send({ error: { code: isRegError(e) || e instanceof AccessError ? e.code : 'INTERNAL', message: (e as Error).message } }))
          .finally(() => {
            if (!gone.signal.aborted) out.close();
          });
      },
      cancel() {
        gone.abort();
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } });
  });

  // Stop class, asked by the host that received the click: this host's part (class-runner.ts stopHere).
  app.post('/api/cluster/classes/:classId/stop', async (c) => {
    const refused = guard(c);
    if (refused) return refused;
    return c.json({ hostId: node.id, ended: await runner.stopHere(c.req.param('classId')) });
  });
}
