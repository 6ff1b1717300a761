// The web origin in front of two real hosts of one cluster (PostgreSQL, a shared directory), as
// browsers use it: apps/web/server.mjs (built web app) with REG_CLUSTER=1 learns the hosts from one
// of them and routes each /terminals socket to the host running the terminal it names: a student's
// own terminal, an instructor observing and typing with consent, a student following the
// instructor's shared terminal; two consecutive sockets would alternate between the hosts without
// routing, so a wrong route fails the attach. The hosts' own routes are not reachable through the
// origin, a browser's forged cluster header is dropped, and (REG_CLUSTER_ORIGIN_ONLY=1) a host
// refuses requests and sockets that did not come through the origin.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { RunningHost } from '../apps/sandbox-host/src/host.js';
import { ensurePythonRet, startTestHost, tempRegHome } from '../apps/sandbox-host/src/test-support/host-fixture.js';
import { freshPostgresDatabase, postgresSkipReason } from '../apps/sandbox-host/src/test-support/postgres.js';
import { freePort } from './browser-support.js';

const PASSWORD = 'cluster-origin-password';
const root = new URL('..', import.meta.url).pathname;
const why =
  process.getuid?.() !== 0
    ? 'needs root (containers)'
    : !existsSync(join(root, 'apps/web/.next/BUILD_ID'))
      ? 'needs the built web app (npm run build)'
      : (await postgresSkipReason()) || false;
if (why) console.log(`# skipped: ${why}`);

type Host = RunningHost & { base: string };

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A /terminals socket through the origin, signed in, routed by `query`, keeping its text. */
function terminal(origin: string, token: string, query: Record<string, string>) {
  const s: Socket = io(`${origin}/terminals`, { transports: ['websocket'], forceNew: true, reconnection: false, query, extraHeaders: { authorization: `Bearer ${token}` } });
  const t = { s, text: '', consents: [] as Array<{ helperId: string }>, canType: false };
  const take = (d: string) => {
    t.text = (t.text + d).slice(-100_000);
    s.emit('ack', Math.max(1, d.length));
  };
  s.on('screen', (d: string) => ((t.text = ''), take(d)));
  s.on('output', take);
  s.on('consent', (c: { helperId: string }) => t.consents.push(c));
  s.on('control', (c: { canType: boolean }) => (t.canType = c.canType));
  return t;
}

