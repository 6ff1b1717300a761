// Limits come from the server: a student's request cannot carry limits or a command, the policy
// ($REG_HOME/limits.json within the host's ceilings) decides, the administrator (unix socket) may
// ask for more but never above a ceiling, and a per-user cap bounds concurrent containers.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { adminCall, ApiClient, ensurePythonRet, isRoot, startTestHost, tempRegHome } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, loop mounts)';
const MiB = 1024 * 1024;

describe('container limits on the host', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let s1: ApiClient;

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    writeFileSync(join(home.dir, 'limits.json'), JSON.stringify({ defaults: { memoryBytes: 128 * MiB, pids: 64, diskBytes: 32 * MiB, diskInodes: 2000 }, ceilings: { memoryBytes: 1024 * MiB, pids: 512 }, maxContainersPerUser: 2 }));
    host = await startTestHost(home.dir);
    s1 = await ApiClient.signIn(host.base, 'student1');
  });

  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  test('a student may not send limits or a command: 400 naming the field', async () => {
    const limits = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false, limits: { memoryBytes: 64 * 1024 * MiB, pids: 4_194_304, cpuMillicores: 1_000_000 } });
    assert.equal(limits.status, 400);
    assert.equal(limits.json.error.field, 'limits');
    const command = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false, command: ['/bin/sh'] });
    assert.equal(command.status, 400);
    assert.equal(command.json.error.field, 'command');
  });

  test("the policy's defaults are applied: memory, pids and a disk quota", async () => {
    const r = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const state = JSON.parse(readFileSync(join(home.dir, 'containers', r.json.id, 'state.json'), 'utf8'));
    assert.equal(state.limits.memoryBytes, 128 * MiB);
    assert.equal(state.limits.pids, 64);
    assert.deepEqual(state.disk, { bytes: 32 * MiB, inodes: 2000 });
    assert.equal(state.writable, 'persistent', 'a detached container keeps its writable layer (a loop volume) across stop/start');
    assert.equal(state.ptys, 16, 'the policy\'s pty limit reaches the launcher (devpts max=)');
    assert.equal((await s1.call('DELETE', `/api/containers/${r.json.id}`)).status, 200);
  });

  test('ephemeral: true (reg run --rm through the host) gives a tmpfs writable layer: no volume image on the host', async () => {
    const r = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false, ephemeral: true });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const dir = join(home.dir, 'containers', r.json.id);
    assert.equal(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).writable, 'ephemeral');
    assert.equal(existsSync(join(dir, 'layer.img')), false);
    assert.equal((await s1.call('DELETE', `/api/containers/${r.json.id}`)).status, 200);
  });

  test('the administrator may raise a limit up to its ceiling, never above: 429 LIMIT_EXCEEDED naming it', async () => {
    const over = await adminCall(host, 'POST', '/api/containers', { ret: 'python@3.11', terminal: false, limits: { memoryBytes: 2048 * MiB } });
    assert.equal(over.status, 429);
    assert.equal(over.json.error.code, 'LIMIT_EXCEEDED');
    assert.equal(over.json.error.field, 'memoryBytes');
    assert.match(over.json.error.message, /ceiling of 1 GiB/);
    const ok = await adminCall(host, 'POST', '/api/containers', { ret: 'python@3.11', terminal: false, limits: { memoryBytes: 512 * MiB, pids: 100 } });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    const state = JSON.parse(readFileSync(join(home.dir, 'containers', ok.json.id, 'state.json'), 'utf8'));
    assert.equal(state.limits.memoryBytes, 512 * MiB);
    assert.equal(state.limits.pids, 100);
    await adminCall(host, 'DELETE', `/api/containers/${ok.json.id}`);
  });

  test('a student has at most maxContainersPerUser containers at once: 429, then room again after one goes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false });
      assert.equal(r.status, 201);
      ids.push(r.json.id);
    }
    const third = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false });
    assert.equal(third.status, 429);
    assert.equal(third.json.error.code, 'LIMIT_EXCEEDED');
    assert.match(third.json.error.message, /limit is 2 per user/);
    // Another student is not affected.
    const s2 = await ApiClient.signIn(host.base, 'student2');
    const other = await s2.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false });
    assert.equal(other.status, 201);
    await s2.call('DELETE', `/api/containers/${other.json.id}`);
    await s1.call('DELETE', `/api/containers/${ids.pop()}`);
    const again = await s1.call('POST', '/api/containers', { ret: 'python@3.11', terminal: false });
    assert.equal(again.status, 201);
    for (const id of [...ids, again.json.id]) await s1.call('DELETE', `/api/containers/${id}`);
  });
});
