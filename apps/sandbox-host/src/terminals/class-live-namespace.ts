// The socket.io namespace /classes: the live class view of instructors and TAs. `subscribe`
// checks class:assist (outsiders: NOT_FOUND, students: FORBIDDEN, on every event, not once per
// connection), answers with a roster snapshot, then forwards that class's ClassEvents to the
// socket until it unsubscribes or disconnects. `stopSession` ends a student's terminals with the
// reason "stopped by your instructor" and is written to the audit log.

import {
  CLASSES_NAMESPACE,
  stopSessionSchema,
  subscribeSchema,
  type ClassLiveClientEvents,
  type ClassLiveServerEvents,
  type LiveError,
  type LiveSnapshot,
  type LiveStudent,
  type StopSessionReply,
  type SubscribeReply,
} from '@reg/protocol';
import type { Server, Socket } from 'socket.io';
import { audit } from '../admin/audit.js';
import { AccessError, type Principal } from '../auth/principal.js';
import { authorize, type ClassMembership } from '../auth/scopes.js';
import type { ClassEvents } from '../classes/class-events.js';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import type { ClusterSockets } from '../cluster/socket-adapter.js';
import type { SessionRegistry } from './session-registry.js';
import { principalOfHandshake } from './socket-principal.js';

type LiveSocket = Socket<ClassLiveClientEvents, ClassLiveServerEvents>;

export interface ClassLiveDeps {
  db: Db;
  sessions: SessionRegistry;
  events: ClassEvents;
  authenticate: (token: string) => Promise<Principal | undefined>;
  membership: ClassMembership;
  log: Log;
  /** The other sandbox hosts (cluster/socket-adapter.ts): their live terminals of a class, sharing, stopping. */
  cluster?: Pick<ClusterSockets, 'remoteLive' | 'remoteSharing' | 'stopStudentElsewhere'>;
}

const fail = (code: LiveError['code'], message: string) => ({ ok: false as const, error: { code, message } });

export function registerClassLiveNamespace(io: Server, deps: ClassLiveDeps): void {
  io.of(CLASSES_NAMESPACE).on('connection', (raw) => {
    const socket = raw as LiveSocket;
    const subscriptions = new Map<string, () => void>();
    const replyOf = <R>(cb: unknown): ((r: R) => void) => (typeof cb === 'function' ? (cb as (r: R) => void) : (r: R) => {
      const failed = r as { ok?: boolean; error?: LiveError };
      if (failed.ok === false && failed.error) socket.emit('error', failed.error);
    });
    const check = async (classId: string): Promise<Principal> => {
      const p = await principalOfHandshake(socket.handshake.headers, deps.authenticate);
      await authorize(p, 'class:assist', { classId, membership: deps.membership });
      return p!;
    };
    const refusal = (e: unknown) => {
      if (e instanceof AccessError) return fail(e.code === 'BAD_REQUEST' ? 'BAD_PAYLOAD' : e.code, e.message);
      deps.log.error('live class view', e);
      return fail('INTERNAL', 'the host could not do that; try again');
    };

    socket.on('subscribe', async (payload, cb) => {
      const reply = replyOf<SubscribeReply>(cb);
      const req = subscribeSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', `subscribe: ${req.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`));
      const { classId } = req.data;
      try {
        await check(classId);
        const snapshot = await liveSnapshot(deps, classId);
        if (!snapshot) return reply(fail('NOT_FOUND', `no class ${classId}`));
        subscriptions.get(classId)?.();
        subscriptions.set(
          classId,
          deps.events.on(classId, (e) => {
            if (e.type === 'student') socket.emit('student', { classId, userId: e.userId, state: e.state, ...(e.containerId && { containerId: e.containerId }), at: e.at, ...(e.endMessage && { endMessage: e.endMessage }) });
            else if (e.type === 'run') socket.emit('run', { classId, runId: e.runId, status: e.status, total: e.total, ready: e.ready, failed: e.failed, failures: e.failures });
            else socket.emit('changed', { classId, what: e.what });
          }),
        );
        reply({ ok: true, snapshot });
      } catch (e) {
        reply(refusal(e));
      }
    });

    socket.on('unsubscribe', (payload) => {
      const req = subscribeSchema.safeParse(payload);
      if (!req.success) return void socket.emit('error', { code: 'BAD_PAYLOAD', message: 'unsubscribe needs {classId}' });
      subscriptions.get(req.data.classId)?.();
      subscriptions.delete(req.data.classId);
    });

    socket.on('stopSession', async (payload, cb) => {
      const reply = replyOf<StopSessionReply>(cb);
      const req = stopSessionSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', 'stopSession needs {classId, userId}'));
      try {
        const p = await check(req.data.classId);
        // The student's terminal may be on another host of the cluster: those end there.
        const ended = (await deps.sessions.stopStudent(req.data.classId, req.data.userId)) + ((await deps.cluster?.stopStudentElsewhere(req.data.classId, req.data.userId)) ?? 0);
        await audit(deps.db, p, { action: 'class.session.stop', targetType: 'user', targetId: req.data.userId, classId: req.data.classId, details: { ended }, ip: socket.handshake.address }).catch((e: unknown) => deps.log.error('audit', e));
        reply({ ok: true, ended });
      } catch (e) {
        reply(refusal(e));
      }
    });

    socket.on('disconnect', () => {
      for (const off of subscriptions.values()) off();
      subscriptions.clear();
    });
  });
}

