// Start class in a cluster of three real hosts on this machine (a shared SQLite database and a
// shared directory for workspaces): the host that receives the click places every student,
// pre-pulls onto the hosts chosen and has each prepare its share, so the class spreads; a
// student's click lands on the host that prepared them and takes that container; Stop class
// asked of another host ends the class on every host. Then a host freezes (SIGSTOP) as the class
// starts again: its students are prepared on the live hosts once its failover has freed their
// workspaces, and the run still ends with every student ready. Stop class through another host
// while the coordinator is still starting leaves nothing prepared; and when the coordinator of a
// started class dies, the host that fails it over takes the run over.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { loadOrCreateClusterSecret } from './cluster-secret.js';
import { CLUSTER_HEADER, requestKey, signClusterRequest } from './request-auth.js';
import { ApiClient, cgroupDirsOf, ensurePythonRet, isRoot, startChildHost, startTestHost, tempRegHome, TestTerminal, waitUntil, type ChildHost } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay and loop mounts)';
const ROSTER = ['ann,Ann A,', 'bob,Bob B,', 'cy,Cy C,', 'dee,Dee D,', 'student1,Student One,', 'student2,Student Two,'].join('\n');

describe('Start class in a cluster of three hosts', { skip }, () => {
  let shared: string;
  const homes: Array<Awaited<ReturnType<typeof tempRegHome>>> = [];
  let h1: (RunningHost & { base: string }) | undefined;
  const children = new Map<string, ChildHost>();
  const terminals: TestTerminal[] = [];
  let teacher: ApiClient;
  let classId = '';
  const passwords = new Map<string, string>(); // the roster's new accounts: their initial passwords
  const base = (hostId: string) => (hostId === 'h1' ? h1!.base : children.get(hostId)!.base);

  before(async () => {
    shared = await mkdtemp(join(tmpdir(), 'reg-cluster-start-'));
    for (let i = 0; i < 3; i++) homes.push(await tempRegHome());
    await Promise.all(homes.map((h) => ensurePythonRet(h.dir)));
    const env = { REG_CLUSTER: '1', REG_SHARED_DIR: shared, DATABASE_URL: `file:${join(shared, 'reg.db')}`, REG_HEARTBEAT_SECONDS: '1', REG_CLUSTER_ORIGIN_ONLY: '0' }; // the test plays the web origin
    // One at a time: the first creates the database.
    children.set('h2', await startChildHost({ ...env, REG_HOME: homes[1]!.dir, REG_HOST_ID: 'h2' }));
    children.set('h3', await startChildHost({ ...env, REG_HOME: homes[2]!.dir, REG_HOST_ID: 'h3' }));
    h1 = await startTestHost(homes[0]!.dir, { ...env, REG_HOST_ID: 'h1' });
    teacher = await ApiClient.signIn(h1.base, 'teacher');
    const created = await teacher.call('POST', '/api/classes', { name: 'Spread class', ret: 'python@3.11' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    classId = created.json.id as string;
    const res = await fetch(`${h1.base}/api/classes/${classId}/roster`, { method: 'POST', headers: { authorization: `Bearer ${(teacher as unknown as { token: string }).token}`, 'content-type': 'text/csv' }, body: ROSTER });
    assert.equal(res.status, 200);
    for (const a of ((await res.json()) as { created: Array<{ username: string; password: string }> }).created) passwords.set(a.username, a.password);
    await waitUntil('three live hosts', async () => (await h1!.db.host.count({ where: { status: 'up' } })) === 3);
  });

  after(async () => {
    for (const t of terminals) t.close();
    for (const c of children.values()) {
      if (c.proc.exitCode !== null) continue;
      c.proc.kill('SIGCONT');
      c.proc.kill('SIGTERM');
      const exited = await Promise.race([new Promise((r) => c.proc.once('exit', () => r(true))), new Promise((r) => setTimeout(() => r(false), 20_000))]);
      if (!exited) c.proc.kill('SIGKILL');
    }
    await h1?.close();
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${shared}/`)).sort((a, b) => b.length - a.length);
    for (const m of mounts) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    await rm(shared, { recursive: true, force: true });
    for (const h of homes) await h.cleanup();
  });

  const prepared = async () => {
    const rows = await h1!.db.container.findMany({ where: { classId, status: { not: 'removed' } }, select: { id: true, hostId: true, ownerId: true } });
    const perHost: Record<string, number> = {};
    for (const r of rows) perHost[r.hostId!] = (perHost[r.hostId!] ?? 0) + 1;
    return { rows, perHost };
  };

  test("a class start's routes between hosts refuse anyone without the cluster's signed header, and name a bad body", async () => {
    const token = (teacher as unknown as { token: string }).token;
    for (const path of [`/api/cluster/classes/${classId}/prepare`, `/api/cluster/classes/${classId}/stop`]) {
      const bare = await fetch(`${base('h2')}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"runId":"r","userIds":[]}' });
      assert.equal(bare.status, 401, path);
      const asTeacher = await fetch(`${base('h2')}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"runId":"r","userIds":[]}' });
      assert.equal(asTeacher.status, 401, `${path}: a signed-in instructor is not a host`);
      const forged = await fetch(`${base('h2')}${path}`, { method: 'POST', headers: { [CLUSTER_HEADER]: signClusterRequest(Buffer.alloc(32), 'h1', 'POST', path), 'content-type': 'application/json' }, body: '{"runId":"r","userIds":[]}' });
      assert.equal(forged.status, 401, `${path}: signed with another key`);
      assert.match(((await forged.json()) as { error: { message: string } }).error.message, /signature does not match/);
    }
    const path = `/api/cluster/classes/${classId}/prepare`;
    const key = requestKey(await loadOrCreateClusterSecret(join(shared, 'cluster-secret'), { create: false }));
    const bad = await fetch(`${base('h2')}${path}`, { method: 'POST', headers: { [CLUSTER_HEADER]: signClusterRequest(key, 'h1', 'POST', path), 'content-type': 'application/json' }, body: '{"runId":"r","userIds":"everyone"}' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /userIds/);
    // Someone who is not a student of the class is answered for, never prepared.
    const stranger = await fetch(`${base('h2')}${path}`, { method: 'POST', headers: { [CLUSTER_HEADER]: signClusterRequest(key, 'h1', 'POST', path), 'content-type': 'application/json' }, body: JSON.stringify({ runId: 'probe', userIds: ['nobody'] }) });
    assert.equal(stranger.status, 200);
    const lines = (await stranger.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines, [
      { userId: 'nobody', ok: false, code: 'NOT_FOUND', message: 'not a student of this class (removed since the start began?)' },
      { error: { code: 'ILLEGAL_TRANSITION', message: 'this class start was stopped (or never began)' } },
    ]);
    assert.equal(await h1!.db.container.count({ where: { classId } }), 0);
  });

  test('the class spreads over the hosts; a click takes what its host prepared; Stop class on another host ends it everywhere', async () => {
    const start = await teacher.call('POST', `/api/classes/${classId}/start`);
    assert.equal(start.status, 200, JSON.stringify(start.json));
    const run = await waitUntil('the run started', async () => {
      const r = await h1!.db.classRun.findFirst({ where: { classId }, orderBy: { startedAt: 'desc' } });
      return r && r.status !== 'starting' ? r : undefined;
    }, 120_000);
    assert.equal(run.status, 'started', run.failures);
    assert.deepEqual([run.total, run.ready, run.failed], [6, 6, 0]);
    assert.equal(run.hostId, 'h1', 'the host that received the click coordinates the run');

    // Two students per host (placement's class spread), each workspace leased where it was prepared.
    const { rows, perHost } = await prepared();
    assert.deepEqual(perHost, { h1: 2, h2: 2, h3: 2 });
    const leases = await h1!.db.workspaceLease.findMany({ where: { classId } });
    for (const r of rows) assert.equal(leases.find((l) => l.userId === r.ownerId)?.hostId, r.hostId, `the lease of ${r.ownerId} is where it was prepared`);
    // The pre-pull covered the three hosts (audited).
    const prepull = await h1!.db.auditLog.findFirst({ where: { action: 'class.prepull', classId }, orderBy: { at: 'desc' } });
    assert.deepEqual((JSON.parse(prepull!.details) as { ready: string[] }).ready.sort(), ['h1', 'h2', 'h3']);

    // student1 clicks "open terminal" through a host that did not prepare them: the click is
    // forwarded to the one that did, and takes the container prepared there.
    const student = await ApiClient.signIn(h1!.base, 'student1');
    const me = (await student.call('GET', '/api/auth/me')).json.id as string;
    const mine = rows.find((r) => r.ownerId === me)!;
    const via = ['h1', 'h2', 'h3'].find((h) => h !== mine.hostId)!;
    const opened = await new ApiClient(base(via), (student as unknown as { token: string }).token).call('POST', `/api/classes/${classId}/terminals`);
    assert.equal(opened.status, 201, JSON.stringify(opened.json));
    assert.equal(opened.json.id, mine.id, 'the prepared container was taken');
    const t = new TestTerminal(base(mine.hostId!));
    terminals.push(t);
    // (The web origin sends a container's requests to its host; here the test does.)
    const reply = await t.attach(mine.id, await new ApiClient(base(mine.hostId!), (student as unknown as { token: string }).token).attachToken(mine.id));
    assert.equal((reply as { ok: boolean }).ok, true, JSON.stringify(reply));
    await t.waitFor(/>>> $/);

    // Stop class, asked of a host that neither coordinates the run nor runs student1's terminal.
    const other = ['h2', 'h3'].find((h) => h !== mine.hostId)!;
    const stop = await new ApiClient(base(other), (teacher as unknown as { token: string }).token).call('POST', `/api/classes/${classId}/stop`);
    assert.equal(stop.status, 200, JSON.stringify(stop.json));
    assert.equal(stop.json.ended, 1, 'student1\'s terminal on its host');
    assert.equal(stop.json.run.status, 'stopped');
    const exit = await waitUntil('the terminal was told', async () => t.exit);
    assert.match(exit.message, /stopped by your instructor/);
    assert.deepEqual((await prepared()).rows, [], 'no container of the class is left on any host');
    for (const r of rows) assert.deepEqual(cgroupDirsOf(r.id), [], `${r.id} (on ${r.hostId}) is gone`);
  });

  test('six students click "open terminal" at the same moment through one host, before any Start class: two per host', async () => {
    // A second class of the same students: no workspace of theirs is leased yet, so placement alone
    // decides. No container row exists until its open answers, so only the opens the host counts
    // as in flight keep all six from reading the same empty class counts (they went to one host).
    const created = await teacher.call('POST', '/api/classes', { name: 'Rush class', ret: 'python@3.11' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const rushId = created.json.id as string;
    const token = (teacher as unknown as { token: string }).token;
    const roster = await fetch(`${h1!.base}/api/classes/${rushId}/roster`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: ROSTER });
    assert.equal(roster.status, 200, await roster.text());
    const students = await Promise.all(
      ['ann', 'bob', 'cy', 'dee', 'student1', 'student2'].map(async (u) => {
        if (!passwords.has(u)) return ApiClient.signIn(h1!.base, u);
        const first = await ApiClient.signIn(h1!.base, u, passwords.get(u));
        const changed = await first.call('POST', '/api/auth/password', { newPassword: 'rush-class-pass-4711' });
        assert.equal(changed.status, 200, JSON.stringify(changed.json));
        passwords.delete(u);
        return ApiClient.signIn(h1!.base, u, 'rush-class-pass-4711');
      }),
    );
    const opened = await Promise.all(students.map((s) => s.call('POST', `/api/classes/${rushId}/terminals`)));
    for (const o of opened) assert.equal(o.status, 201, JSON.stringify(o.json));
    const rows = await h1!.db.container.findMany({ where: { classId: rushId, status: { not: 'removed' } }, select: { hostId: true } });
    const perHost: Record<string, number> = {};
    for (const r of rows) perHost[r.hostId!] = (perHost[r.hostId!] ?? 0) + 1;
    assert.deepEqual(perHost, { h1: 2, h2: 2, h3: 2 });
    const stop = await teacher.call('POST', `/api/classes/${rushId}/stop`);
    assert.equal(stop.status, 200, JSON.stringify(stop.json));
    assert.equal(await h1!.db.container.count({ where: { classId: rushId, status: { not: 'removed' } } }), 0, 'Stop class removed the six');
  });

  test('a host frozen as the class starts: its students are prepared on the live hosts', async () => {
    children.get('h3')!.proc.kill('SIGSTOP');
    const start = await teacher.call('POST', `/api/classes/${classId}/start`);
    assert.equal(start.status, 200, JSON.stringify(start.json));
    assert.equal(start.json.already, false);
    const run = await waitUntil('the second run started', async () => {
      const r = await h1!.db.classRun.findFirst({ where: { classId }, orderBy: { startedAt: 'desc' } });
      return r && r.id === start.json.run.id && r.status !== 'starting' ? r : undefined;
    }, 180_000);
    assert.equal(run.status, 'started', run.failures);
    assert.deepEqual([run.total, run.ready, run.failed], [6, 6, 0]);
    const { perHost } = await prepared();
    assert.equal(perHost.h3, undefined, 'nothing is prepared on the frozen host');
    assert.equal((perHost.h1 ?? 0) + (perHost.h2 ?? 0), 6, JSON.stringify(perHost));
    assert.equal((await h1!.db.host.findUnique({ where: { id: 'h3' } }))!.status, 'down');
    // Which way it went depends on timing (both are correct): h3 was already down when the class
    // was placed, or its pre-pull (or its share) was cut off when it stopped heartbeating.
    const prepull = await h1!.db.auditLog.findFirst({ where: { action: 'class.prepull', classId }, orderBy: { at: 'desc' } });
    const report = JSON.parse(prepull!.details) as { hosts: Array<{ hostId: string }>; failed: Array<{ hostId: string; message: string }> };
    console.log(`# second start: pre-pull asked of ${report.hosts.map((h) => h.hostId).join(', ')}; failed: ${JSON.stringify(report.failed)}; prepared ${JSON.stringify(perHost)}`);
  });

  test('Stop class on another host while the coordinator is still starting: nothing is left prepared, and the run stays stopped', async () => {
    // The previous test's run is started; stop it, then start again and stop at once through h2.
    assert.equal((await teacher.call('POST', `/api/classes/${classId}/stop`)).status, 200);
    const start = await teacher.call('POST', `/api/classes/${classId}/start`);
    assert.equal(start.status, 200, JSON.stringify(start.json));
    const stop = await new ApiClient(base('h2'), (teacher as unknown as { token: string }).token).call('POST', `/api/classes/${classId}/stop`);
    assert.equal(stop.status, 200, JSON.stringify(stop.json));
    assert.equal(stop.json.run.status, 'stopped');
    await new Promise((r) => setTimeout(r, 2000)); // a coordinator that missed the stop would write "started" now
    const run = await h1!.db.classRun.findUnique({ where: { id: start.json.run.id } });
    assert.equal(run!.status, 'stopped');
    assert.deepEqual((await prepared()).rows, [], 'no container of the class is left prepared on any host');
  });

  test("the coordinator dies: the host that fails it over takes the run over and prepares the class on the live hosts", async () => {
    const viaH2 = new ApiClient(base('h2'), (teacher as unknown as { token: string }).token);
    const start = await viaH2.call('POST', `/api/classes/${classId}/start`);
    assert.equal(start.status, 200, JSON.stringify(start.json));
    const runId = start.json.run.id as string;
    const first = await waitUntil('the run started, coordinated by h2', async () => {
      const r = await h1!.db.classRun.findUnique({ where: { id: runId } });
      return r && r.status !== 'starting' ? r : undefined;
    }, 120_000);
    assert.deepEqual([first.status, first.hostId, first.ready], ['started', 'h2', 6]);
    children.get('h2')!.proc.kill('SIGKILL');
    const adopted = await waitUntil('h1 took the run over and prepared it again', async () => {
      const r = await h1!.db.classRun.findUnique({ where: { id: runId } });
      return r && r.hostId === 'h1' && r.status === 'started' ? r : undefined;
    }, 60_000);
    assert.deepEqual([adopted.total, adopted.ready, adopted.failed], [6, 6, 0]);
    assert.deepEqual((await prepared()).perHost, { h1: 6 }, 'every student prepared on the one live host');
  });
});
