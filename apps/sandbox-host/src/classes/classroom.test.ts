// The classroom end to end without a browser: a real host on a temp REG_HOME, a class whose
// environment is python + a bash RET built from this machine, real workspaces (quota volumes)
// mounted as the home of real containers under ptys, roster files with mistakes, Start/Stop class,
// distribute and collect, and the role walk over every class route.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildFromHost, listRets, regHome } from '@reg/core';
import { hashPassword } from '../auth/password.js';
import type { RunningHost } from '../host.js';
import { ApiClient, DEMO_PASSWORD, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from '../test-support/host-fixture.js';
import { classRoutes } from './class-routes.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay and loop mounts)';

interface Signed {
  api: ApiClient;
  token: string;
  name: string;
}

async function signIn(base: string, username: string): Promise<Signed> {
  const res = await fetch(`${base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: DEMO_PASSWORD }) });
  assert.equal(res.status, 200, `sign-in ${username}`);
  const token = ((await res.json()) as { token: string }).token;
  return { api: new ApiClient(base, token), token, name: username };
}

async function raw(base: string, who: Signed, method: string, path: string, body?: Uint8Array | string, type = 'application/octet-stream'): Promise<{ status: number; json: any; bytes: Buffer; type: string | null }> {
  const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${who.token}`, ...(body !== undefined && { 'content-type': type }) }, ...(body !== undefined && { body: body as BodyInit }) });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: any = null;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    // a zip
  }
  return { status: res.status, json, bytes, type: res.headers.get('content-type') };
}

function zipListing(bytes: Buffer, dir: string): string[] {
  const file = join(dir, `z-${Math.random().toString(36).slice(2)}.zip`);
  require_ok(spawnSync('sh', ['-c', `cat > ${file}`], { input: bytes }).status === 0);
  const r = spawnSync('unzip', ['-Z1', file], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).sort();
}

function zipText(bytes: Buffer, dir: string, entry: string): string {
  const file = join(dir, `z-${Math.random().toString(36).slice(2)}.zip`);
  require_ok(spawnSync('sh', ['-c', `cat > ${file}`], { input: bytes }).status === 0);
  return spawnSync('unzip', ['-p', file, entry], { encoding: 'utf8' }).stdout;
}

function require_ok(ok: boolean): void {
  if (!ok) throw new Error('could not write the zip to a temp file');
}