describe('the web origin routes sockets across two hosts', { skip: why, timeout: 5 * 60_000 }, () => {
  const homes: Array<{ dir: string; cleanup: () => Promise<void> }> = [];
  let shared: { dir: string; cleanup: () => Promise<void> } | undefined;
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let a: Host;
  let b: Host;
  let web: ChildProcess | undefined;
  let origin = '';
  const sockets: Socket[] = [];
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const classId = 'cls-origin';

  async function call(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${origin}${path}`, { method, headers, ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }) });
    return { status: res.status, json: (await res.json().catch(() => null)) as any };
  }

  /** A python terminal for `username` on `host`, tied to the class (what "open terminal" leaves behind). */
  async function openOn(host: Host, username: string): Promise<string> {
    const state = await host.engine.generate({ ret: 'python@3.11', command: ['python3'], tty: true });
    await host.db.container.create({ data: { id: state.id, ownerId: ids[username]!, classId, ret: state.ret, command: JSON.stringify(state.command), tty: true, status: state.status } });
    await host.sessions.open(state, ids[username]!, { cols: 100, rows: 30 }, { classId });
    return state.id;
  }

  async function attach(username: string, containerId: string) {
    const tok = await call('POST', `/api/containers/${containerId}/terminal-token`, { token: tokens[username]! });
    assert.equal(tok.status, 200, JSON.stringify(tok.json));
    const t = terminal(origin, tokens[username]!, { container: containerId });
    sockets.push(t.s);
    const r = await t.s.timeout(10_000).emitWithAck('attach', { containerId, token: tok.json.token, cols: 100, rows: 30 });
    assert.ok(r.ok, `attach ${username} through the origin: ${JSON.stringify(r)}`);
    await until(`${username}'s prompt`, () => />>> $/.test(t.text));
    return t;
  }

  before(async () => {
    db = await freshPostgresDatabase();
    shared = await tempRegHome();
    for (let i = 0; i < 2; i++) {
      const h = await tempRegHome();
      homes.push(h);
      await ensurePythonRet(h.dir);
    }
    const env = { DATABASE_URL: db.url, IDLE_TIMEOUT_SECONDS: '0', REG_CLUSTER: '1', REG_SHARED_DIR: shared.dir, REG_DEMO_PASSWORD: PASSWORD, REG_CLUSTER_ORIGIN_ONLY: '1' };
    a = await startTestHost(homes[0]!.dir, env);
    b = await startTestHost(homes[1]!.dir, env);
    for (const u of ['teacher', 'student1', 'student2']) ids[u] = (await a.db.user.findUniqueOrThrow({ where: { username: u } })).id;
    await a.db.class.create({ data: { id: classId, name: 'Origin class', ownerId: ids.teacher!, enrolments: { create: [{ userId: ids.student1!, role: 'student' }, { userId: ids.student2!, role: 'student' }] } } });

    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    web = spawn(process.execPath, [join(root, 'apps/web/server.mjs')], {
      cwd: join(root, 'apps/web'),
      env: { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', PORT: String(port), HOST: '127.0.0.1', REG_CLUSTER: '1', REG_SHARED_DIR: shared.dir, REG_HOST_URLS: a.base },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    web.stdout!.on('data', (d) => (out += d));
    web.stderr!.on('data', (d) => (out += d));
    await until('the origin is ready and knows both hosts', () => {
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (web!.exitCode !== null) throw new Error(`server.mjs exited: ${out}`);
      return !!line;
    }, 60_000);
    // It learns the second host from the first (refreshing every 2 s).
    await until('both hosts up in the cluster', async () => (await a.db.host.count({ where: { status: 'up' } })) === 2);
    await new Promise((r) => setTimeout(r, 2500));
    for (const u of ['teacher', 'student1', 'student2']) {
      const r = await call('POST', '/api/auth/sign-in', { body: { username: u, password: PASSWORD } });
      assert.equal(r.status, 200, `sign-in ${u} through the origin`);
      tokens[u] = r.json.token;
    }
  });

  after(async () => {
    for (const s of sockets) s.close();
    if (web && web.exitCode === null) {
      const gone = new Promise((r) => web!.once('exit', r));
      web.kill('SIGTERM');
      await gone;
    }
    await b?.close().catch(() => {});
    await a?.close().catch(() => {});
    for (const h of homes) await h.cleanup();
    await shared?.cleanup();
    await db?.drop();
  });

  test("the hosts' own routes are not reachable through the origin; a forged cluster header is dropped", async () => {
    for (const path of ['/api/cluster/hosts', '/api//cluster/hosts', '/api/%63luster/hosts', `/api/cluster/classes/${classId}/sharing`]) {
      const r = await call('GET', path, { token: tokens.teacher!, headers: { 'x-reg-cluster': 'web.1.' + '0'.repeat(64) } });
      assert.equal(r.status, 404, path);
    }
    // Nor are a class start's share or a host's part of Stop class (a teacher's token is not a host).
    for (const path of [`/api/cluster/classes/${classId}/prepare`, `/api/cluster/classes/${classId}/stop`]) {
      const r = await call('POST', path, { token: tokens.teacher!, body: { runId: 'x', userIds: [] } });
      assert.equal(r.status, 404, path);
    }
    // Straight to a host (REG_CLUSTER_ORIGIN_ONLY=1): refused, HTTP and socket.io alike, with the way in.
    assert.equal((await fetch(`${a.base}/api/cluster/hosts`)).status, 401);
    const direct = await fetch(`${a.base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'teacher', password: PASSWORD }) });
    assert.equal(direct.status, 403);
    assert.match(((await direct.json()) as { error: { message: string } }).error.message, /reached through the web app's address/);
    const bypass = io(`${b.base}/classes`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { authorization: `Bearer ${tokens.teacher!}` } });
    sockets.push(bypass);
    const refused = await new Promise<string>((resolve) => {
      bypass.on('connect', () => resolve('connected'));
      bypass.on('connect_error', (e) => resolve(`refused: ${e.message}`));
    });
    assert.match(refused, /^refused/, 'a socket.io handshake straight to a host is refused');
    // Ordinary API calls go through, whichever host answers.
    for (let i = 0; i < 4; i++) assert.equal((await call('GET', `/api/classes/${classId}/members`, { token: tokens.teacher! })).status, 200);
  });

  test("each student's socket reaches the host running their terminal", async () => {
    const onA = await openOn(a, 'student1');
    const onB = await openOn(b, 'student2');
    // Consecutive sockets: without routing one of them would be sent to the other host.
    const t1 = await attach('student1', onA);
    const t2 = await attach('student2', onB);
    t1.s.emit('input', 'print(6*7)\r');
    t2.s.emit('input', 'print(7*8)\r');
    await until('student1 computes on host A', () => /42/.test(t1.text));
    await until('student2 computes on host B', () => /56/.test(t2.text));
    // A container's own API routes are answered by its host (its engine): routed there too.
    for (let i = 0; i < 4; i++) {
      assert.equal((await call('GET', `/api/containers/${onB}`, { token: tokens.student2! })).status, 200, `GET /api/containers/<on B> #${i + 1}`);
      assert.equal((await call('POST', `/api/containers/${onA}/terminal-token`, { token: tokens.student1! })).status, 200, `token for <on A> #${i + 1}`);
    }
  });

  test('the instructor observes a student on host A and types with consent', async () => {
    const id = a.sessions.ofClass(classId).find((s) => s.ownerId === ids.student1)!.containerId;
    const own = await attach('student1', id);
    // Two observers one after the other: without routing, one would land on host B.
    for (let i = 0; i < 2; i++) {
      const obs = terminal(origin, tokens.teacher!, { container: id });
      sockets.push(obs.s);
      const r = await obs.s.timeout(10_000).emitWithAck('observe', { containerId: id, cols: 100, rows: 30 });
      assert.ok(r.ok, `observe through the origin (observer ${i + 1}): ${JSON.stringify(r)}`);
      own.s.emit('input', `print("seen", ${i}+100)\r`);
      await until(`observer ${i + 1} sees the student's output`, () => new RegExp(`seen ${i + 100}`).test(obs.text));
      if (i === 0) {
        obs.s.close();
        continue;
      }
      assert.ok((await obs.s.timeout(10_000).emitWithAck('requestControl')).ok);
      await until('the consent request reaches the student', () => own.consents.length > 0);
      own.s.emit('grant', { helperId: own.consents.at(-1)!.helperId, allow: true });
      await until('the instructor may type', () => obs.canType);
      obs.s.emit('input', 'print(500+55)\r');
      await until('the instructor sees the result', () => /555/.test(obs.text));
      await until('the student sees it too', () => /555/.test(own.text));
    }
  });

  test('a student follows the instructor terminal shared on the other host', async () => {
    const mine = await openOn(b, 'teacher');
    const t = await attach('teacher', mine);
    assert.ok((await t.s.timeout(10_000).emitWithAck('share', { classId })).ok);
    for (let i = 0; i < 2; i++) {
      const f = terminal(origin, tokens.student1!, { follow: classId });
      sockets.push(f.s);
      const r = await f.s.timeout(10_000).emitWithAck('follow', { classId, cols: 100, rows: 30 });
      assert.ok(r.ok, `follow through the origin (attempt ${i + 1}): ${JSON.stringify(r)}`);
      t.s.emit('input', `print("shown", ${i}*7)\r`);
      await until('the follower sees the instructor', () => new RegExp(`shown ${i * 7}`).test(f.text));
      f.s.close();
    }
  });
});
