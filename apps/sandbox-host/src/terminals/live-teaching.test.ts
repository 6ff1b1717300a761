// Live teaching against a real host: the /classes live view and the observe / consent / follow
// events of /terminals, each refused to the people who must not have it (a student, a TA of
// another class, nobody signed in, a malformed payload), and the idle policy with a class's own
// short timeouts (output keeps a session alive; the warning comes before the end).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { ClassLiveClientEvents, ClassLiveServerEvents } from '@reg/protocol';
import type { RunningHost } from '../host.js';
import { ApiClient, DEMO_PASSWORD, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay mounts)';

async function tokenOf(base: string, username: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: DEMO_PASSWORD }) });
  assert.equal(res.status, 200, `sign-in ${username}`);
  return ((await res.json()) as { token: string }).token;
}

/** A terminal socket signed in as someone (the handshake's bearer token, as a cookie would be). */
class SignedTerminal extends TestTerminal {
  notices: Array<{ kind: string; message: string }> = [];
  watchers: Array<{ id: string; name: string; canType: boolean }> = [];
  consents: Array<{ helperId: string; name: string }> = [];
  canType = false;
  events: string[] = [];
  size: { cols: number; rows: number } | undefined;

  constructor(base: string, token?: string) {
    super(base);
    this.socket.close();
    const s = io(`${base}/terminals`, { transports: ['websocket'], forceNew: true, ...(token && { extraHeaders: { authorization: `Bearer ${token}` } }) });
    (this as { socket: typeof s }).socket = s;
    const take = (d: string, screen: boolean) => {
      if (screen) this.text = '';
      this.text = (this.text + d).slice(-200_000);
      s.emit('ack', Math.max(1, d.length));
    };
    s.on('screen', (d) => take(d, true));
    s.on('output', (d) => take(d, false));
    s.on('error', (e) => this.errors.push(e));
    s.on('exit', (e) => {
      this.exit = e;
      this.events.push('exit');
    });
    s.on('notice', (n) => {
      this.notices.push(n);
      this.events.push(`notice:${n.kind}`);
    });
    s.on('watchers', (w) => (this.watchers = w));
    s.on('consent', (c) => this.consents.push(c));
    s.on('control', (c) => (this.canType = c.canType));
    s.on('resized', (size) => (this.size = size));
  }
}