/** The roster with each student's live state; undefined when the class does not exist. */
export async function liveSnapshot(deps: Pick<ClassLiveDeps, 'db' | 'sessions' | 'cluster'>, classId: string): Promise<LiveSnapshot | undefined> {
  const cls = await deps.db.class.findUnique({
    where: { id: classId },
    select: { name: true, enrolments: { where: { role: 'student' }, select: { user: { select: { id: true, username: true, displayName: true } } } } },
  });
  if (!cls) return undefined;
  // Live sessions whose rows were tied to this class after they opened join it now.
  const open = await deps.db.container.findMany({ where: { classId, endedAt: null }, select: { id: true } });
  for (const { id } of open) {
    const s = deps.sessions.get(id);
    if (s && !s.info.classId) await deps.sessions.classOf(s);
  }
  // This host's live terminals of the class, then those the other hosts of a cluster hold.
  const remote = (await deps.cluster?.remoteLive(classId)) ?? [];
  const live = [
    ...deps.sessions.ofClass(classId).map((s) => ({ containerId: s.containerId, ownerId: s.ownerId, idle: s.idle, lastActivityAt: s.lastActivityAt, rssBytes: null as number | null })),
    ...remote.map((r) => ({ ...r, lastActivityAt: new Date(r.lastActivityAt) })),
  ];
  const ids = cls.enrolments.map((e) => e.user.id);
  // The latest container row per student says "ended" (and why) or "ready" (prepared, not opened).
  const rows = await deps.db.container.findMany({
    where: { classId, ownerId: { in: ids } },
    orderBy: { createdAt: 'desc' },
    select: { id: true, ownerId: true, status: true, endedAt: true, endMessage: true, createdAt: true, startedAt: true, lastInputAt: true },
  });
  const latest = new Map<string, (typeof rows)[number]>();
  for (const r of rows) if (r.ownerId && !latest.has(r.ownerId)) latest.set(r.ownerId, r);
  const liveIds = live.map((s) => s.containerId);
  const samples = liveIds.length
    ? await deps.db.memorySample.findMany({ where: { containerId: { in: liveIds } }, orderBy: { takenAt: 'desc' }, select: { containerId: true, rss: true } })
    : [];
  const rss = new Map<string, number>();
  for (const s of samples) if (!rss.has(s.containerId)) rss.set(s.containerId, s.rss);
  for (const r of remote) if (r.rssBytes !== null && !rss.has(r.containerId)) rss.set(r.containerId, r.rssBytes);
  // Not sampled yet (a terminal younger than the sampling period): read it now, once.
  if (liveIds.some((id) => !rss.has(id))) for (const [id, bytes] of await deps.sessions.rssNow()) if (liveIds.includes(id) && !rss.has(id)) rss.set(id, bytes);

  const students: LiveStudent[] = cls.enrolments.map(({ user }) => {
    const mine = live.filter((s) => s.ownerId === user.id);
    const row = latest.get(user.id);
    let state: LiveStudent['state'] = 'not-started';
    // Preparing a container (Start class) is not activity: only a session that existed counts.
    let lastActivity: Date | null = row?.endedAt ?? row?.lastInputAt ?? row?.startedAt ?? null;
    if (mine.length) {
      state = mine.every((s) => s.idle) ? 'idle' : 'connected';
      lastActivity = new Date(Math.max(...mine.map((s) => s.lastActivityAt.getTime())));
    } else if (row && row.status !== 'removed' && !row.endedAt) state = 'ready';
    else if (row?.endedAt) state = 'ended';
    const mem = mine.map((s) => rss.get(s.containerId)).filter((n): n is number => n !== undefined);
    return {
      userId: user.id,
      username: user.username,
      displayName: user.displayName,
      state,
      lastActivityAt: lastActivity?.toISOString() ?? null,
      memoryBytes: mem.length ? mem.reduce((a, b) => a + b, 0) : null,
      containerIds: mine.map((s) => s.containerId),
      endMessage: state === 'ended' ? (row?.endMessage ?? null) : null,
    };
  });
  return { classId, className: cls.name, students, run: await latestRun(deps.db, classId), sharing: deps.sessions.sharedIn(classId)?.containerId ?? (await deps.cluster?.remoteSharing(classId)) ?? null };
}

async function latestRun(db: Db, classId: string): Promise<LiveSnapshot['run']> {
  const r = await db.classRun.findFirst({ where: { classId }, orderBy: { startedAt: 'desc' } });
  if (!r) return null;
  let failures: NonNullable<LiveSnapshot['run']>['failures'] = [];
  try {
    failures = JSON.parse(r.failures);
  } catch {
    // an unreadable failure list shows as none
  }
  return { runId: r.id, status: r.status as NonNullable<LiveSnapshot['run']>['status'], total: r.total, ready: r.ready, failed: r.failed, failures };
}
