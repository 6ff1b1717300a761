// A student's own limits in a class: a layer over the class's limits, within the admin's
// ceilings, set by the class's instructor (or an admin), applied to the student's next terminal
// (read back from the container's engine state), refused above a ceiling and to TAs and students.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { ApiClient, ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (containers, workspace volumes)';
const MiB = 2 ** 20;

describe("a student's own limits in a class", { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let teacher: ApiClient;
  let ta: ApiClient;
  let s1: ApiClient;
  let s2: ApiClient;
  let classId: string;
  let s1Id: string;

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
    [teacher, ta, s1, s2] = (await Promise.all(['teacher', 'ta1', 'student1', 'student2'].map((u) => ApiClient.signIn(host.base, u)))) as [ApiClient, ApiClient, ApiClient, ApiClient];
    const r = await teacher.call('POST', '/api/classes', { name: 'Limits', ret: 'python@3.11' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    classId = r.json.id;
    assert.equal((await teacher.call('POST', `/api/classes/${classId}/environment`, { limits: { memoryBytes: 256 * MiB, pids: 64 } })).status, 200);
    for (const [username, role] of [['student1', 'student'], ['student2', 'student'], ['ta1', 'ta']]) {
      assert.equal((await teacher.call('POST', `/api/classes/${classId}/members`, { username, role })).status, 200);
    }
    s1Id = (await teacher.call('GET', `/api/classes/${classId}/members`)).json.find((m: { username: string }) => m.username === 'student1').userId;
  });
  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  const limitsOfNewTerminal = async (who: ApiClient) => {
    const r = await who.call('POST', `/api/classes/${classId}/terminals`);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const state = JSON.parse(await readFile(join(home.dir, 'containers', r.json.id, 'state.json'), 'utf8'));
    await who.call('DELETE', `/api/containers/${r.json.id}`);
    return state.limits as { memoryBytes: number; pids: number };
  };

  test("the instructor raises one student's memory: their next terminal gets it, the others keep the class's", async () => {
    const r = await teacher.call('POST', `/api/classes/${classId}/members/${s1Id}/limits`, { limits: { memoryBytes: 384 * MiB } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.find((m: { userId: string }) => m.userId === s1Id).limits, { memoryBytes: 384 * MiB });
    const mine = await limitsOfNewTerminal(s1);
    assert.equal(mine.memoryBytes, 384 * MiB);
    assert.equal(mine.pids, 64, "the class's other limits still apply");
    assert.equal((await limitsOfNewTerminal(s2)).memoryBytes, 256 * MiB);
    const log = await host.db.auditLog.findFirst({ where: { action: 'class.member.limits', targetId: s1Id } });
    assert.ok(log, 'audited');
  });

  test('above a ceiling is refused naming the field; {} clears the override', async () => {
    const over = await teacher.call('POST', `/api/classes/${classId}/members/${s1Id}/limits`, { limits: { memoryBytes: 64 * 2 ** 40 } });
    assert.equal(over.status, 400, JSON.stringify(over.json));
    assert.equal(over.json.error.code, 'INVALID_LIMITS');
    assert.match(over.json.error.message, /memoryBytes/);
    const unknown = await teacher.call('POST', `/api/classes/${classId}/members/${s1Id}/limits`, { limits: { memoryMiB: 1 } });
    assert.equal(unknown.status, 400);
    assert.equal((await teacher.call('POST', `/api/classes/${classId}/members/${s1Id}/limits`, { limits: {} })).status, 200);
    assert.equal((await limitsOfNewTerminal(s1)).memoryBytes, 256 * MiB);
  });

  test('a TA and a student may not set limits', async () => {
    assert.equal((await ta.call('POST', `/api/classes/${classId}/members/${s1Id}/limits`, { limits: { pids: 128 } })).status, 403);
    assert.equal((await s1.call('POST', `/api/classes/${classId}/members/${s1Id}/limits`, { limits: { pids: 128 } })).status, 403);
  });
});
