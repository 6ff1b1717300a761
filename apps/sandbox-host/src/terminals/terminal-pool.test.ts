// Warm terminals end to end: a real host whose engine parks launchers under node-pty ahead of
// time, a class started (which holds a member per student), and students' terminals opened over
// HTTP and socket.io as a browser does. Proves that a terminal from a parked member is a working
// terminal (prompt, input, resize, the workspace as its home, exit with its code), that members
// are used once and carry nothing from one student to the next (screen, scrollback, environment),
// and that the host falls back to the cold path when no member is there or one died.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildFromHost, listRets, regHome } from '@reg/core';
import type { RunningHost } from '../host.js';
import { ApiClient, DEMO_PASSWORD, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from '../test-support/host-fixture.js';

/** The terminal's size as the container's programs see it (the class environment is python + bash). */
const SIZE = `python3 -c "import os; s = os.get_terminal_size(); print(f'size={s.columns}x{s.lines}')"`;

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay mounts)';

async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(25);
  }
}

describe('warm terminals (parked launchers under ptys)', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let teacher: ApiClient;
  let s1: ApiClient;
  let s2: ApiClient;
  let classId: string;
  const terminals: TestTerminal[] = [];

  const pool = () => {
    const p = host.sessions.pool;
    assert.ok(p, 'the host has a terminal pool');
    return p;
  };
  const open = async (who: ApiClient, size = { cols: 100, rows: 30 }): Promise<{ id: string; t: TestTerminal; launcherPid: number | undefined }> => {
    const r = await who.call('POST', `/api/classes/${classId}/terminals`);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const t = new TestTerminal(host.base);
    terminals.push(t);
    const reply = await t.attach(r.json.id, await who.attachToken(r.json.id), size);
    assert.equal((reply as { ok: boolean }).ok, true, JSON.stringify(reply));
    await t.waitFor(/\$ $/);
    return { id: r.json.id as string, t, launcherPid: (await host.engine.inspect(r.json.id)).launcherPid };
  };
  const run = (t: TestTerminal, cmd: string, until: RegExp) => {
    t.type(`${cmd}\r`);
    return t.waitFor(until);
  };
  const startClass = async () => {
    const started = await teacher.call('POST', `/api/classes/${classId}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.json));
    await waitUntil('the class is started', async () => (await teacher.call('GET', `/api/classes/${classId}/run`)).json?.status !== 'starting');
  };

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    if (!(await listRets(regHome(home.dir))).some((r) => r.name === 'bash')) await buildFromHost(regHome(home.dir), '/usr/bin/bash');
    // One member kept while the host is quiet, at most 3 parked: a class of two gets both held.
    host = await startTestHost(home.dir, { TERMINAL_POOL_MIN: '1', TERMINAL_POOL_MAX: '3' });
    [teacher, s1, s2] = (await Promise.all(['teacher', 'student1', 'student2'].map((u) => ApiClient.signIn(host.base, u, DEMO_PASSWORD)))) as [ApiClient, ApiClient, ApiClient];
    const c = await teacher.call('POST', '/api/classes', { name: 'Warm terminals', ret: 'python@3.11', tools: ['bash'] });
    assert.equal(c.status, 201, JSON.stringify(c.json));
    classId = c.json.id;
    for (const username of ['student1', 'student2']) assert.equal((await teacher.call('POST', `/api/classes/${classId}/members`, { username, role: 'student' })).status, 200);
  });

  after(async () => {
    for (const t of terminals) t.close();
    await host?.close();
    await home?.cleanup();
  });

  test('Start class holds a member per student, within the pool\'s capacity', async () => {
    await waitUntil('the quiet-host member is parked', () => pool().size >= 1);
    await startClass();
    assert.equal(pool().held(classId), 2);
    assert.equal(pool().target, 3);
    await waitUntil('three members are parked under ptys', () => pool().size >= 3);
    // Beyond the capacity a class gets what is left (here nothing): its students open cold.
    assert.equal(pool().holdFor('another-class', ['a', 'b']), 0);
    pool().release('another-class');
  });

  test('a terminal from a parked member: prompt, input, resize, the workspace as home, exit code', async () => {
    const parked = new Set(pool().pids());
    const taken = pool().taken;
    const { t, launcherPid } = await open(s1);
    assert.equal(pool().taken, taken + 1, 'the open took a member');
    assert.ok(launcherPid !== undefined && parked.has(launcherPid), `the container's launcher (${launcherPid}) is one of the parked members (${[...parked].join(', ')})`);
    assert.equal(pool().held(classId), 1, "student1's hold is used");
    await run(t, 'echo "home=$HOME pwd=$PWD"', /home=\/home\/student pwd=\/home\/student/);
    // The member's pty was sized for the browser on attach, and follows its resizes.
    await run(t, SIZE, /size=100x30/);
    t.socket.emit('resize', { cols: 123, rows: 45 });
    await sleep(100);
    await run(t, SIZE, /size=123x45/);
    await run(t, 'export SECRET_ONE=s3cr3t-one; echo "marker-$SECRET_ONE"; echo kept > ~/first.txt; python3 -c "print(6*7)"', /marker-s3cr3t-one[\s\S]*\r\n42\r\n/);
    t.type('exit 7\r');
    await waitUntil('the session ends', () => t.exit !== undefined);
    assert.equal(t.exit?.outcome.outcome, 'exited');
    assert.equal(t.exit?.outcome.code, 7);
    // A member is used once: its process and pty are gone with the container.
    assert.throws(() => process.kill(launcherPid!, 0), 'the first member has exited');
  });

  test('the next student gets another member and none of the first one\'s screen, scrollback or environment', async () => {
    const parked = new Set(pool().pids());
    const { t, launcherPid } = await open(s2);
    assert.ok(launcherPid !== undefined && parked.has(launcherPid), 'a parked member again');
    assert.doesNotMatch(t.text, /marker|s3cr3t/, 'the first screen is the new shell only');
    await run(t, 'echo "[secret=$SECRET_ONE] [first=$([ -e ~/first.txt ] && echo yes || echo no)]"', /\[secret=\] \[first=no\]/);
    await run(t, SIZE, /size=100x30/);
    // The same student again: their files are their workspace's, but nothing else came along.
    const again = await open(s1);
    assert.doesNotMatch(again.t.text, /marker|s3cr3t/);
    await run(again.t, 'echo "[secret=$SECRET_ONE] [$(<~/first.txt)]"', /\[secret=\] \[kept\]/);
    for (const x of [t, again.t]) {
      x.type('exit\r');
      await waitUntil('the session ends', () => x.exit !== undefined);
    }
  });

  test('a member killed behind the host\'s back is never handed out; an empty pool opens the cold way', async () => {
    await waitUntil('a member is parked again', () => pool().size >= 1);
    const killed = pool().pids();
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    const { t, launcherPid } = await open(s1);
    assert.ok(launcherPid !== undefined && !killed.includes(launcherPid), 'not a killed member');
    await run(t, 'echo "ok=$((20+22))"', /ok=42/);
    t.type('exit\r');
    await waitUntil('the session ends', () => t.exit !== undefined);

    // Stop class lets the held members go.
    assert.equal((await teacher.call('POST', `/api/classes/${classId}/stop`)).status, 200);
    assert.equal(pool().held(classId), 0);
    assert.equal(pool().target, 1);
  });

  test('with the pool off (TERMINAL_POOL_MAX=0) every open is the cold way, and works', async () => {
    await host.close();
    host = await startTestHost(home.dir, { TERMINAL_POOL_MAX: '0' });
    assert.equal(host.sessions.pool, undefined);
    const student = await ApiClient.signIn(host.base, 'student1', DEMO_PASSWORD);
    const r = await student.call('POST', '/api/containers', { ret: 'python@3.11', terminal: true });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const t = new TestTerminal(host.base);
    terminals.push(t);
    await t.attach(r.json.id, await student.attachToken(r.json.id));
    await t.waitFor(/>>> $/);
    t.type('exit()\r');
    await waitUntil('the session ends', () => t.exit !== undefined);
  });
});
