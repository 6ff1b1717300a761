// Admin user management against a real host: create, import (all or nothing), disable (sessions
// revoked at once, containers ended with a sentence), roles, password reset, delete, the audit log,
// and refusals for students and instructors.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { ApiClient, ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (the host opens the engine: cgroups, mounts)';

describe('admin user management', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let admin: ApiClient;

  const signInAs = async (username: string, password: string) => {
    const r = await new ApiClient(host.base).call('POST', '/api/auth/sign-in', { username, password });
    return { status: r.status, client: new ApiClient(host.base, r.json?.token), json: r.json };
  };

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
    admin = await ApiClient.signIn(host.base, 'admin');
  });
  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  test('students and instructors get 403 on every admin route; nobody signed in gets 401', async () => {
    const student = await ApiClient.signIn(host.base, 'student1');
    const teacher = await ApiClient.signIn(host.base, 'teacher');
    const anon = new ApiClient(host.base);
    for (const [m, p, b] of [['GET', '/api/admin/users'], ['POST', '/api/admin/users', { username: 'x1' }], ['GET', '/api/admin/audit'], ['POST', '/api/admin/users/import', { csv: 'a' }]] as const) {
      assert.equal((await student.call(m, p, b)).status, 403, `student ${m} ${p}`);
      assert.equal((await teacher.call(m, p, b)).status, 403, `teacher ${m} ${p}`);
      assert.equal((await anon.call(m, p, b)).status, 401, `anon ${m} ${p}`);
    }
  });

  test('create with an initial password: shown once, must be changed at first sign-in; usernames are unique', async () => {
    const r = await admin.call('POST', '/api/admin/users', { username: 'newstudent', displayName: 'New Student', role: 'student' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const pw = r.json.credential.initialPassword as string;
    assert.ok(pw.length >= 12);
    assert.equal(r.json.user.mustChangePassword, true);
    const row = await host.db.user.findUniqueOrThrow({ where: { username: 'newstudent' } });
    assert.ok(!row.passwordHash.includes(pw));
    const s = await signInAs('newstudent', pw);
    assert.equal(s.status, 200);
    assert.equal(s.json.mustChangePassword, true);
    assert.equal((await s.client.call('GET', '/api/containers')).json.error.code, 'PASSWORD_CHANGE_REQUIRED');
    const dup = await admin.call('POST', '/api/admin/users', { username: 'newstudent' });
    assert.equal(dup.status, 409);
    const bad = await admin.call('POST', '/api/admin/users', { username: 'Bad Name!' });
    assert.equal(bad.status, 400);
    assert.ok(bad.json.error.issues.some((i: { path: string }) => i.path === 'username'));
  });

  test('create with a one-time link: the link signs in once', async () => {
    const r = await admin.call('POST', '/api/admin/users', { username: 'linkstudent', credential: 'link' });
    assert.equal(r.status, 201);
    const link = r.json.credential.link as string;
    assert.match(link, /^\/sign-in\/link#/);
    const token = link.split('#')[1]!;
    assert.equal((await new ApiClient(host.base).call('POST', '/api/auth/link', { token })).status, 200);
    assert.equal((await new ApiClient(host.base).call('POST', '/api/auth/link', { token })).status, 401);
  });

  test('a CSV import with any bad line creates nobody and names every line and field', async () => {
    const before = await host.db.user.count();
    const csv = 'username,name,email,role\nalice,Alice A,alice@example.org,student\nBad User,B,,student\ncarol,C,not-an-email,student\nalice,Alice again,,\ndave,D,,wizard\nstudent1,Taken,,\n';
    const r = await admin.call('POST', '/api/admin/users/import', { csv });
    assert.equal(r.status, 400);
    const paths = r.json.error.issues.map((i: { path: string }) => i.path);
    assert.deepEqual(paths, ['line 3.username', 'line 4.email', 'line 5.username', 'line 6.role']);
    assert.equal(await host.db.user.count(), before);
    // Syntax fixed, one name taken: still nothing.
    const taken = await admin.call('POST', '/api/admin/users/import', { csv: 'alice,Alice\nstudent1,Taken\n' });
    assert.equal(taken.status, 400);
    assert.deepEqual(taken.json.error.issues.map((i: { path: string }) => i.path), ['line 2.username']);
    assert.equal(await host.db.user.count(), before);
    const ok = await admin.call('POST', '/api/admin/users/import', { csv: 'alice,Alice A,alice@example.org\nbob,Bob B,,instructor\n' });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    assert.deepEqual(ok.json.created.map((c: { username: string }) => c.username), ['alice', 'bob']);
    assert.equal((await host.db.user.findUniqueOrThrow({ where: { username: 'bob' } })).role, 'instructor');
    assert.equal((await signInAs('alice', ok.json.created[0].initialPassword)).status, 200);
  });

  test('disabling a user revokes their sessions at once and ends their terminal with a sentence', async () => {
    const made = await admin.call('POST', '/api/admin/users', { username: 'disableme' });
    const first = await signInAs('disableme', made.json.credential.initialPassword);
    assert.equal((await first.client.call('POST', '/api/auth/password', { newPassword: 'disable-me-password' })).status, 200);
    const c = first.client;
    const box = await c.call('POST', '/api/containers', { ret: 'python@3.11' });
    assert.equal(box.status, 201, JSON.stringify(box.json));
    const id = box.json.id as string;
    assert.ok(host.sessions.get(id));
    const listed = await admin.call('GET', '/api/admin/users?q=disableme');
    assert.equal(listed.json.users[0].runningContainers, 1);
    assert.equal(listed.json.users[0].sessions, 1);
    const r = await admin.call('POST', `/api/admin/users/${made.json.user.id}`, { disabled: true });
    assert.equal(r.status, 200);
    assert.equal(r.json.disabled, true);
    assert.equal(r.json.sessions, 0);
    assert.equal((await c.call('GET', '/api/auth/me')).status, 401);
    assert.equal(host.sessions.get(id), undefined);
    const row = await host.db.container.findUniqueOrThrow({ where: { id } });
    assert.equal(row.status, 'removed');
    assert.equal(row.endMessage, 'your account was disabled by an administrator');
    assert.equal((await signInAs('disableme', 'disable-me-password')).status, 401);
    assert.equal((await admin.call('POST', `/api/admin/users/${made.json.user.id}`, { disabled: false })).status, 200);
    assert.equal((await signInAs('disableme', 'disable-me-password')).status, 200);
  });

  test('role changes apply to live sessions; an admin cannot demote or disable themselves, nor the last admin go', async () => {
    const u = await host.db.user.findUniqueOrThrow({ where: { username: 'student2' } });
    const s2 = await ApiClient.signIn(host.base, 'student2');
    assert.equal((await s2.call('GET', '/api/admin/users')).status, 403);
    assert.equal((await admin.call('POST', `/api/admin/users/${u.id}`, { role: 'admin' })).status, 200);
    assert.equal((await s2.call('GET', '/api/admin/users')).status, 200);
    const me = await host.db.user.findUniqueOrThrow({ where: { username: 'admin' } });
    assert.equal((await admin.call('POST', `/api/admin/users/${me.id}`, { disabled: true })).status, 403);
    assert.equal((await admin.call('POST', `/api/admin/users/${me.id}`, { role: 'student' })).status, 403);
    // student2 (now an admin) demotes the other admin... but not when it would leave none.
    assert.equal((await s2.call('POST', `/api/admin/users/${me.id}`, { role: 'instructor' })).status, 200);
    const last = await admin.call('POST', `/api/admin/users/${u.id}`, { role: 'student' });
    assert.equal(last.status, 403); // admin is an instructor now
    assert.equal((await s2.call('POST', `/api/admin/users/${me.id}`, { role: 'admin' })).status, 200);
    assert.equal((await admin.call('POST', `/api/admin/users/${u.id}`, { role: 'student' })).status, 200);
    assert.equal((await s2.call('GET', '/api/admin/users')).status, 403);
  });

  test('a password reset signs the user out and hands out a new credential', async () => {
    const u = await host.db.user.findUniqueOrThrow({ where: { username: 'alice' } });
    const r = await admin.call('POST', `/api/admin/users/${u.id}/reset-password`, { credential: 'link' });
    assert.equal(r.status, 200);
    assert.match(r.json.credential.link, /^\/sign-in\/link#/);
    assert.equal(r.json.user.mustChangePassword, true);
    assert.equal(r.json.user.sessions, 0);
  });

  test('deleting a user needs their username as confirmation; their containers end; workspaces kept or removed', async () => {
    const made = await admin.call('POST', '/api/admin/users', { username: 'deleteme' });
    const id = made.json.user.id as string;
    const wrong = await admin.call('POST', `/api/admin/users/${id}/delete`, { workspaces: 'keep', confirm: 'deleteMe' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.json.error.message, /type the username "deleteme"/);
    const ok = await admin.call('POST', `/api/admin/users/${id}/delete`, { workspaces: 'remove', confirm: 'deleteme' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.workspaces, 'removed');
    assert.equal(await host.db.user.count({ where: { id } }), 0);
    assert.equal((await admin.call('GET', `/api/admin/users/${id}`)).status, 404);
  });

  test('the limit policy editor: read, change a default and the per-user cap; refuses ceilings above the host and defaults above ceilings', async () => {
    const r = await admin.call('GET', '/api/admin/limits');
    assert.equal(r.status, 200);
    assert.ok(r.json.host.memoryBytes > 0);
    assert.ok(r.json.ceilings.memoryBytes <= r.json.host.memoryBytes);
    const set = await admin.call('POST', '/api/admin/limits', { defaults: { memoryBytes: 256 * 1024 * 1024 }, maxContainersPerUser: 6 });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    assert.equal(set.json.defaults.memoryBytes, 256 * 1024 * 1024);
    assert.equal(set.json.maxContainersPerUser, 6);
    assert.equal((await admin.call('GET', '/api/admin/limits')).json.maxContainersPerUser, 6);
    const tooBig = await admin.call('POST', '/api/admin/limits', { ceilings: { memoryBytes: r.json.host.memoryBytes * 4 } });
    assert.equal(tooBig.status, 400, JSON.stringify(tooBig.json));
    const inverted = await admin.call('POST', '/api/admin/limits', { defaults: { pids: set.json.ceilings.pids + 1 } });
    assert.equal(inverted.status, 400, JSON.stringify(inverted.json));
    assert.equal((await admin.call('GET', '/api/admin/limits')).json.defaults.memoryBytes, 256 * 1024 * 1024);
    // Unknown fields, zero or negative values and values below a sane minimum: 400 naming the field.
    const bad: Array<[unknown, string, RegExp]> = [
      [{ defaults: { memoryMiB: 1 } }, 'defaults', /memoryMiB/],
      [{ ceilings: { pids: 0 } }, 'ceilings.pids', /at least 8/],
      [{ defaults: { memoryBytes: -1 } }, 'defaults.memoryBytes', /at least 16 MiB/],
      [{ defaults: { memoryBytes: 8 * 1024 * 1024 } }, 'defaults.memoryBytes', /at least 16 MiB/],
      [{ defaults: { cpus: 0.01 } }, 'defaults.cpus', /at least 0\.05/],
      [{ defaults: { diskBytes: 1000 } }, 'defaults.diskBytes', /at least 1 MiB/],
      [{ defaults: { diskInodes: 10 } }, 'defaults.diskInodes', /at least 64/],
      [{ defaults: { ptys: 1 } }, 'defaults.ptys', /at least 2/],
      [{ maxContainersPerUser: 0 }, 'maxContainersPerUser', /at least 1/],
      [{ maxContainersPerUser: -3 }, 'maxContainersPerUser', /at least 1/],
    ];
    for (const [body, path, message] of bad) {
      const res = await admin.call('POST', '/api/admin/limits', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.json)}`);
      const issue = res.json.error.issues.find((i: { path: string }) => i.path === path);
      assert.ok(issue, `${JSON.stringify(body)}: no issue at ${path} in ${JSON.stringify(res.json.error.issues)}`);
      assert.match(issue.message, message);
    }
    // The minimums themselves are accepted.
    const least = await admin.call('POST', '/api/admin/limits', { ceilings: { pids: 8 }, defaults: { pids: 8 } });
    assert.equal(least.status, 200, JSON.stringify(least.json));
    assert.equal((await admin.call('POST', '/api/admin/limits', { defaults: { pids: 128 }, ceilings: { pids: set.json.ceilings.pids } })).status, 200);
    const student = await ApiClient.signIn(host.base, 'student1');
    assert.equal((await student.call('POST', '/api/admin/limits', { maxContainersPerUser: 100 })).status, 403);
    const log = await admin.call('GET', '/api/admin/audit?action=limits.update');
    assert.equal(log.json.total, 3);
  });

  test('the audit log records every action, filterable by action prefix, actor and time, paginated', async () => {
    const all = await admin.call('GET', '/api/admin/audit?pageSize=200');
    assert.equal(all.status, 200);
    const actions = new Set(all.json.entries.map((e: { action: string }) => e.action));
    for (const a of ['user.create', 'user.import', 'user.disable', 'user.enable', 'user.role', 'user.reset-password', 'user.delete', 'limits.update']) assert.ok(actions.has(a), a);
    const created = await admin.call('GET', '/api/admin/audit?action=user.create');
    assert.ok(created.json.entries.every((e: { action: string }) => e.action === 'user.create'));
    const prefixed = await admin.call('GET', '/api/admin/audit?action=user.&actor=student2');
    assert.ok(prefixed.json.total >= 2);
    assert.ok(prefixed.json.entries.every((e: { actorName: string }) => e.actorName === 'student2'));
    const page = await admin.call('GET', '/api/admin/audit?pageSize=2&page=2');
    assert.equal(page.json.entries.length, 2);
    assert.equal(page.json.entries[0].id, all.json.entries[2].id);
    const future = await admin.call('GET', `/api/admin/audit?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`);
    assert.equal(future.json.total, 0);
    assert.equal((await admin.call('GET', '/api/admin/audit?from=yesterday')).status, 400);
    // Nothing secret is written down.
    assert.ok(!JSON.stringify(all.json).includes('initialPassword'));
  });
});
