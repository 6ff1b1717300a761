// GET /api/admin/hosts against a real single host: the admin sees this one host (cluster off),
// with its memory, cgroup version and RETs and no address; everyone else is refused.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFile } from 'node:fs/promises';
import type { RunningHost } from '../host.js';
import { ApiClient, ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (the host opens the engine: cgroups, mounts)';

describe('GET /api/admin/hosts', { skip }, () => {
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

  test('an admin sees this one host with cluster mode off, its memory and RETs, and no address', async () => {
    const admin = await ApiClient.signIn(host.base, 'admin');
    const r = await admin.call('GET', '/api/admin/hosts');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.cluster, false);
    assert.equal(r.json.self, null);
    assert.equal(r.json.hosts.length, 1);
    const h = r.json.hosts[0];
    assert.equal(h.status, 'up');
    assert.ok([1, 2].includes(h.cgroupVersion));
    const total = Number(/^MemTotal:\s+(\d+)/m.exec(await readFile('/proc/meminfo', 'utf8'))![1]) * 1024;
    assert.equal(h.memoryBytes, total);
    assert.ok(h.freeMemoryBytes > 0 && h.freeMemoryBytes <= total);
    assert.equal(h.containers, 0);
    assert.ok(h.rets.some((x: string) => x.startsWith('python@')), JSON.stringify(h.rets));
    assert.equal(h.downAt, null);
    assert.ok(!('address' in h));
    assert.ok(!JSON.stringify(r.json).includes('127.0.0.1'), 'no address reaches the browser');
  });

  test('students and instructors get 403, nobody signed in gets 401', async () => {
    const student = await ApiClient.signIn(host.base, 'student1');
    const teacher = await ApiClient.signIn(host.base, 'teacher');
    assert.equal((await student.call('GET', '/api/admin/hosts')).status, 403);
    assert.equal((await teacher.call('GET', '/api/admin/hosts')).status, 403);
    assert.equal((await new ApiClient(host.base).call('GET', '/api/admin/hosts')).status, 401);
  });
});
