// RET distribution in a cluster: two real hosts, a real registry (docker-registry). A class start
// pre-pulls the class's RETs onto the hosts it will use: the host that holds them reports "held",
// the other pulls them; with the registry down, the host holding a class's RETs carries on and the
// other reports the failure by RET and reason.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildFromHost, listRets, pushRet, regHome } from '@reg/core';
import type { RunningHost } from '../host.js';
import { ApiClient, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, waitUntil } from '../test-support/host-fixture.js';
import type { PrepullReport } from './prepull.js';

// @ts-expect-error plain ESM script without types
const { registryUnavailableReason, startRegistry } = (await import('../../../../scripts/docker-registry.mjs')) as {
  registryUnavailableReason(): string | undefined;
  startRegistry(o: { dir: string }): Promise<{ host: string; stop(o?: { removeStorage?: boolean }): Promise<void> }>;
};

const skip = !isRoot ? 'needs root (namespaces, cgroups, overlay and loop mounts)' : (registryUnavailableReason() ?? false);

async function prepullReport(api: ApiClient, classId: string): Promise<PrepullReport> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await api.call('GET', `/api/classes/${classId}/prepull`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (r.json) return r.json as PrepullReport;
    if (Date.now() > deadline) throw new Error('no pre-pull report');
    await sleep(100);
  }
}

describe('pre-pulling a class environment onto the hosts of a cluster', { skip }, () => {
  let shared: string;
  let home1: Awaited<ReturnType<typeof tempRegHome>>;
  let home2: Awaited<ReturnType<typeof tempRegHome>>;
  let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
  const hosts: Array<RunningHost & { base: string }> = [];

  before(async () => {
    shared = await mkdtemp(join(tmpdir(), 'reg-cluster-prepull-'));
    home1 = await tempRegHome();
    home2 = await tempRegHome();
    registry = await startRegistry({ dir: join(shared, 'registry') });
    // Host 2 holds python and ls; python goes to the registry; host 1 starts with an empty store.
    await ensurePythonRet(home2.dir);
    await buildFromHost(regHome(home2.dir), '/usr/bin/ls');
    const python = (await listRets(regHome(home2.dir))).find((r) => r.name === 'python')!;
    await pushRet(regHome(home2.dir), `python@${python.version}`, `${registry.host}/reg`);
  });

  after(async () => {
    delete process.env.REG_REGISTRY;
    for (const h of hosts) await h.close();
    await registry?.stop();
    await rm(shared, { recursive: true, force: true });
    await home1?.cleanup();
    await home2?.cleanup();
  });

  test('held where present, pulled where missing; with the registry down, the failure is named and the holder carries on', async () => {
    const env = { REG_CLUSTER: '1', REG_SHARED_DIR: shared, DATABASE_URL: `file:${join(shared, 'reg.db')}`, REG_HEARTBEAT_SECONDS: '0.5', REG_CLUSTER_ORIGIN_ONLY: '0' }; // the test plays the web origin
    // reg-core reads the registry from the process environment (each host process has its own).
    process.env.REG_REGISTRY = `${registry!.host}/reg`;
    hosts.push(await startTestHost(home1.dir, { ...env, REG_HOST_ID: 'h1' }));
    hosts.push(await startTestHost(home2.dir, { ...env, REG_HOST_ID: 'h2' }));
    const [h1, h2] = hosts as [RunningHost & { base: string }, RunningHost & { base: string }];
    assert.equal((await listRets(regHome(home1.dir))).length, 0);

    // Cluster routes refuse a caller without the cluster's signed header.
    const bare = await fetch(`${h1.base}/api/cluster/prepull`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"refs":["python"]}' });
    assert.equal(bare.status, 401);

    const teacher = await ApiClient.signIn(h2.base, 'teacher');
    const mk = async (name: string, tools: string[]) => {
      const r = await teacher.call('POST', '/api/classes', { name, ret: 'python@3.11', tools });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      for (const u of ['student1', 'student2']) {
        const s = await ApiClient.signIn(h2.base, u);
        assert.equal((await s.call('POST', '/api/classes/join', { code: r.json.joinCode })).status, 200);
      }
      return r.json.id as string;
    };

    const c1 = await mk('Pulled', []);
    assert.equal((await teacher.call('POST', `/api/classes/${c1}/start`)).status, 200);
    const r1 = await prepullReport(teacher, c1);
    const byHost = (r: PrepullReport, id: string) => r.hosts.find((h) => h.hostId === id)?.results.map((x) => `${x.ref}:${x.status}`);
    assert.deepEqual(byHost(r1, 'h2'), ['python@3.11:held']);
    assert.deepEqual(byHost(r1, 'h1'), ['python@3.11:pulled'], JSON.stringify(r1));
    assert.deepEqual(r1.failed, []);
    assert.ok((await listRets(regHome(home1.dir))).some((r) => r.name === 'python'), 'host 1 holds python now');
    await teacher.call('POST', `/api/classes/${c1}/stop`);

    // The registry goes down; a class needing ls (which only host 2 holds) starts.
    await registry!.stop();
    const c2 = await mk('Registry down', ['ls']);
    assert.equal((await teacher.call('POST', `/api/classes/${c2}/start`)).status, 200);
    const r2 = await prepullReport(teacher, c2);
    assert.deepEqual(byHost(r2, 'h2'), ['python@3.11:held', 'ls:held']);
    assert.deepEqual(r2.ready, ['h2']);
    assert.equal(r2.failed.length, 1, JSON.stringify(r2));
    assert.equal(r2.failed[0]!.hostId, 'h1');
    assert.equal(r2.failed[0]!.ref, 'ls');
    assert.match(r2.failed[0]!.message, /pulling ls from .* failed: REGISTRY_UNREACHABLE/);
    // The class runs on the host that holds its environment: the students placed on host 1 moved
    // to host 2, and every one is ready.
    const run = await waitUntil('the run started', async () => {
      const r = await teacher.call('GET', `/api/classes/${c2}/run`);
      return r.json?.status && r.json.status !== 'starting' ? r.json : undefined;
    }, 60_000);
    assert.equal(run.status, 'started', JSON.stringify(run));
    assert.deepEqual([run.ready, run.failed], [2, 0]);
    const rows = await h2.db.container.findMany({ where: { classId: c2, status: { not: 'removed' } }, select: { hostId: true } });
    assert.deepEqual(rows.map((r) => r.hostId), ['h2', 'h2']);
    await teacher.call('POST', `/api/classes/${c2}/stop`);
  });
});
