// socket.io across sandbox hosts. On PostgreSQL (DATABASE_URL postgresql://…) every namespace gets
// socket.io's PostgreSQL adapter (LISTEN/NOTIFY on the database the hosts already share, so no
// extra service such as Redis has to run and be secured): a broadcast to a room reaches that
// room's sockets on every host, and hosts can ask each other questions (serverSideEmit with acks).
// On SQLite a host is alone and keeps socket.io's in-memory adapter.
//
// What crosses hosts, and why this way:
// - The live class view (/classes): each host's ClassEvents (students connected/idle/ended, class
//   start progress) are republished to the other hosts, whose own /classes sockets forward them
//   as they forward local ones; a subscribe's snapshot adds the live terminals the other hosts
//   hold for that class; "stop this student" reaches the host holding their terminal.
// - Terminal bytes do not go through the database: the web origin routes a /terminals socket
//   (own terminal, observe, follow) to the host holding that terminal (apps/web/server.mjs), so
//   keystrokes and output keep one hop and the viewer model (consent, control, flow control)
//   stays next to the pty. `whereIs` answers the origin's "who shares a terminal in class C".

import { CLASSES_NAMESPACE } from '@reg/protocol';
import { createAdapter } from '@socket.io/postgres-adapter';
import pg from 'pg';
import type { Context, Hono } from 'hono';
import type { Server } from 'socket.io';
import { z } from 'zod';
import type { ClassEvent, ClassEvents } from '../classes/class-events.js';
import type { Log } from '../log.js';
import type { SessionRegistry } from '../terminals/session-registry.js';

/** One live terminal of a class on some host, as the live view's snapshot needs it. */
export interface RemoteLiveSession {
  containerId: string;
  ownerId: string | null;
  idle: boolean;
  lastActivityAt: string;
  rssBytes: number | null;
}

export interface ClusterSockets {
  kind: 'postgres' | 'memory';
  /** The other hosts' live terminals in a class (empty alone; a host that does not answer in 5 s is left out). */
  remoteLive(classId: string): Promise<RemoteLiveSession[]>;
  /** The container another host shares in this class (follow-along), if any. */
  remoteSharing(classId: string): Promise<string | null>;
  /** Ends a student's terminals in a class on the other hosts; returns how many ended. */
  stopStudentElsewhere(classId: string, userId: string): Promise<number>;
  close(): Promise<void>;
}

export interface SocketAdapterDeps {
  databaseUrl: string;
  events: ClassEvents;
  sessions: SessionRegistry;
  log: Log;
}

const HEARTBEAT_MS = 2000;
/** A host silent this long leaves socket.io's server count (its requests are not waited for). */
const HEARTBEAT_TIMEOUT_MS = 6000;
export const ADAPTER_TABLE = 'socket_io_attachments';

// Server-side event names on the /classes namespace.
const EV_CLASS_EVENT = 'reg:class-event';
const EV_LIVE = 'reg:live-sessions';
const EV_SHARING = 'reg:sharing';
const EV_STOP = 'reg:stop-student';

// A peer is another host on the same database, but a message is still checked before it reaches
// the live view (a malformed one is dropped and logged, never forwarded to browsers).
const classEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('run'), classId: z.string(), runId: z.string(), status: z.enum(['starting', 'started', 'stopping', 'stopped', 'failed']), total: z.number(), ready: z.number(), failed: z.number(), failures: z.array(z.object({ userId: z.string(), username: z.string(), code: z.string(), message: z.string() })) }),
  z.object({ type: z.literal('student'), classId: z.string(), userId: z.string(), state: z.enum(['not-started', 'ready', 'connected', 'idle', 'ended']), containerId: z.string().optional(), at: z.string(), endMessage: z.string().optional() }),
  z.object({ type: z.literal('changed'), classId: z.string(), what: z.enum(['roster', 'environment', 'class']) }),
]);
const remoteLiveSchema = z.array(z.object({ containerId: z.string(), ownerId: z.string().nullable(), idle: z.boolean(), lastActivityAt: z.string(), rssBytes: z.number().nullable() }));

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

/** A class event published by a peer host, checked; undefined when malformed. */
export function parsePeerClassEvent(raw: unknown): ClassEvent | undefined {
  const e = classEventSchema.safeParse(raw);
  return e.success ? (e.data as ClassEvent) : undefined;
}