describe('the classroom', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let scratch: string;
  let host: RunningHost & { base: string };
  let teacher: Signed;
  let s1: Signed;
  let s2: Signed;
  let ta: Signed;
  let admin: Signed;
  let teacher2: Signed;
  let classId: string;
  const terminals: TestTerminal[] = [];

  const open = async (who: Signed, cls = classId): Promise<{ id: string; t: TestTerminal }> => {
    const r = await who.api.call('POST', `/api/classes/${cls}/terminals`);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const t = new TestTerminal(host.base);
    terminals.push(t);
    const reply = await t.attach(r.json.id, await who.api.attachToken(r.json.id));
    assert.equal((reply as { ok: boolean }).ok, true, JSON.stringify(reply));
    await t.waitFor(/\$ $/);
    return { id: r.json.id as string, t };
  };
  const run = async (t: TestTerminal, cmd: string, until: RegExp) => {
    t.type(`${cmd}\r`);
    return t.waitFor(until);
  };

  before(async () => {
    home = await tempRegHome();
    scratch = await mkdtemp(join(tmpdir(), 'reg-classroom-test-'));
    await ensurePythonRet(home.dir);
    if (!(await listRets(regHome(home.dir))).some((r) => r.name === 'bash')) await buildFromHost(regHome(home.dir), '/usr/bin/bash');
    // A second tool, to add to a running class ("add a package now").
    if (!(await listRets(regHome(home.dir))).some((r) => r.name === 'ls')) await buildFromHost(regHome(home.dir), '/usr/bin/ls');
    host = await startTestHost(home.dir);
    await host.db.user.create({ data: { id: 'teacher2-id', username: 'teacher2', role: 'instructor', passwordHash: await hashPassword(DEMO_PASSWORD) } });
    [teacher, s1, s2, ta, admin, teacher2] = (await Promise.all(['teacher', 'student1', 'student2', 'ta1', 'admin', 'teacher2'].map((u) => signIn(host.base, u)))) as [Signed, Signed, Signed, Signed, Signed, Signed];
  });

  after(async () => {
    for (const t of terminals) t.close();
    await host?.close();
    await home?.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  test('an instructor creates a class from the RETs the host has; students cannot', async () => {
    const bad = await teacher.api.call('POST', '/api/classes', { name: 'Intro', ret: 'python@3.11', tools: ['cobol@1'] });
    assert.equal(bad.status, 404);
    assert.match(bad.json.error.message, /tools\[0\]/);
    assert.equal((await s1.api.call('POST', '/api/classes', { name: 'Mine', ret: 'python@3.11' })).status, 403);
    assert.equal((await teacher.api.call('POST', '/api/classes', { name: '  ', ret: 'python@3.11' })).status, 400);
    const r = await teacher.api.call('POST', '/api/classes', { name: 'Intro to Python', ret: 'python@3.11', tools: ['bash'] });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    classId = r.json.id;
    assert.equal(r.json.role, 'instructor');
    assert.match(r.json.joinCode, /^[A-Z2-9]{8}$/);
    assert.ok((await teacher.api.call('GET', '/api/classes')).json.some((c: { id: string }) => c.id === classId));
    assert.ok(!(await s1.api.call('GET', '/api/classes')).json.some((c: { id: string }) => c.id === classId));
    // Limits above the admin's ceilings are refused, naming the field.
    const huge = await teacher.api.call('POST', `/api/classes/${classId}/environment`, { limits: { memoryBytes: 64 * 2 ** 40 } });
    assert.equal(huge.status, 400, JSON.stringify(huge.json));
    assert.match(huge.json.error.message, /memoryBytes|memory/);
    const ok = await teacher.api.call('POST', `/api/classes/${classId}/environment`, { limits: { memoryBytes: 256 * 2 ** 20, pids: 128 }, workspaceQuotaMiB: 16, maxContainersPerStudent: 2 });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.environment.workspaceQuotaMiB, 16);
  });

  test('a roster with mistakes is refused whole, each named by line and field; fixed, it imports', async () => {
    const lines = ['username,display name,email', 'ann,Ann A,ann@example.org', '', 'bob,"Bob, Jr.",', 'ann,Ann again,', 'bad name!,X,', 'cy,Cy,not-an-email'];
    const r = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/roster`, lines.join('\n'), 'text/csv');
    assert.equal(r.status, 400);
    const paths = r.json.error.issues.map((i: { path: string }) => i.path);
    assert.deepEqual(paths, ['line 5: username', 'line 6: username', 'line 7: email']);
    assert.match(r.json.error.message, /nothing was imported/);
    assert.equal(await host.db.user.count({ where: { username: { in: ['ann', 'bob', 'cy'] } } }), 0);

    const latin1 = Buffer.concat([Buffer.from('dan,Dan\nelo,'), Buffer.from([0xc9, 0x6c, 0xe9, 0x6f]), Buffer.from(',\n')]);
    const enc = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/roster`, latin1, 'text/csv');
    assert.equal(enc.status, 400);
    assert.match(enc.json.error.issues[0].path, /^line 2: file/);
    assert.match(enc.json.error.issues[0].message, /not UTF-8/);

    const fixed = ['ann,Ann A,ann@example.org', '', 'bob,"Bob, Jr.",', 'cy,Cy,', 'student1,Student One,'];
    const good = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/roster`, fixed.join('\r\n'), 'text/csv');
    assert.equal(good.status, 200, JSON.stringify(good.json));
    assert.deepEqual(good.json.created.map((c: { username: string }) => c.username), ['ann', 'bob', 'cy']);
    assert.ok(good.json.created.every((c: { password: string }) => c.password.length >= 12));
    assert.deepEqual(good.json.enrolled, ['student1']);
    assert.equal((await host.db.user.findUnique({ where: { username: 'bob' } }))!.displayName, 'Bob, Jr.');
    assert.equal((await host.db.user.findUnique({ where: { username: 'bob' } }))!.mustChangePassword, true);
    // Importing the same file again changes nothing.
    const again = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/roster`, fixed.join('\n'), 'text/csv');
    assert.deepEqual(again.json.unchanged, ['ann', 'bob', 'cy', 'student1']);
  });

  test('a roster can hand out one-time sign-in links instead of passwords', async () => {
    const r = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/roster?credentials=link`, 'dee,Dee D,\n', 'text/csv');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const [dee] = r.json.created;
    assert.equal(dee.password, undefined);
    assert.match(dee.signInLink, /^\/sign-in\/link#[A-Za-z0-9_-]{20,}$/);
    const token = dee.signInLink.split('#')[1];
    const used = await fetch(`${host.base}/api/auth/link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.equal(used.status, 200);
    const twice = await fetch(`${host.base}/api/auth/link`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    assert.notEqual(twice.status, 200, 'a link works once');
    assert.equal((await raw(host.base, teacher, 'POST', `/api/classes/${classId}/roster?credentials=carrier-pigeon`, 'x1,X,\n', 'text/csv')).status, 400);
  });

  test('join codes: a student joins with one; rotated, the old one no longer works', async () => {
    const code = (await teacher.api.call('GET', `/api/classes/${classId}`)).json.joinCode as string;
    const joined = await s2.api.call('POST', '/api/classes/join', { code: code.toLowerCase() });
    assert.equal(joined.status, 200, JSON.stringify(joined.json));
    assert.equal(joined.json.role, 'student');
    assert.equal(joined.json.joinCode, undefined, 'students do not see the code');
    const rotated = await teacher.api.call('POST', `/api/classes/${classId}/join-code`, { action: 'rotate' });
    assert.notEqual(rotated.json.joinCode, code);
    assert.equal((await s2.api.call('POST', '/api/classes/join', { code })).status, 404);
    assert.equal((await teacher.api.call('POST', `/api/classes/${classId}/members`, { username: 'ta1', role: 'ta' })).status, 200);
    const members = (await ta.api.call('GET', `/api/classes/${classId}/members`)).json as Array<{ username: string; role: string }>;
    assert.equal(members.find((m) => m.username === 'ta1')?.role, 'ta');
    assert.equal((await s1.api.call('GET', `/api/classes/${classId}/members`)).status, 403);
  });

  test('a terminal in the class is a login shell in the workspace; files survive the session; the request cannot choose', async () => {
    await writeFile(join(scratch, 'starter.py'), 'print("starter")\n');
    const put = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/starter-files?path=starter.py`, 'print("starter")\n');
    assert.equal(put.status, 200, JSON.stringify(put.json));
    const { id, t } = await open(s1);
    await run(t, 'echo "home=$HOME pwd=$PWD"', /home=\/home\/student pwd=\/home\/student/);
    await run(t, 'echo "$(<starter.py)"', /print\("starter"\)/);
    await run(t, `printf 'print(6*7)\\n' > hello.py && python3 hello.py`, /\r\n42\r\n/);
    // Memory and pids from the class, not from anything the student sent.
    const container = await s1.api.call('GET', `/api/containers/${id}`);
    assert.equal(container.json.command[0].endsWith('bash'), true);
    assert.equal((await s1.api.call('POST', `/api/containers/${id}/stop`)).status, 200);

    const second = await open(s1);
    await run(second.t, 'echo "[$(<hello.py)]"', /\[print\(6\*7\)\]/);
    // The student's own starter.py is never overwritten: change it, reopen, still theirs.
    await run(second.t, `printf 'mine\\n' > starter.py; echo done`, /done/);
    assert.equal((await s1.api.call('POST', `/api/containers/${second.id}/stop`)).status, 200);
    const third = await open(s1);
    await run(third.t, 'echo "[$(<starter.py)]"', /\[mine\]/);
    // Deleting the workspace from inside does not break the next open.
    // (rm -rf ~ with what this environment has: python's shutil.rmtree on the home itself.)
    await run(third.t, `python3 -c "import shutil,os; shutil.rmtree(os.environ['HOME'], ignore_errors=True)"; cd ~ 2>/dev/null; echo "n=$(echo ~/*)"`, /n=\/home\/student\/\*/);
    assert.equal((await s1.api.call('POST', `/api/containers/${third.id}/stop`)).status, 200);
    const fourth = await open(s1);
    await run(fourth.t, 'echo "pwd=$PWD"; printf "print(1+1)\\n" > hello.py; python3 hello.py', /\r\n2\r\n/);
    // A full workspace is an error inside the container (the class quota is 16 MiB).
    await run(fourth.t, `python3 -c "open('big','wb').write(bytes(40000000))"; echo "rc=$?"; python3 -c "import os; os.remove('big')"`, /No space left on device[\s\S]*rc=1/);
    assert.equal((await s1.api.call('POST', `/api/containers/${fourth.id}/stop`)).status, 200);
  });

  test('the per-student cap applies to terminals in the class', async () => {
    const a = await open(s2);
    const b = await open(s2);
    const c = await s2.api.call('POST', `/api/classes/${classId}/terminals`);
    assert.equal(c.status, 429, JSON.stringify(c.json));
    assert.match(c.json.error.message, /limit is 2/);
    for (const x of [a, b]) assert.equal((await s2.api.call('POST', `/api/containers/${x.id}/stop`)).status, 200);
  });

  test('a student removed from the class loses their terminals in it, keeps their files, and may rejoin', async () => {
    const { id } = await open(s2);
    const s2Id = (await host.db.user.findUnique({ where: { username: 'student2' } }))!.id;
    assert.equal((await teacher.api.call('DELETE', `/api/classes/${classId}/members/${s2Id}`)).status, 200);
    const row = await host.db.container.findUnique({ where: { id } });
    assert.equal(row?.status, 'removed');
    assert.equal(row?.endMessage, 'you were removed from this class');
    assert.equal((await s2.api.call('POST', `/api/classes/${classId}/terminals`)).status, 404, 'no longer a member');
    assert.equal((await teacher.api.call('POST', `/api/classes/${classId}/members`, { username: 'student2', role: 'student' })).status, 200);
  });

  test('distribute reaches a running terminal at once; too large is refused; collect and download are zips', async () => {
    // A student who never opened a terminal: the download says so and makes no workspace.
    const cyId = (await host.db.user.findUnique({ where: { username: 'cy' } }))!.id;
    const none = await raw(host.base, teacher, 'GET', `/api/classes/${classId}/workspaces/${cyId}`);
    assert.equal(zipText(none.bytes, scratch, 'NOT-COLLECTED.txt'), 'Not collected:\n.: no workspace yet\n');
    const { id, t } = await open(s1);
    const d = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/distribute?path=week1/notes.txt`, 'read me\n');
    assert.equal(d.status, 200, JSON.stringify(d.json));
    assert.equal(d.json.failures.length, 0, JSON.stringify(d.json.failures));
    assert.ok(d.json.delivered >= 5);
    await run(t, 'echo "[$(<week1/notes.txt)]"', /\[read me\]/);
    // The student's own file of the same name is kept.
    await run(t, `printf 'my notes\\n' > week1/mine.txt; echo ok`, /ok/);
    const keep = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/distribute?path=week1/mine.txt`, 'theirs\n');
    assert.ok(keep.json.failures.some((f: { username: string; code: string }) => f.username === 'student1' && f.code === 'EXISTS'));
    await run(t, 'echo "[$(<week1/mine.txt)]"', /\[my notes\]/);
    const big = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/distribute?path=big.bin`, new Uint8Array(17 * 2 ** 20));
    assert.equal(big.status, 400);
    assert.match(big.json.error.message, /larger than the class's workspace quota \(16 MiB\)/);
    const escape = await raw(host.base, teacher, 'POST', `/api/classes/${classId}/distribute?path=../../etc/x`, 'x');
    assert.equal(escape.status, 400);

    const zip = await raw(host.base, teacher, 'GET', `/api/classes/${classId}/collect?path=hello.py`);
    assert.equal(zip.status, 200);
    assert.equal(zip.type, 'application/zip');
    const names = zipListing(zip.bytes, scratch);
    assert.ok(names.includes('student1/hello.py'), names.join(','));
    assert.equal(zipText(zip.bytes, scratch, 'student1/hello.py'), 'print(1+1)\n');
    assert.ok(names.includes('NOT-COLLECTED.txt'), 'students without the file are listed');

    const mine = await raw(host.base, s1, 'GET', `/api/classes/${classId}/workspace`);
    assert.equal(mine.status, 200);
    const mineNames = zipListing(mine.bytes, scratch);
    for (const f of ['hello.py', 'week1/notes.txt', 'week1/mine.txt']) assert.ok(mineNames.includes(f), `${f} in ${mineNames.join(',')}`);
    // Another student's workspace: not for students; for the class's TA, yes.
    const s1Id = (await host.db.user.findUnique({ where: { username: 'student1' } }))!.id;
    assert.equal((await raw(host.base, s2, 'GET', `/api/classes/${classId}/workspaces/${s1Id}`)).status, 403);
    assert.equal((await raw(host.base, ta, 'GET', `/api/classes/${classId}/workspaces/${s1Id}`)).status, 200);
    assert.equal((await s1.api.call('POST', `/api/containers/${id}/stop`)).status, 200);
  });

  test('Start class prepares every student, twice is idempotent, open uses the prepared container; Stop ends sessions and keeps files', async () => {
    const started = await teacher.api.call('POST', `/api/classes/${classId}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.json));
    assert.equal(started.json.already, false);
    const twice = await teacher.api.call('POST', `/api/classes/${classId}/start`);
    assert.equal(twice.json.already, true);
    let runView: any;
    for (let i = 0; i < 600; i++) {
      runView = (await ta.api.call('GET', `/api/classes/${classId}/run`)).json;
      if (runView.status !== 'starting') break;
      await sleep(100);
    }
    assert.equal(runView.status, 'started', JSON.stringify(runView));
    assert.equal(runView.ready, runView.total);
    assert.equal(runView.failed, 0);
    // Prepared containers have an ephemeral writable layer (a tmpfs made at start): no loop volume on the host.
    const prepared = await host.db.container.findMany({ where: { classId, status: { not: 'removed' } } });
    assert.ok(prepared.length > 0);
    for (const c of prepared) {
      assert.equal(JSON.parse(await readFile(join(home.dir, 'containers', c.id, 'state.json'), 'utf8')).writable, 'ephemeral');
      await assert.rejects(access(join(home.dir, 'containers', c.id, 'layer.img')), 'no volume image');
    }
    const { id, t } = await open(s2);
    assert.ok(!(await readFile('/proc/self/mountinfo', 'utf8')).includes(id), "the running terminal's layer is not in the host's mount table");
    await run(t, 'echo "[$(<starter.py)]"', /\[print\("starter"\)\]/);
    const stopped = await teacher.api.call('POST', `/api/classes/${classId}/stop`);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.json));
    assert.ok(stopped.json.ended >= 1);
    assert.equal(stopped.json.run.status, 'stopped');
    const row = await host.db.container.findUnique({ where: { id } });
    assert.equal(row?.status, 'removed');
    assert.equal(row?.endMessage, 'the class was stopped by your instructor');
    // No prepared container is left behind.
    assert.equal(await host.db.container.count({ where: { classId, status: { not: 'removed' } } }), 0);
    const again = await open(s2);
    await run(again.t, 'echo "[$(<starter.py)]"', /\[print\("starter"\)\]/);
    assert.equal((await s2.api.call('POST', `/api/containers/${again.id}/stop`)).status, 200);
  });

  test('stopping a class mid-start cancels the rest cleanly; it starts again afterwards', async () => {
    const started = await teacher.api.call('POST', `/api/classes/${classId}/start`);
    assert.equal(started.json.already, false);
    const stopped = await teacher.api.call('POST', `/api/classes/${classId}/stop`);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.json));
    assert.equal(stopped.json.run.status, 'stopped');
    assert.ok(stopped.json.run.ready <= stopped.json.run.total);
    assert.equal(await host.db.container.count({ where: { classId, status: { not: 'removed' } } }), 0, 'no prepared container is left');
    const again = await teacher.api.call('POST', `/api/classes/${classId}/start`);
    assert.equal(again.json.already, false);
    let run: any;
    for (let i = 0; i < 600 && run?.status !== 'started'; i++) {
      await sleep(100);
      run = (await teacher.api.call('GET', `/api/classes/${classId}/run`)).json;
    }
    assert.equal(run.status, 'started');
    assert.equal((await teacher.api.call('POST', `/api/classes/${classId}/stop`)).status, 200);
  });

  test('add a package now: inserted into a running terminal and added to the environment', async () => {
    const { id, t } = await open(s1);
    await run(t, 'ls; echo "rc=$?"', /rc=127/);
    const r = await teacher.api.call('POST', `/api/classes/${classId}/packages`, { ret: 'ls' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(r.json.inserted >= 1, JSON.stringify(r.json));
    assert.ok(r.json.environment.tools.includes('ls'));
    await run(t, 'ls hello.py; echo "rc=$?"', /hello\.py\r\nrc=0/);
    assert.equal((await s1.api.call('POST', `/api/containers/${id}/stop`)).status, 200);
    const next = await open(s1);
    await run(next.t, 'ls hello.py; echo "rc=$?"', /hello\.py\r\nrc=0/);
    assert.equal((await s1.api.call('POST', `/api/containers/${next.id}/stop`)).status, 200);
  });

  test('every class route refuses the roles it should (the route table walked with each role)', async () => {
    const walk = (await teacher.api.call('POST', '/api/classes', { name: 'Walk', ret: 'python@3.11' })).json.id as string;
    await teacher.api.call('POST', `/api/classes/${walk}/members`, { username: 'student1', role: 'student' });
    await teacher.api.call('POST', `/api/classes/${walk}/members`, { username: 'ta1', role: 'ta' });
    // student2 assists the first class only: a TA of another class here.
    await teacher.api.call('POST', `/api/classes/${classId}/members`, { username: 'student2', role: 'ta' });
    await teacher2.api.call('POST', '/api/classes', { name: 'Other', ret: 'python@3.11' });
    // Archived, so that allowed calls stop at "archived" instead of doing things.
    assert.equal((await teacher.api.call('POST', `/api/classes/${walk}/archive`, { archived: true })).status, 200);

    const roles: Record<string, Signed> = { student: s1, ta, 'ta of another class': s2, 'instructor of another class': teacher2, instructor: teacher, admin };
    const allowed: Record<string, string[]> = {
      'class:read': ['student', 'ta', 'instructor', 'admin'],
      'class:assist': ['ta', 'instructor', 'admin'],
      'class:manage': ['instructor', 'admin'],
    };
    // The OpenAPI description covers them, path parameters included.
    const doc = (await teacher.api.call('GET', '/api/openapi.json')).json;
    const op = doc.paths['/api/classes/{classId}/members/{userId}'].delete;
    assert.deepEqual(op.parameters.map((p: { name: string }) => p.name), ['classId', 'userId']);
    assert.ok(doc.paths['/api/classes/{classId}/terminals'].post);
    const routes = classRoutes({} as never).filter((r) => r.path.includes(':classId'));
    assert.ok(routes.length >= 18);
    for (const r of routes) {
      const path = r.path.replace(':classId', walk).replace(':userId', 'nobody');
      for (const [role, who] of Object.entries(roles)) {
        const res = await raw(host.base, who, r.method.toUpperCase(), path, r.method === 'get' ? undefined : '{}', 'application/json');
        const refusedByScope = (res.status === 404 && /^no class /.test(res.json?.error?.message ?? '')) || (res.status === 403 && /^this needs /.test(res.json?.error?.message ?? ''));
        const should = allowed[r.scope]!.includes(role);
        assert.equal(!refusedByScope, should, `${r.method.toUpperCase()} ${r.path} as ${role}: ${res.status} ${JSON.stringify(res.json)}`);
        if (!should) assert.equal(res.status, role.includes('another') ? 404 : 403, `${r.path} as ${role}: outsiders get 404, weaker members 403`);
      }
    }
  });
});