function liveSocket(base: string, token?: string): Socket<ClassLiveServerEvents, ClassLiveClientEvents> {
  return io(`${base}/classes`, { transports: ['websocket'], forceNew: true, ...(token && { extraHeaders: { authorization: `Bearer ${token}` } }) });
}

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('live teaching', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const sockets: Array<{ close(): void }> = [];
  const classId = 'cls-live';
  const otherClassId = 'cls-other';
  const idleClassId = 'cls-idle';

  /** Opens a python terminal for `username` in `cls`, as the class's "open terminal" does. */
  async function openInClass(username: string, cls: string, command: string[] = ['python3']): Promise<string> {
    const state = await host.engine.generate({ ret: 'python@3.11', command, tty: true });
    await host.db.container.create({ data: { id: state.id, ownerId: ids[username]!, classId: cls, ret: state.ret, command: JSON.stringify(state.command), tty: true, status: state.status } });
    await host.sessions.open(state, ids[username]!, { cols: 100, rows: 30 }, { classId: cls });
    return state.id;
  }

  async function attachAs(username: string, containerId: string): Promise<SignedTerminal> {
    const t = new SignedTerminal(host.base, tokens[username]);
    sockets.push(t);
    const api = new ApiClient(host.base, tokens[username]);
    const r = await t.attach(containerId, await api.attachToken(containerId));
    assert.ok(r.ok, JSON.stringify(r));
    return t;
  }

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir, { IDLE_TIMEOUT_SECONDS: '0' });
    for (const u of ['student1', 'student2', 'ta1', 'teacher']) {
      ids[u] = (await host.db.user.findUniqueOrThrow({ where: { username: u } })).id;
      tokens[u] = await tokenOf(host.base, u);
    }
    await host.db.user.update({ where: { id: ids.ta1! }, data: { displayName: 'Tess Assistant' } });
    // student1 and student2 in the live class, ta1 assists it; student2 is a TA of another class.
    await host.db.class.create({ data: { id: classId, name: 'Intro to CS', ownerId: ids.teacher!, enrolments: { create: [{ userId: ids.student1!, role: 'student' }, { userId: ids.ta1!, role: 'ta' }] } } });
    await host.db.class.create({ data: { id: otherClassId, name: 'Other', ownerId: ids.teacher!, enrolments: { create: [{ userId: ids.student2!, role: 'ta' }] } } });
    await host.db.class.create({ data: { id: idleClassId, name: 'Idle policy', ownerId: ids.teacher!, idleTimeoutSeconds: 4, idleWarnSeconds: 2, enrolments: { create: [{ userId: ids.student1!, role: 'student' }] } } });
  });

  after(async () => {
    for (const s of sockets) s.close();
    await host?.close();
    await home?.cleanup();
  });

  test('the live view refuses students, TAs of other classes, strangers and malformed payloads', async () => {
    const cases: Array<[string | undefined, unknown, string]> = [
      [undefined, { classId }, 'UNAUTHENTICATED'],
      [tokens.student1, { classId }, 'FORBIDDEN'],
      [tokens.student2, { classId }, 'NOT_FOUND'],
      [tokens.ta1, { classId: 'no-such-class' }, 'NOT_FOUND'],
      [tokens.ta1, { classId: '../etc' }, 'BAD_PAYLOAD'],
      [tokens.ta1, 'nonsense', 'BAD_PAYLOAD'],
    ];
    for (const [token, payload, code] of cases) {
      const s = liveSocket(host.base, token);
      sockets.push(s);
      const r = await s.timeout(5000).emitWithAck('subscribe', payload as { classId: string });
      assert.equal(r.ok, false, JSON.stringify(payload));
      if (!r.ok) assert.equal(r.error.code, code, `${JSON.stringify(payload)}: ${r.error.message}`);
      if (token !== tokens.ta1) {
        const stop = await s.timeout(5000).emitWithAck('stopSession', { classId, userId: ids.student1! });
        assert.equal(stop.ok, false, 'stopSession is checked on its own, not by an earlier subscribe');
      }
      s.close();
    }
  });

  test('a TA sees the roster live, observes read-only until the student consents, and stops the session', async () => {
    const live = liveSocket(host.base, tokens.ta1);
    sockets.push(live);
    const states: string[] = [];
    live.on('student', (e) => e.userId === ids.student1 && states.push(e.state));
    const sub = await live.timeout(5000).emitWithAck('subscribe', { classId });
    assert.ok(sub.ok, JSON.stringify(sub));
    if (!sub.ok) return;
    assert.equal(sub.snapshot.className, 'Intro to CS');
    assert.deepEqual(sub.snapshot.students.map((s: { username: string; state: string }) => [s.username, s.state]), [['student1', 'not-started']], 'only students are on the roster');

    const id = await openInClass('student1', classId);
    const student = await attachAs('student1', id);
    await student.waitFor(/>>> $/, 15_000);
    await until('connected event', () => states.includes('connected'));
    const again = await live.timeout(5000).emitWithAck('subscribe', { classId });
    assert.ok(again.ok && again.snapshot.students[0]!.state === 'connected' && again.snapshot.students[0]!.containerIds[0] === id);
    assert.ok(again.ok && (again.snapshot.students[0]!.memoryBytes ?? 0) > 0, 'memory read from the engine before the first sample');

    // Strangers cannot observe: a student of the class, a TA of another class.
    for (const who of ['student2', 'student1']) {
      const t = new SignedTerminal(host.base, tokens[who]);
      sockets.push(t);
      await t.connected();
      const r = await t.socket.timeout(5000).emitWithAck('observe', { containerId: id, cols: 80, rows: 24 });
      assert.equal(r.ok, false, who);
      if (!r.ok) assert.ok(['NOT_FOUND', 'FORBIDDEN'].includes(r.error.code), `${who}: ${r.error.code}`);
    }

    const ta = new SignedTerminal(host.base, tokens.ta1);
    sockets.push(ta);
    await ta.connected();
    const obs = await ta.socket.timeout(5000).emitWithAck('observe', { containerId: id, cols: 80, rows: 24 });
    assert.ok(obs.ok, JSON.stringify(obs));
    if (obs.ok) assert.deepEqual([obs.kind, obs.className, obs.owner, obs.cols, obs.rows], ['Python', 'Intro to CS', 'student1', 100, 30]);
    // The observer follows the student's terminal size.
    student.socket.emit('resize', { cols: 90, rows: 25 });
    await until('the observer hears the new size', () => ta.size?.cols === 90 && ta.size.rows === 25);
    await until('the student sees the watcher', () => student.watchers.some((w) => w.name === 'Tess Assistant' && !w.canType));
    await until('observing is audited', async () => (await host.db.auditLog.count({ where: { action: 'terminal.observe', targetId: id, actorId: ids.ta1! } })) === 1);

    // The student's work reaches the observer.
    student.type('print(6*7)\r');
    await ta.waitFor(/42/);

    // Typing without consent is refused, and nothing reaches the program.
    const refused = await ta.socket.timeout(5000).emitWithAck('input', 'print(1000+1)\r');
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.equal(refused.error.code, 'READ_ONLY');
    // Forged consent from the observer itself does nothing.
    ta.socket.emit('grant', { helperId: ta.socket.id!, allow: true });
    await sleep(200);
    assert.equal((await ta.socket.timeout(5000).emitWithAck('input', 'x')).ok, false);

    // Ask, the student allows, the helper types.
    assert.ok((await ta.socket.timeout(5000).emitWithAck('requestControl')).ok);
    await until('the consent prompt', () => student.consents.length > 0);
    assert.equal(student.consents[0]!.name, 'Tess Assistant');
    student.socket.emit('grant', { helperId: student.consents[0]!.helperId, allow: true });
    await until('control granted', () => ta.canType);
    assert.ok((await ta.socket.timeout(5000).emitWithAck('input', 'print(500+55)\r')).ok);
    await student.waitFor(/555/);
    assert.doesNotMatch(student.text, /1001/, 'the refused input never reached the program');

    // The student takes the keyboard back.
    student.socket.emit('grant', { helperId: student.consents[0]!.helperId, allow: false });
    await until('control revoked', () => !ta.canType);
    assert.equal((await ta.socket.timeout(5000).emitWithAck('input', 'x')).ok, false);

    // An observer cannot end the session; the TA's "Stop session" can, with the reason.
    ta.socket.emit('end');
    await sleep(200);
    assert.equal(host.sessions.get(id)?.endReason, undefined);
    const stop = await live.timeout(30_000).emitWithAck('stopSession', { classId, userId: ids.student1! });
    assert.ok(stop.ok && stop.ended === 1, JSON.stringify(stop));
    await until('the student is told', () => student.exit !== undefined);
    assert.equal(student.exit!.reason, 'stopped');
    assert.equal(student.exit!.message, 'stopped by your instructor');
    assert.equal(ta.exit?.reason, 'stopped');
    await until('ended event', () => states.includes('ended'));
    const row = await host.db.container.findUniqueOrThrow({ where: { id } });
    assert.equal(row.endMessage, 'stopped by your instructor');
    const audit = await host.db.auditLog.findFirst({ where: { action: 'class.session.stop', classId } });
    assert.equal(audit?.targetId, ids.student1);

    // A reload finds the terminal gone and asks why: only its owner gets the answer.
    const reloaded = new SignedTerminal(host.base, tokens.student1);
    sockets.push(reloaded);
    await reloaded.connected();
    assert.deepEqual(await reloaded.socket.timeout(5000).emitWithAck('whyEnded', { containerId: id }), { ok: true, ended: true, reason: 'stopped', message: 'stopped by your instructor' });
    const nosy = new SignedTerminal(host.base, tokens.ta1);
    sockets.push(nosy);
    await nosy.connected();
    const denied = await nosy.socket.timeout(5000).emitWithAck('whyEnded', { containerId: id });
    assert.ok(!denied.ok && denied.error.code === 'NOT_FOUND');
  });

  test('follow along: the instructor shares a terminal, students of the class watch it read-only', async () => {
    const teacherTerm = await openInClass('teacher', classId);
    const t = await attachAs('teacher', teacherTerm);
    await t.waitFor(/>>> $/, 15_000);
    // A student of another class cannot follow; before sharing there is nothing to follow.
    const early = new SignedTerminal(host.base, tokens.student1);
    sockets.push(early);
    await early.connected();
    const none = await early.socket.timeout(5000).emitWithAck('follow', { classId, cols: 80, rows: 24 });
    assert.ok(!none.ok && none.error.code === 'NOT_FOUND');
    // A student cannot share into the class.
    const sShare = await early.socket.timeout(5000).emitWithAck('share', { classId });
    assert.equal(sShare.ok, false);

    assert.ok((await t.socket.timeout(5000).emitWithAck('share', { classId })).ok);
    const outsider = new SignedTerminal(host.base, tokens.student2);
    sockets.push(outsider);
    await outsider.connected();
    const o = await outsider.socket.timeout(5000).emitWithAck('follow', { classId, cols: 80, rows: 24 });
    assert.ok(!o.ok && o.error.code === 'NOT_FOUND', 'a TA of another class is an outsider here');

    const f = await early.socket.timeout(5000).emitWithAck('follow', { classId, cols: 80, rows: 24 });
    assert.ok(f.ok, JSON.stringify(f));
    t.type('print("follow", 2+3)\r');
    await early.waitFor(/follow 5/);
    assert.equal((await early.socket.timeout(5000).emitWithAck('input', 'x')).ok, false, 'followers never type');
    assert.equal(t.watchers.length, 0, 'followers are not listed as watchers');
    t.socket.emit('end');
    await until('follower told', () => early.exit !== undefined);
  });

  test('the idle policy: output keeps a session alive; a warning comes before the end (class settings)', async () => {
    // idleTimeoutSeconds 4, idleWarnSeconds 2. A loop printing for ~6 s outlives the timeout.
    const id = await openInClass('student1', idleClassId);
    const student = await attachAs('student1', id);
    await student.waitFor(/>>> $/, 15_000);
    student.type('import time\r');
    await student.waitFor(/>>> $/);
    // Printing and sleeping: no input, no CPU to speak of, only output.
    student.type('for i in range(12): print("tick", i, flush=True); time.sleep(0.5)\r\r');
    await student.waitFor(/tick 11/, 20_000);
    assert.equal(student.exit, undefined, 'output counted as activity');
    // Idle: a warning; a key keeps the session (the warning is withdrawn).
    await until('the idle warning', () => student.events.includes('notice:idle-warning'), 20_000);
    assert.equal(student.exit, undefined);
    student.type('1\r');
    await until('the warning withdrawn', () => student.events.includes('notice:idle-cleared'));
    assert.equal(student.exit, undefined);
    // Then idle again: a warning, then the end, in that order, with the reason in words.
    await until('the idle end', () => student.exit !== undefined, 20_000);
    assert.deepEqual(student.events.filter((e) => e !== 'notice:idle-cleared').slice(-2), ['notice:idle-warning', 'exit']);
    assert.match(student.notices.find((n) => n.kind === 'idle-warning')!.message, /will end in \d+ seconds? because it has been idle; press a key to keep it/);
    assert.equal(student.exit!.reason, 'idle');
    assert.equal(student.exit!.message, 'idle for 4 seconds');
  });

  test('a program running silently is not idle', async () => {
    const id = await openInClass('student1', idleClassId);
    const student = await attachAs('student1', id);
    await student.waitFor(/>>> $/, 15_000);
    // A busy loop that prints nothing for ~7 s (beyond the 4 s timeout), then says done.
    student.type('import time\r');
    await student.waitFor(/>>> $/);
    student.type('t=time.time()\rwhile time.time()-t < 7: pass\r\rprint("done")\r');
    await student.waitFor(/done/, 20_000);
    assert.equal(student.exit, undefined, 'CPU time counted as activity');
    student.socket.emit('end');
    await until('ended', () => student.exit !== undefined);
    assert.equal(student.exit!.message, 'you ended the session');
  });
});