/** Installs the adapter (PostgreSQL) and the class-event bridge; call once, right after `new Server()`. */
export async function attachSocketAdapter(io: Server, deps: SocketAdapterDeps): Promise<ClusterSockets> {
  if (!isPostgresUrl(deps.databaseUrl)) {
    return { kind: 'memory', remoteLive: async () => [], remoteSharing: async () => null, stopStudentElsewhere: async () => 0, close: async () => {} };
  }
  const pool = new pg.Pool({ connectionString: deps.databaseUrl, max: 4, application_name: 'reg-socket.io' });
  // An idle client's error (PostgreSQL restarted) must not crash the host: the adapter reconnects.
  pool.on('error', (e) => deps.log.error(`socket.io adapter: PostgreSQL: ${e.message}`));
  // The adapter checks one client out for LISTEN and puts no 'error' listener on it; a checked-out
  // client is not covered by the pool's: PostgreSQL restarting would be an uncaught exception that
  // kills the host. The adapter sees the client 'end' and LISTENs again by itself.
  pool.on('connect', (client) => client.on('error', (e) => deps.log.error(`socket.io adapter: PostgreSQL connection: ${e.message}`)));
  // Payloads over NOTIFY's 8000 bytes travel through this table (the adapter deletes old rows).
  await pool.query(`CREATE TABLE IF NOT EXISTS ${ADAPTER_TABLE} (id bigserial UNIQUE, created_at timestamptz DEFAULT now(), payload bytea)`);
  let lastError = 0;
  io.adapter(
    createAdapter(pool, {
      heartbeatInterval: HEARTBEAT_MS,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      // One line per 10 s at most while PostgreSQL is away (the adapter retries by itself).
      errorHandler: (e) => {
        if (Date.now() - lastError < 10_000) return;
        lastError = Date.now();
        deps.log.error(`socket.io adapter: ${e.message} (cross-host live views pause until PostgreSQL answers)`);
      },
    }),
  );

  const nsp = io.of(CLASSES_NAMESPACE);
  // Events that arrived from a peer are re-emitted locally but never published again (no echo).
  const fromPeer = new WeakSet<ClassEvent>();
  const offLocal = deps.events.on('*', (e) => {
    if (!fromPeer.has(e)) nsp.serverSideEmit(EV_CLASS_EVENT, e);
  });
  nsp.on(EV_CLASS_EVENT, (raw: unknown) => {
    const event = parsePeerClassEvent(raw);
    if (!event) return deps.log.error(`socket.io adapter: dropped a malformed class event from a peer host`);
    fromPeer.add(event);
    deps.events.emit(event);
  });
  nsp.on(EV_LIVE, async (classId: unknown, ack: unknown) => {
    if (typeof ack !== 'function') return;
    if (typeof classId !== 'string') return ack([]);
    const live = deps.sessions.ofClass(classId);
    const rss = live.length ? await deps.sessions.rssNow().catch(() => new Map<string, number>()) : new Map<string, number>();
    ack(live.map((s): RemoteLiveSession => ({ containerId: s.containerId, ownerId: s.ownerId, idle: s.idle, lastActivityAt: s.lastActivityAt.toISOString(), rssBytes: rss.get(s.containerId) ?? null })));
  });
  nsp.on(EV_SHARING, (classId: unknown, ack: unknown) => {
    if (typeof ack !== 'function') return;
    ack(typeof classId === 'string' ? (deps.sessions.sharedIn(classId)?.containerId ?? null) : null);
  });
  nsp.on(EV_STOP, async (req: unknown, ack: unknown) => {
    const r = z.object({ classId: z.string(), userId: z.string() }).safeParse(req);
    const n = r.success ? await deps.sessions.stopStudent(r.data.classId, r.data.userId).catch(() => 0) : 0;
    if (typeof ack === 'function') ack(n);
  });

  /** Asks every other host; a host that does not answer in time is left out (its answer is late, not wrong). */
  const ask = (event: string, arg: unknown): Promise<unknown[]> =>
    new Promise((resolve) => {
      nsp.serverSideEmit(event, arg, (err: Error | null, responses: unknown[]) => {
        if (err) deps.log.debug?.(`socket.io adapter: ${event}: ${err.message}`);
        resolve(responses ?? []);
      });
    });

  return {
    kind: 'postgres',
    async remoteLive(classId) {
      const out: RemoteLiveSession[] = [];
      for (const r of await ask(EV_LIVE, classId)) {
        const ok = remoteLiveSchema.safeParse(r);
        if (ok.success) out.push(...ok.data);
      }
      return out;
    },
    async remoteSharing(classId) {
      for (const r of await ask(EV_SHARING, classId)) if (typeof r === 'string') return r;
      return null;
    },
    async stopStudentElsewhere(classId, userId) {
      return (await ask(EV_STOP, { classId, userId })).reduce<number>((n, r) => n + (typeof r === 'number' ? r : 0), 0);
    },
    async close() {
      offLocal();
      // The adapters' close() (io.close) releases their LISTEN client; the pool goes after.
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      // A LISTEN client the adapter re-acquired after a PostgreSQL restart may never be released:
      // pool.end() would wait for it forever, so closing waits 2 s at most.
      await Promise.race([pool.end().catch(() => {}), new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    },
  };
}

/**
 * GET /api/cluster/classes/:classId/sharing → {containerId} (404 when nobody shares): the web origin
 * routes a follow-along socket to the host of that terminal. Cluster-authenticated like the other
 * cluster routes (`verify` is the cluster node's header check); never for browsers.
 */
export function registerSharingRoute(
  app: Hono<any>,
  verify: (c: Context) => { ok: true; sender: string } | { ok: false; reason: string },
  deps: { sessions: Pick<SessionRegistry, 'sharedIn'>; cluster: Pick<ClusterSockets, 'remoteSharing'> },
): void {
  app.get('/api/cluster/classes/:classId/sharing', async (c) => {
    const v = verify(c);
    if (!v.ok) return c.json({ error: { code: 'UNAUTHENTICATED', message: `cluster routes need the cluster's signed header: ${v.reason}` } }, 401);
    const classId = c.req.param('classId');
    const containerId = deps.sessions.sharedIn(classId)?.containerId ?? (await deps.cluster.remoteSharing(classId));
    if (!containerId) return c.json({ error: { code: 'NOT_FOUND', message: 'nobody shares a terminal in this class' } }, 404);
    return c.json({ containerId });
  });
}
