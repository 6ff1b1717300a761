// The host end to end without a browser: a real host in-process on a temp REG_HOME, real
// containers under ptys, socket.io clients that behave (and misbehave) like browsers.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FLOW_HIGH_WATERMARK, INPUT_CHUNK_MAX } from '@reg/protocol';
import type { RunningHost } from './host.js';
import { ApiClient, cgroupDirsOf, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from './test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay mounts)';

describe('the sandbox host', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let s1: ApiClient;
  let s2: ApiClient;
  let teacher: ApiClient;
  const terminals: TestTerminal[] = [];
  const term = () => {
    const t = new TestTerminal(host.base);
    terminals.push(t);
    return t;
  };

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
    [s1, s2, teacher] = (await Promise.all(['student1', 'student2', 'teacher'].map((u) => ApiClient.signIn(host.base, u)))) as [ApiClient, ApiClient, ApiClient];
  });

  after(async () => {
    for (const t of terminals) t.close();
    await host?.close();
    await home?.cleanup();
  });

  test('unauthenticated calls get 401, a wrong password too', async () => {
    const anon = new ApiClient(host.base);
    assert.equal((await anon.call('GET', '/api/containers')).status, 401);
    assert.equal((await anon.call('POST', '/api/containers', { ret: 'python@3.11' })).status, 401);
    assert.equal((await new ApiClient(host.base, 'forged.token').call('GET', '/api/rets')).status, 401);
    assert.equal((await anon.call('POST', '/api/auth/sign-in', { username: 'student1', password: 'nope' })).status, 401);
    assert.equal((await anon.call('GET', '/api/openapi.json')).status, 200);
  });

  test('malformed bodies and unknown ids get 400/404 with structured errors', async () => {
    const bad = await s1.call('POST', '/api/containers', { ret: 'python@3.11', limits: { memoryBytes: -1 } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'BAD_REQUEST');
    assert.ok(bad.json.error.issues.some((i: { path: string }) => i.path === 'limits.memoryBytes'));
    assert.equal((await s1.call('POST', '/api/containers', '{not json')).status, 400);
    const missing = await s1.call('POST', '/api/containers', { ret: 'cobol@1' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'RET_NOT_FOUND');
    for (const id of ['0123456789ab', 'nope', '../../etc']) {
      assert.equal((await s1.call('GET', `/api/containers/${id}`)).status, 404, id);
      assert.equal((await s1.call('DELETE', `/api/containers/${id}`)).status, 404, id);
    }
  });

  test('a python terminal answers, and only its owner can reach it', async () => {
    const id = await s1.openPython();
    const t = term();
    assert.deepEqual(await t.attach(id, await s1.attachToken(id)), { ok: true, containerId: id, ret: 'python@3.11', kind: 'Python', classId: null, className: null, owner: 'student1', cols: 80, rows: 24 });
    await t.waitFor(/>>> $/);
    t.type('print(6*7)\r');
    await t.waitFor(/\r\n42\r\n[\s\S]*>>> $/); // readline may redraw the prompt after a resize

    // The other student: not found (nothing leaks), no token, no attach with a token for their own.
    assert.equal((await s2.call('GET', `/api/containers/${id}`)).status, 404);
    assert.equal((await s2.call('POST', `/api/containers/${id}/stop`)).status, 404);
    assert.equal((await s2.call('POST', `/api/containers/${id}/terminal-token`)).status, 404);
    assert.ok(!(await s2.call('GET', '/api/containers')).json.some((c: { id: string }) => c.id === id));
    // An instructor sees only the containers of classes they teach or assist: this one is in none.
    assert.equal((await teacher.call('GET', `/api/containers/${id}`)).status, 404);
    assert.equal((await teacher.call('DELETE', `/api/containers/${id}`)).status, 404);
    assert.equal((await teacher.call('POST', `/api/containers/${id}/terminal-token`)).status, 404);
    assert.ok(!(await teacher.call('GET', '/api/containers')).json.some((c: { id: string }) => c.id === id));

    const other = await s2.openPython();
    const intruder = term();
    const r = await intruder.attach(id, await s2.attachToken(other));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'FORBIDDEN');
    await s2.call('DELETE', `/api/containers/${other}`);
    // Still answering for its owner.
    t.type('print("still", 1+1)\r');
    await t.waitFor(/still 2\r\n>>> $/);
    await s1.call('DELETE', `/api/containers/${id}`);
    await t.waitFor(/>>> $/);
    assert.equal(t.exit?.reason, 'removed');
  });

  test('forged, expired and wrong-kind tokens are refused on attach', async () => {
    const id = await s1.openPython();
    const t = term();
    const good = await s1.attachToken(id);
    const [body, mac] = good.split('.') as [string, string];
    const forgedBody = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), sub: 'someone' })).toString('base64url');
    const cases: Array<[string, string]> = [
      [`${forgedBody}.${mac}`, 'UNAUTHENTICATED'],
      [host.signer.sign({ kind: 'attach', sub: 'x', cid: id }, -1).token, 'UNAUTHENTICATED'],
      [host.signer.sign({ kind: 'session', sub: 'x' }, 60_000).token, 'UNAUTHENTICATED'],
      [host.signer.sign({ kind: 'attach', sub: 'not-the-owner', cid: id }, 60_000).token, 'FORBIDDEN'],
      [host.signer.sign({ kind: 'attach', sub: 'x', cid: '0123456789ab' }, 60_000).token, 'FORBIDDEN'],
    ];
    for (const [token, code] of cases) {
      const r = await t.attach(id, token);
      assert.equal(r.ok ? 'ok' : r.error.code, code);
    }
    const expired = await t.attach(id, host.signer.sign({ kind: 'attach', sub: 'x', cid: id }, -1).token);
    assert.match(!expired.ok ? expired.error.message : '', /expired/);
    assert.equal((await t.attach(id, good)).ok, true);
    await s1.call('DELETE', `/api/containers/${id}`);
  });

  test('malformed socket payloads get an error event and change nothing', async () => {
    const id = await s1.openPython();
    const t = term();
    await t.connected();
    const raw = t.socket as unknown as { emit: (...a: unknown[]) => void; emitWithAck: (...a: unknown[]) => Promise<any> };
    // Before attach: nothing reaches a terminal.
    raw.emit('input', 'print(1)\r');
    raw.emit('resize', { cols: 10, rows: 10 });
    raw.emit('end');
    // Garbage of every shape.
    assert.equal((await raw.emitWithAck('attach', {})).error.code, 'BAD_PAYLOAD');
    assert.equal((await raw.emitWithAck('attach', { containerId: id, token: 5, cols: 'a', rows: null })).error.code, 'BAD_PAYLOAD');
    assert.equal((await raw.emitWithAck('attach', null)).error.code, 'BAD_PAYLOAD');
    raw.emit('attach', 'no callback');
    raw.emit('resize', 'big');
    raw.emit('ack', -5);
    raw.emit('ack', 'x');
    raw.emit('no-such-event', { x: 1 });
    await sleep(200);
    const codes = t.errors.map((e) => e.code);
    assert.ok(codes.includes('NOT_ATTACHED'), codes.join());
    assert.ok(codes.filter((c) => c === 'BAD_PAYLOAD').length >= 4, codes.join());
    assert.ok(t.socket.connected);
    // The same socket then attaches and works.
    assert.equal((await t.attach(id, await s1.attachToken(id))).ok, true);
    raw.emit('input', 12345);
    raw.emit('resize', { cols: 100000, rows: 1 });
    t.type('print(7*6)\r');
    await t.waitFor(/\r\n42\r\n>>> /);
    await s1.call('DELETE', `/api/containers/${id}`);
  });

  test('a 10 MB paste: one oversize message is refused politely, the same paste in chunks arrives whole', { timeout: 120_000 }, async () => {
    const id = await s1.openPython();
    const t = term();
    await t.attach(id, await s1.attachToken(id));
    await t.waitFor(/>>> $/);
    const huge = 'a'.repeat(INPUT_CHUNK_MAX + 1);
    const refused = await t.socket.emitWithAck('input', huge);
    assert.equal(!refused.ok && refused.error.code, 'INPUT_TOO_LARGE');
    // The program reads its terminal raw (as editors and readline do): the kernel's canonical
    // line discipline would otherwise cap lines and echo, which is not what is under test here.
    t.type('exec("import os, tty\\ntty.setraw(0)\\nn = 0\\nwhile n < 10_000_000: n += len(os.read(0, 65536))\\nprint(\\"TOTAL\\", n)")\r');
    await sleep(300);
    // 10,000 lines of 999 characters + CR: 10 MB, sent the way the web app does (one in flight).
    const line = `${'b'.repeat(999)}\r`;
    const chunk = line.repeat(Math.floor(INPUT_CHUNK_MAX / line.length));
    let sent = 0;
    const total = 10_000_000;
    while (sent < total) {
      const part = chunk.slice(0, Math.min(chunk.length, total - sent));
      const r = await t.socket.emitWithAck('input', part);
      if (!r.ok) {
        assert.equal(r.error.code, 'INPUT_BUSY');
        await sleep(20);
        continue;
      }
      sent += part.length;
    }
    await t.waitFor(/TOTAL 10000000/, 60_000);
    t.type('print(6*7)\r');
    await t.waitFor(/42\r?\n>>> $/);
    await s1.call('DELETE', `/api/containers/${id}`);
  });

  test('flow control: a browser that stops acking pauses the program; acking resumes it', { timeout: 60_000 }, async () => {
    const id = await s1.openPython();
    const t = term();
    await t.attach(id, await s1.attachToken(id));
    await t.waitFor(/>>> $/);
    t.acking = false;
    t.type('while True: print("x" * 200)\r\r');
    await sleep(1500);
    const session = host.sessions.get(id)!;
    assert.equal(session.isPaused, true);
    const got = t.received;
    assert.ok(got < FLOW_HIGH_WATERMARK * 2 + 64 * 1024, `received ${got} without acking`);
    await sleep(500);
    assert.ok(t.received - got < 32 * 1024, 'output kept coming while paused');
    t.acking = true;
    t.socket.emit('ack', t.received);
    await sleep(500);
    assert.ok(t.received > got + 100_000, 'output resumed');
    t.type('\x03');
    await t.waitFor(/KeyboardInterrupt\r\n(\r\n)?>>> $/, 20_000);
    t.type('print("alive", 6*7)\r');
    await t.waitFor(/alive 42\r\n>>> $/);
    await s1.call('DELETE', `/api/containers/${id}`);
  });

  test('re-attach gets the screen back and the same process; end removes the container and its cgroup', async () => {
    const id = await s1.openPython();
    assert.ok(cgroupDirsOf(id).length > 0, 'a running container has a cgroup');
    const a = term();
    await a.attach(id, await s1.attachToken(id));
    await a.waitFor(/>>> $/);
    a.type('x = 1234\r');
    a.type('print(x * 2)\r');
    await a.waitFor(/2468\r\n>>> $/);
    a.close();
    await sleep(300);
    const b = term();
    await b.attach(id, await s1.attachToken(id));
    await b.waitFor(/2468/);
    b.type('print(x + 1)\r');
    await b.waitFor(/1235\r\n>>> $/);
    // A second tab takes over; the first is told.
    const c = term();
    await c.attach(id, await s1.attachToken(id));
    await sleep(200);
    assert.ok(b.errors.some((e) => e.code === 'TAKEN_OVER'));
    c.socket.emit('end');
    for (let i = 0; i < 100 && !c.exit; i++) await sleep(50);
    assert.equal(c.exit?.reason, 'ended');
    assert.equal((await s1.call('GET', `/api/containers/${id}`)).status, 404);
    assert.ok(!(await host.engine.list({ all: true })).some((s) => s.id === id));
    assert.deepEqual(cgroupDirsOf(id), []);
    const row = await host.db.container.findUnique({ where: { id } });
    assert.equal(row?.status, 'removed');
    assert.equal(row?.endReason, 'ended');
  });

  test('the unix socket is mode 0600 and trusted as the administrator', async () => {
    const { statSync } = await import('node:fs');
    assert.equal(statSync(host.socketPath).mode & 0o777, 0o600);
    const { request } = await import('node:http');
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: host.socketPath, path: '/api/auth/me', method: 'GET' }, (res) => {
        let d = '';
        res.on('data', (c) => (d += c));
        res.on('end', () => resolve(`${res.statusCode} ${d}`));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, '200 {"admin":true}');
  });

  test('the program exiting ends the session with its outcome', async () => {
    const id = await s1.openPython();
    const t = term();
    await t.attach(id, await s1.attachToken(id));
    await t.waitFor(/>>> $/);
    t.type('import sys; sys.exit(3)\r');
    for (let i = 0; i < 100 && !t.exit; i++) await sleep(50);
    assert.deepEqual(t.exit, { outcome: { outcome: 'exited', code: 3 }, reason: 'exited', message: 'the program exited (code 3)' });
    assert.equal((await s1.call('GET', `/api/containers/${id}`)).status, 404);
  });

  test('grace expiry: a terminal nobody attaches to is ended', async () => {
    await host.close();
    host = await startTestHost(home.dir, { SESSION_GRACE_SECONDS: '1' });
    s1 = await ApiClient.signIn(host.base, 'student1');
    const id = await s1.openPython();
    await sleep(2500);
    const row = await host.db.container.findUnique({ where: { id } });
    assert.equal(row?.endReason, 'grace');
    assert.equal((await s1.call('GET', `/api/containers/${id}`)).status, 404);
  });
});
