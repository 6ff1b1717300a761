// Two real hosts on one real PostgreSQL database: the live class view of an instructor whose
// socket is on host A shows a student whose terminal runs on host B (snapshot and live events),
// stopping that student from A ends the terminal on B; a malformed message from a peer is dropped.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { ClassLiveClientEvents, ClassLiveServerEvents } from '@reg/protocol';
import type { RunningHost } from '../host.js';
import { ApiClient, DEMO_PASSWORD, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from '../test-support/host-fixture.js';
import { freshPostgresDatabase, postgresSkipReason } from '../test-support/postgres.js';
import { createServer, type Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import { ClassEvents, type ClassEvent } from '../classes/class-events.js';
import { createLog } from '../log.js';
import type { SessionRegistry } from '../terminals/session-registry.js';
import { attachSocketAdapter, isPostgresUrl, parsePeerClassEvent, type ClusterSockets } from './socket-adapter.js';

const pgSkip = await postgresSkipReason();
const skip = !isRoot ? 'needs root (namespaces, cgroups, overlay mounts)' : pgSkip || false;
if (skip) console.log(`# skipped: ${skip}`);

type LiveSocket = Socket<ClassLiveServerEvents, ClassLiveClientEvents>;

async function tokenOf(base: string, username: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: DEMO_PASSWORD }) });
  assert.equal(res.status, 200, `sign-in ${username}`);
  return ((await res.json()) as { token: string }).token;
}

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test("a peer's class event is checked before it reaches the live view", () => {
  const good = { type: 'student', classId: 'c', userId: 'u', state: 'connected', containerId: 'x', at: new Date().toISOString() };
  assert.deepEqual(parsePeerClassEvent(good), good);
  assert.equal(parsePeerClassEvent({ ...good, state: 'hacked' }), undefined);
  assert.equal(parsePeerClassEvent({ ...good, classId: 42 }), undefined);
  assert.equal(parsePeerClassEvent('<script>'), undefined);
  assert.deepEqual(parsePeerClassEvent({ type: 'changed', classId: 'c', what: 'roster' }), { type: 'changed', classId: 'c', what: 'roster' });
});

test('the adapter is PostgreSQL only for postgresql:// URLs', () => {
  assert.equal(isPostgresUrl('postgresql://u:p@127.0.0.1:5432/reg'), true);
  assert.equal(isPostgresUrl('postgres://127.0.0.1/reg'), true);
  assert.equal(isPostgresUrl('file:/var/lib/reg/reg.db'), false);
});

// The bridge alone, fast and without root: two socket.io servers on one real PostgreSQL database,
// each with its own ClassEvents bus and a registry holding one live terminal (the part of
// SessionRegistry the bridge reads). The two-host test below proves the same with real hosts.
describe('the class-event bridge between two socket.io servers on PostgreSQL', { skip: pgSkip || false }, () => {
  let db: { url: string; drop: () => Promise<void> } | undefined;
  const nodes: Array<{ http: HttpServer; io: Server; events: ClassEvents; cluster: ClusterSockets; stopped: string[] }> = [];

  const registry = (stopped: string[], containerId: string) =>
    ({
      ofClass: (classId: string) => (classId === 'c1' ? [{ containerId, ownerId: 'u1', idle: false, lastActivityAt: new Date('2026-11-30T10:00:00Z') }] : []),
      rssNow: async () => new Map([[containerId, 12345]]),
      sharedIn: (classId: string) => (classId === 'c1' ? { containerId } : undefined),
      stopStudent: async (classId: string, userId: string) => (stopped.push(`${classId}/${userId}`), 1),
    }) as unknown as SessionRegistry;

  before(async () => {
    db = await freshPostgresDatabase();
    for (const name of ['one', 'two']) {
      const http = createServer();
      const io = new Server(http, { transports: ['websocket'] });
      const events = new ClassEvents();
      const stopped: string[] = [];
      const cluster = await attachSocketAdapter(io, { databaseUrl: db.url, events, sessions: registry(stopped, `ctr-${name}`), log: createLog('silent') });
      nodes.push({ http, io, events, cluster, stopped });
    }
    // Both servers see each other (the adapter's heartbeats) before the test asks questions.
    await until('both servers in the cluster', async () => (await nodes[0]!.io.of('/classes').adapter.serverCount()) === 2 && (await nodes[1]!.io.of('/classes').adapter.serverCount()) === 2);
  });

  after(async () => {
    for (const n of nodes) {
      n.io.close();
      await n.cluster.close();
    }
    await db?.drop();
  });

  test('events cross once (no echo), snapshots and sharing come from the peer, stop reaches it', async () => {
    assert.equal(nodes[0]!.cluster.kind, 'postgres');
    const [one, two] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const onTwo: ClassEvent[] = [];
    const onOne: ClassEvent[] = [];
    two.events.on('c1', (e) => onTwo.push(e));
    one.events.on('c1', (e) => onOne.push(e));
    const e: ClassEvent = { type: 'student', classId: 'c1', userId: 'u1', state: 'connected', containerId: 'ctr-one', at: '2026-11-30T10:00:00.000Z' };
    one.events.emit(e);
    await until('the event on server two', () => onTwo.length === 1);
    assert.deepEqual(onTwo[0], e);
    await sleep(300);
    assert.equal(onOne.length, 1, 'server one saw its own event once: the peer did not echo it back');
    assert.equal(onTwo.length, 1);

    assert.deepEqual(await one.cluster.remoteLive('c1'), [{ containerId: 'ctr-two', ownerId: 'u1', idle: false, lastActivityAt: '2026-11-30T10:00:00.000Z', rssBytes: 12345 }]);
    assert.deepEqual(await one.cluster.remoteLive('other'), []);
    assert.equal(await two.cluster.remoteSharing('c1'), 'ctr-one');
    assert.equal(await two.cluster.remoteSharing('other'), null);
    assert.equal(await one.cluster.stopStudentElsewhere('c1', 'u1'), 1);
    assert.deepEqual(two.stopped, ['c1/u1']);
    assert.deepEqual(one.stopped, [], 'the asking server stops its own terminals itself');
  });
});

