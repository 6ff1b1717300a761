// A host restart with a class started: the next host prepares the class again (same run, same
// start time and starter), so the class page says "started" and students find their containers
// ready. A class stopped before the restart stays stopped. Real hosts in-process on one REG_HOME.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { ApiClient, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay mounts)';

describe('classes across a host restart', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: (RunningHost & { base: string }) | undefined;

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
  });
  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  const runOf = async (api: ApiClient, classId: string) => (await api.call('GET', `/api/classes/${classId}/run`)).json;
  async function waitSettled(api: ApiClient, classId: string) {
    for (let i = 0; i < 600; i++) {
      const r = await runOf(api, classId);
      if (r && r.status !== 'starting') return r;
      await sleep(50);
    }
    throw new Error('the run never settled');
  }
  const prepared = async (h: RunningHost, classId: string) => {
    const rows = await h.db.container.findMany({ where: { classId, status: { not: 'removed' } } });
    return rows.filter((r) => existsSync(join(home.dir, 'containers', r.id)));
  };

  test('a started class is prepared again by the next host; a stopped one stays stopped', async () => {
    host = await startTestHost(home.dir);
    let teacher = await ApiClient.signIn(host.base, 'teacher');
    const mk = async (name: string) => {
      const r = await teacher.call('POST', '/api/classes', { name, ret: 'python@3.11' });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      for (const username of ['student1', 'student2']) assert.equal((await teacher.call('POST', `/api/classes/${r.json.id}/members`, { username, role: 'student' })).status, 200);
      return r.json.id as string;
    };
    const live = await mk('Running');
    const done = await mk('Finished');
    for (const id of [live, done]) assert.equal((await teacher.call('POST', `/api/classes/${id}/start`)).status, 200);
    const before = await waitSettled(teacher, live);
    assert.equal(before.status, 'started', JSON.stringify(before));
    assert.equal(before.ready, 2);
    assert.equal((await waitSettled(teacher, done)).status, 'started');
    assert.equal((await teacher.call('POST', `/api/classes/${done}/stop`)).status, 200);
    await host.close();
    host = undefined;

    host = await startTestHost(home.dir);
    teacher = await ApiClient.signIn(host.base, 'teacher');
    const after = await waitSettled(teacher, live);
    assert.equal(after.status, 'started', JSON.stringify(after));
    assert.equal(after.id, before.id);
    assert.equal(after.startedAt, before.startedAt);
    assert.equal(after.startedBy, 'teacher');
    assert.deepEqual([after.total, after.ready, after.failed], [2, 2, 0]);
    assert.equal((await prepared(host, live)).length, 2);
    const stopped = await runOf(teacher, done);
    assert.equal(stopped.status, 'stopped');
    assert.equal((await prepared(host, done)).length, 0);
    // Stop class still works on the resumed run.
    assert.equal((await teacher.call('POST', `/api/classes/${live}/stop`)).status, 200);
    assert.equal((await runOf(teacher, live)).status, 'stopped');
  });
});
