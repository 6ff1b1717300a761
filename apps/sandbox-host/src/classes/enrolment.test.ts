// Enrolment needs consent: an instructor may enrol only student accounts (by roster or "add
// member"), never an admin or another instructor, whose terminals and workspace the class's staff
// could then watch and download. An admin may enrol anyone. Also: what the audit log records of a
// distributed file. A real host on a temp REG_HOME.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../auth/password.js';
import type { RunningHost } from '../host.js';
import { ApiClient, DEMO_PASSWORD, ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (the host mounts workspaces)';

async function tokenOf(base: string, username: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: DEMO_PASSWORD }) });
  assert.equal(res.status, 200, username);
  return ((await res.json()) as { token: string }).token;
}

async function postRoster(base: string, token: string, classId: string, csv: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}/api/classes/${classId}/roster`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
  return { status: res.status, json: await res.json() };
}

describe('who an instructor may enrol', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let teacher: ApiClient;
  let teacherToken: string;
  let admin: ApiClient;
  let adminToken: string;
  let classId: string;

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
    await host.db.user.create({ data: { id: 'u-teacher2', username: 'teacher2', role: 'instructor', passwordHash: await hashPassword(DEMO_PASSWORD) } });
    teacherToken = await tokenOf(host.base, 'teacher');
    adminToken = await tokenOf(host.base, 'admin');
    teacher = new ApiClient(host.base, teacherToken);
    admin = new ApiClient(host.base, adminToken);
    const r = await teacher.call('POST', '/api/classes', { name: 'Consent', ret: 'python@3.11' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    classId = r.json.id;
  });
  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  const members = async () => (await admin.call('GET', `/api/classes/${classId}/members`)).json.map((m: { username: string }) => m.username).sort();

  test('a roster naming an admin or instructor account is refused whole, by line and field', async () => {
    const r = await postRoster(host.base, teacherToken, classId, 'newbie,New B,\nadmin,Evil,\nstudent1,S One,\nteacher2,T Two,\n');
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.match(r.json.error.message, /nothing was imported/);
    assert.deepEqual(r.json.error.issues.map((i: { path: string }) => i.path), ['line 2: username', 'line 4: username']);
    assert.match(r.json.error.issues[0].message, /^admin is an admin account: an instructor may enrol only student accounts/);
    assert.match(r.json.error.issues[1].message, /^teacher2 is an instructor account/);
    assert.equal(await host.db.user.count({ where: { username: 'newbie' } }), 0);
    assert.deepEqual(await members(), ['teacher']);
    // Without those lines it imports.
    const ok = await postRoster(host.base, teacherToken, classId, 'newbie,New B,\nstudent1,S One,\n');
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual(await members(), ['newbie', 'student1', 'teacher']);
  });

  test('"add member" refuses admin and instructor accounts in any class role with a 403 naming them', async () => {
    for (const [username, role] of [['admin', 'student'], ['admin', 'ta'], ['teacher2', 'student'], ['teacher2', 'ta']] as const) {
      const r = await teacher.call('POST', `/api/classes/${classId}/members`, { username, role });
      assert.equal(r.status, 403, `${username} as ${role}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, 'FORBIDDEN');
      assert.match(r.json.error.message, new RegExp(`^${username} is an? (admin|instructor) account`));
    }
    // A student account may be added as a student or a TA.
    assert.equal((await teacher.call('POST', `/api/classes/${classId}/members`, { username: 'ta1', role: 'ta' })).status, 200);
    assert.equal((await teacher.call('POST', `/api/classes/${classId}/members`, { username: 'student2', role: 'student' })).status, 200);
    assert.deepEqual(await members(), ['newbie', 'student1', 'student2', 'ta1', 'teacher']);
  });

  test('an admin may enrol an instructor account (as a TA) and import a roster naming one', async () => {
    const r = await admin.call('POST', `/api/classes/${classId}/members`, { username: 'teacher2', role: 'ta' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const cls2 = await teacher.call('POST', '/api/classes', { name: 'Consent 2', ret: 'python@3.11' });
    const imp = await postRoster(host.base, adminToken, cls2.json.id, 'teacher2,T Two,\nstudent1,S,\n');
    assert.equal(imp.status, 200, JSON.stringify(imp.json));
    assert.deepEqual(imp.json.enrolled.sort(), ['student1', 'teacher2']);
    // Already a member, the account is left alone when the instructor imports again.
    const again = await postRoster(host.base, teacherToken, classId, 'teacher2,T Two,\nstudent1,S,\n');
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.deepEqual(again.json.unchanged.sort(), ['student1', 'teacher2']);
  });

  test('the audit log names the class and the path of a distributed file', async () => {
    const res = await fetch(`${host.base}/api/classes/${classId}/distribute?path=week1/task.py`, { method: 'POST', headers: { authorization: `Bearer ${teacherToken}`, 'content-type': 'application/octet-stream' }, body: 'print(1)\n' });
    assert.equal(res.status, 200, await res.clone().text());
    const e = await host.db.auditLog.findFirst({ where: { action: 'class.distribute', classId } });
    assert.ok(e, 'no class.distribute entry');
    assert.equal(e.targetType, 'file');
    assert.equal(e.targetId, `${classId}/week1/task.py`);
    assert.equal(JSON.parse(e.details).path, 'week1/task.py');
  });
});