describe('socket.io across two hosts on PostgreSQL', { skip }, () => {
  const homes: Array<{ dir: string; cleanup: () => Promise<void> }> = [];
  let shared: { dir: string; cleanup: () => Promise<void> } | undefined;
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let a: RunningHost & { base: string };
  let b: RunningHost & { base: string };
  const sockets: Array<{ close(): void }> = [];
  const ids: Record<string, string> = {};
  const classId = 'cls-across';

  before(async () => {
    db = await freshPostgresDatabase();
    for (let i = 0; i < 2; i++) {
      const h = await tempRegHome();
      homes.push(h);
      await ensurePythonRet(h.dir);
    }
    // Two hosts of one cluster (as `npm run cluster` starts them): one database, one shared directory.
    shared = await tempRegHome();
    const env = { DATABASE_URL: db.url, IDLE_TIMEOUT_SECONDS: '0', REG_CLUSTER: '1', REG_SHARED_DIR: shared.dir, REG_CLUSTER_ORIGIN_ONLY: '0' }; // the test plays the web origin
    a = await startTestHost(homes[0]!.dir, env);
    b = await startTestHost(homes[1]!.dir, env);
    for (const u of ['teacher', 'student1']) ids[u] = (await a.db.user.findUniqueOrThrow({ where: { username: u } })).id;
    await a.db.class.create({ data: { id: classId, name: 'Across hosts', ownerId: ids.teacher!, enrolments: { create: [{ userId: ids.student1!, role: 'student' }] } } });
  });

  after(async () => {
    for (const s of sockets) s.close();
    await b?.close().catch(() => {});
    await a?.close().catch(() => {});
    for (const h of homes) await h.cleanup();
    await shared?.cleanup();
    await db?.drop();
  });

  test("an instructor on host A sees, live, a student whose terminal runs on host B, and stops it from A", async () => {
    const teacher = await tokenOf(a.base, 'teacher');
    const live: LiveSocket = io(`${a.base}/classes`, { transports: ['websocket'], forceNew: true, extraHeaders: { authorization: `Bearer ${teacher}` } });
    sockets.push(live);
    const events: Array<{ state: string; containerId?: string }> = [];
    live.on('student', (e) => e.userId === ids.student1 && events.push({ state: e.state, ...(e.containerId && { containerId: e.containerId }) }));
    const first = await live.timeout(10_000).emitWithAck('subscribe', { classId });
    assert.ok(first.ok, JSON.stringify(first));
    if (first.ok) assert.equal(first.snapshot.students[0]!.state, 'not-started');

    // The student's terminal opens on host B, as the class's "open terminal" does there.
    const state = await b.engine.generate({ ret: 'python@3.11', command: ['python3'], tty: true });
    await b.db.container.create({ data: { id: state.id, ownerId: ids.student1!, classId, ret: state.ret, command: JSON.stringify(state.command), tty: true, status: state.status } });
    await b.sessions.open(state, ids.student1!, { cols: 100, rows: 30 }, { classId });
    const student = new TestTerminal(b.base);
    sockets.push(student);
    const api = await ApiClient.signIn(b.base, 'student1');
    assert.ok((await student.attach(state.id, await api.attachToken(state.id))).ok);
    await student.waitFor(/>>> $/, 20_000);

    // Host B's event reaches host A's instructor through PostgreSQL.
    await until("host B's 'connected' event on host A", () => events.some((e) => e.state === 'connected' && e.containerId === state.id));
    assert.equal(a.sessions.get(state.id), undefined, 'the terminal is not on host A');
    // A fresh snapshot on A counts B's terminal (state, container, memory read on B).
    const again = await live.timeout(10_000).emitWithAck('subscribe', { classId });
    assert.ok(again.ok, JSON.stringify(again));
    if (again.ok) {
      const s = again.snapshot.students[0]!;
      assert.equal(s.state, 'connected');
      assert.deepEqual(s.containerIds, [state.id]);
      assert.ok((s.memoryBytes ?? 0) > 0, 'memory of the remote terminal');
    }

    // Stop from A: the terminal on B ends, and A's view hears it.
    const stop = await live.timeout(10_000).emitWithAck('stopSession', { classId, userId: ids.student1! });
    assert.ok(stop.ok, JSON.stringify(stop));
    if (stop.ok) assert.equal(stop.ended, 1);
    await until('the student sees the end on host B', () => student.exit !== undefined);
    await until("host B's 'ended' event on host A", () => events.some((e) => e.state === 'ended'));
    assert.equal(b.sessions.get(state.id), undefined);
  });
});
