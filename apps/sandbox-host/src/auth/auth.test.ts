// Server-side sessions, revocation, the sign-in rate limit, one-time links, body caps and the
// database file mode, against a real host in-process (temp REG_HOME, real SQLite).

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from './password.js';
import { createOneTimeLogin } from './one-time-login.js';
import type { RunningHost } from '../host.js';
import { ApiClient, DEMO_PASSWORD, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (the host opens the engine: cgroups, mounts)';

async function signInRaw(base: string, username: string, password: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username, password }) });
  return { status: res.status, headers: res.headers, json: (await res.json().catch(() => null)) as any };
}

describe('accounts and sessions', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
  });
  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  test('the database and its -wal/-shm are mode 0600', async (t) => {
    if (process.env.REG_TEST_DATABASE === 'postgresql') return t.skip('SQLite file modes: this run is on PostgreSQL');
    for (const f of ['reg.db', 'reg.db-wal', 'reg.db-shm']) {
      const mode = statSync(join(home.dir, f)).mode & 0o777;
      assert.equal(mode.toString(8), '600', f);
    }
  });

  test('sign-out revokes the token on the host, not only the cookie', async () => {
    const c = await ApiClient.signIn(host.base, 'student1');
    assert.equal((await c.call('GET', '/api/auth/me')).status, 200);
    assert.equal((await c.call('POST', '/api/auth/sign-out')).status, 200);
    const after = await c.call('GET', '/api/auth/me');
    assert.equal(after.status, 401);
    const row = await host.db.authSession.findFirst({ where: { user: { username: 'student1' }, revokedReason: 'sign-out' } });
    assert.ok(row?.revokedAt);
  });

  test('a token without a session row (an old stateless token) and a forged sid are refused', async () => {
    const u = await host.db.user.findUniqueOrThrow({ where: { username: 'student2' } });
    const old = host.signer.sign({ kind: 'session', sub: u.id }, 60_000).token;
    assert.equal((await new ApiClient(host.base, old).call('GET', '/api/auth/me')).status, 401);
    const ghost = host.signer.sign({ kind: 'session', sub: u.id, sid: 'no-such-session' }, 60_000).token;
    assert.equal((await new ApiClient(host.base, ghost).call('GET', '/api/auth/me')).status, 401);
  });

  test('changing one\'s password needs the old one, signs out the other sessions and ends their terminals', async () => {
    await host.db.user.create({ data: { id: 'u-pw', username: 'pwuser', role: 'student', passwordHash: await hashPassword(DEMO_PASSWORD) } });
    const here = await ApiClient.signIn(host.base, 'pwuser');
    const elsewhere = await ApiClient.signIn(host.base, 'pwuser');
    const made = await elsewhere.call('POST', '/api/containers', { ret: 'python@3.11' });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    const id = made.json.id as string;
    assert.ok(host.sessions.get(id));
    const wrong = await here.call('POST', '/api/auth/password', { oldPassword: 'not it', newPassword: 'a-new-password-1' });
    assert.equal(wrong.status, 403);
    const missing = await here.call('POST', '/api/auth/password', { newPassword: 'a-new-password-1' });
    assert.equal(missing.status, 400);
    const short = await here.call('POST', '/api/auth/password', { oldPassword: DEMO_PASSWORD, newPassword: 'short' });
    assert.equal(short.status, 400);
    const ok = await here.call('POST', '/api/auth/password', { oldPassword: DEMO_PASSWORD, newPassword: 'a-new-password-1' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.sessionsRevoked, 1);
    assert.equal(ok.json.containersEnded, 1);
    assert.equal(host.sessions.get(id), undefined);
    assert.equal((await here.call('GET', '/api/auth/me')).status, 200);
    assert.equal((await elsewhere.call('GET', '/api/auth/me')).status, 401);
    const row = await host.db.container.findUniqueOrThrow({ where: { id } });
    assert.equal(row.status, 'removed');
    assert.match(row.endMessage ?? '', /password was changed/);
    assert.equal((await signInRaw(host.base, 'pwuser', DEMO_PASSWORD)).status, 401);
    assert.equal((await signInRaw(host.base, 'pwuser', 'a-new-password-1')).status, 200);
  });

  test('an account with an initial password may only change it; then everything opens', async () => {
    await host.db.user.create({ data: { id: 'u-init', username: 'initial', role: 'student', passwordHash: await hashPassword('initial-pass'), mustChangePassword: true } });
    const r = await signInRaw(host.base, 'initial', 'initial-pass');
    assert.equal(r.status, 200);
    assert.equal(r.json.mustChangePassword, true);
    const c = new ApiClient(host.base, r.json.token);
    const me = await c.call('GET', '/api/auth/me');
    assert.equal(me.json.mustChangePassword, true);
    const blocked = await c.call('GET', '/api/containers');
    assert.equal(blocked.status, 403);
    assert.equal(blocked.json.error.code, 'PASSWORD_CHANGE_REQUIRED');
    // The password comes first on every route, before "no such class" or "not a member" (not a 404).
    for (const path of ['/api/classes/no-such-class/members', '/api/classes/no-such-class', '/api/admin/users']) {
      const r = await c.call('GET', path);
      assert.equal(r.status, 403, path);
      assert.equal(r.json.error.code, 'PASSWORD_CHANGE_REQUIRED', path);
    }
    assert.equal((await c.call('POST', '/api/auth/password', { newPassword: 'my-own-password' })).status, 200);
    assert.equal((await c.call('GET', '/api/containers')).status, 200);
  });

  test('engine errors reach non-admins without the CLI hint or host paths; admins get them whole', async () => {
    const student = await ApiClient.signIn(host.base, 'student1');
    const admin = await ApiClient.signIn(host.base, 'admin');
    const s = await student.call('POST', '/api/containers', { ret: 'nosuch@1' });
    assert.equal(s.status, 404);
    assert.equal(s.json.error.code, 'RET_NOT_FOUND');
    assert.equal(s.json.error.message, 'no RET nosuch@1 on this host');
    assert.equal(s.json.error.hint, undefined);
    assert.doesNotMatch(JSON.stringify(s.json), /reg ret build|\/tmp\/|registries\.json|REG_/);
    const a = await admin.call('POST', '/api/containers', { ret: 'nosuch@1' });
    assert.equal(a.status, 404);
    assert.match(a.json.error.message, /^no RET matches nosuch@1/);
    assert.match(a.json.error.hint, /reg ret build --from-host PATH/);
  });

  test('a one-time link signs in once, then never again; an expired one never', async () => {
    await host.db.user.create({ data: { id: 'u-link', username: 'linked', role: 'student', passwordHash: await hashPassword('x'.repeat(20)) } });
    const link = await createOneTimeLogin(host.db, { userId: 'u-link', createdById: null, ttlMs: 60_000 });
    assert.match(link.path, /^\/sign-in\/link#[A-Za-z0-9_-]{40,}$/);
    const anon = new ApiClient(host.base);
    const first = await anon.call('POST', '/api/auth/link', { token: link.token });
    assert.equal(first.status, 200);
    assert.equal(first.json.user.username, 'linked');
    assert.equal((await new ApiClient(host.base, first.json.token).call('GET', '/api/auth/me')).json.username, 'linked');
    assert.equal((await anon.call('POST', '/api/auth/link', { token: link.token })).status, 401);
    const expired = await createOneTimeLogin(host.db, { userId: 'u-link', createdById: null, ttlMs: -1 });
    assert.equal((await anon.call('POST', '/api/auth/link', { token: expired.token })).status, 401);
    const stored = await host.db.oneTimeLogin.findMany({ where: { userId: 'u-link' } });
    assert.ok(stored.every((s) => !s.tokenHash.includes(link.token)));
  });

  test('a disabled user\'s sessions stop working at once and they cannot sign in', async () => {
    await host.db.user.create({ data: { id: 'u-dis', username: 'tobedisabled', role: 'student', passwordHash: await hashPassword(DEMO_PASSWORD) } });
    const c = await ApiClient.signIn(host.base, 'tobedisabled');
    assert.equal((await c.call('GET', '/api/auth/me')).status, 200);
    await host.db.user.update({ where: { id: 'u-dis' }, data: { disabledAt: new Date() } });
    // Within the cache window a change made behind the host's back may still pass; revocation
    // through the host (admin routes) is immediate — checked in the admin tests.
    await host.db.authSession.updateMany({ where: { userId: 'u-dis' }, data: { revokedAt: new Date(), revokedReason: 'disabled' } });
    const r = await signInRaw(host.base, 'tobedisabled', DEMO_PASSWORD);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.message, 'wrong username or password');
  });

  test('sign-in is rate limited per account and address (429 + Retry-After); the owner at another address still signs in', async () => {
    await host.db.user.create({ data: { id: 'u-rl', username: 'ratelimited', role: 'student', passwordHash: await hashPassword(DEMO_PASSWORD) } });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await signInRaw(host.base, 'ratelimited', `guess${i}`)).status);
    assert.deepEqual(codes, [401, 401, 401, 401, 401, 429]);
    const blocked = await signInRaw(host.base, 'ratelimited', DEMO_PASSWORD);
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json.error.code, 'RATE_LIMITED');
    const retry = Number(blocked.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 60, `Retry-After ${retry}`);
    // Another account from the same address is not affected.
    assert.equal((await signInRaw(host.base, 'student2', DEMO_PASSWORD)).status, 200);
    // Nor is the owner at an address with no failures, while the guesser stays throttled.
    assert.equal((await signInRaw(host.base, 'ratelimited', DEMO_PASSWORD, { 'x-forwarded-for': '192.0.2.44' })).status, 200);
    assert.equal((await signInRaw(host.base, 'ratelimited', DEMO_PASSWORD)).status, 429);
  });

  test('sign-in is rate limited per address (through the web proxy\'s X-Forwarded-For)', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 31; i++) codes.push((await signInRaw(host.base, `nobody${i}`, 'x', { 'x-forwarded-for': '198.51.100.9' })).status);
    assert.equal(codes[29], 401);
    assert.equal(codes[30], 429);
    assert.equal((await signInRaw(host.base, 'student1', DEMO_PASSWORD, { 'x-forwarded-for': '198.51.100.9' })).status, 429);
    assert.equal((await signInRaw(host.base, 'student1', DEMO_PASSWORD, { 'x-forwarded-for': '198.51.100.10' })).status, 200);
  });

  test('a 200 MiB body to sign-in is refused (413) without the host growing, declared or streamed', async () => {
    const big = 200 * 1024 * 1024;
    const before = process.memoryUsage().rss;
    // The client holds one 1 MiB chunk; whatever RSS grows by is the host's doing.
    const declared = await pushBody(host.port, big, true);
    const streamed = await pushBody(host.port, big, false);
    for (const r of [declared, streamed]) {
      assert.equal(r.status, 413);
      assert.ok(r.sent < big, `the host read the whole body (${r.sent} bytes sent)`);
    }
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 40 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MiB`);
    // A normal sign-in still works afterwards.
    assert.equal((await signInRaw(host.base, 'teacher', DEMO_PASSWORD)).status, 200);
  });

});

/** Sends up to `total` bytes to sign-in in 1 MiB writes until the host answers; with or without Content-Length. */
function pushBody(port: number, total: number, declareLength: boolean): Promise<{ status: number; sent: number }> {
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let status = 0;
    let done = false;
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/auth/sign-in', headers: { 'content-type': 'application/json', ...(declareLength && { 'content-length': String(total) }) } });
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      done = true;
      res.resume();
      res.on('end', () => resolve({ status, sent }));
    });
    req.on('error', (e) => (status ? resolve({ status, sent }) : reject(e)));
    const pump = () => {
      while (!done && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!done) req.end();
    };
    pump();
  });
}
