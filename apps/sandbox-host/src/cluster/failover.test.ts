// Two real hosts of one cluster on this machine (a shared SQLite database, a shared directory for
// workspaces): a student's terminal is placed on host 1 (asked through host 2, which forwards),
// they write a file; host 1 is SIGKILLed; host 2 marks it down, ends the student's session with a
// clear message, reaps what host 1 left running, and the student's next terminal opens on host 2
// with the file there. Prints the time from the kill to the new prompt (not asserted).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunningHost } from '../host.js';
import { loadOrCreateClusterSecret } from './cluster-secret.js';
import { CLUSTER_HEADER, requestKey, signClusterRequest } from './request-auth.js';
import { ApiClient, cgroupDirsOf, cgroupParentName, ensurePythonRet, isRoot, startChildHost, startTestHost, tempRegHome, TestTerminal, waitUntil, type ChildHost } from '../test-support/host-fixture.js';

const skip = isRoot ? false : 'needs root (namespaces, cgroups, overlay and loop mounts)';
// 1 s: a shorter one can mark a merely busy host down on a loaded machine (the test would then fail for the wrong reason).
const HEARTBEAT_SECONDS = '1';

describe('a cluster of two hosts: one dies, its student carries on on the other', { skip }, () => {
  let shared: string;
  let home1: Awaited<ReturnType<typeof tempRegHome>>;
  let home2: Awaited<ReturnType<typeof tempRegHome>>;
  let host1: ChildHost | undefined;
  let host2: (RunningHost & { base: string }) | undefined;
  const terminals: TestTerminal[] = [];

  before(async () => {
    shared = await mkdtemp(join(tmpdir(), 'reg-cluster-shared-'));
    home1 = await tempRegHome();
    home2 = await tempRegHome();
    await ensurePythonRet(home1.dir);
    await ensurePythonRet(home2.dir);
  });

  after(async () => {
    for (const t of terminals) t.close();
    if (host1 && host1.proc.exitCode === null) host1.proc.kill('SIGKILL');
    await host2?.close();
    // The shared directory holds the workspace mounts (left by host 1 or adopted by host 2).
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${shared}/`)).sort((a, b) => b.length - a.length);
    for (const m of mounts) if (spawnSync('umount', [m]).status !== 0) spawnSync('umount', ['-l', m]);
    await rm(shared, { recursive: true, force: true });
    await home1?.cleanup();
    await home2?.cleanup();
    // Neither host's cgroup parent outlives it (host 2's closed cleanly; host 1's was reaped by host 2).
    const left = [home1, home2].flatMap((h) => (h ? readdirSync('/sys/fs/cgroup/pids').filter((d) => d === cgroupParentName(h.dir)) : []));
    assert.deepEqual(left, [], `cgroup parents left behind: ${left.join(', ')}`);
  });

  test('placement, forwarding, SIGKILL, failover, reopen with the workspace intact', async () => {
    const clusterEnv = { REG_CLUSTER: '1', REG_SHARED_DIR: shared, DATABASE_URL: `file:${join(shared, 'reg.db')}`, REG_HEARTBEAT_SECONDS: HEARTBEAT_SECONDS, REG_CLUSTER_ORIGIN_ONLY: '0' }; // the test plays the web origin
    host1 = await startChildHost({ ...clusterEnv, REG_HOME: home1.dir, REG_HOST_ID: 'h1' });
    host2 = await startTestHost(home2.dir, { ...clusterEnv, REG_HOST_ID: 'h2' });

    // One sign-in works on both hosts (one session key for the cluster).
    const teacher = await ApiClient.signIn(host2.base, 'teacher');
    const created = await teacher.call('POST', '/api/classes', { name: 'Cluster class', ret: 'python@3.11' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const classId = created.json.id as string;
    const code = created.json.joinCode as string;
    const student2 = await ApiClient.signIn(host2.base, 'student1');
    assert.equal((await student2.call('POST', '/api/classes/join', { code })).status, 200);
    const student1 = await ApiClient.signIn(host1.base, 'student1'); // the same user, talking to host 1
    const userId = (await student2.call('GET', '/api/auth/me')).json.id as string;

    const live = await host2.db.host.findMany({ where: { status: 'up' }, orderBy: { id: 'asc' } });
    assert.deepEqual(live.map((h) => h.id), ['h1', 'h2']);
    const bearer = `Bearer ${(student2 as unknown as { token: string }).token}`;
    const key = requestKey(await loadOrCreateClusterSecret(join(shared, 'cluster-secret'), { create: false }));
    const openPath = `/api/classes/${classId}/terminals`;

    // A request that already carries the cluster header is served where it lands: host 1 opens
    // the student's first terminal and takes their workspace lease.
    const direct = await fetch(`${host1.base}${openPath}`, { method: 'POST', headers: { authorization: bearer, [CLUSTER_HEADER]: signClusterRequest(key, 'test', 'POST', openPath) } });
    assert.equal(direct.status, 201, await direct.clone().text());
    const first = ((await direct.json()) as { id: string }).id;
    assert.equal((await host2.db.container.findUnique({ where: { id: first } }))!.hostId, 'h1');
    assert.equal((await host2.db.workspaceLease.findUnique({ where: { classId_userId: { classId, userId } } }))!.hostId, 'h1');

    // Asked of host 2, the student's next terminal goes where their workspace is mounted (host 1):
    // host 2 forwards the request there and relays the answer.
    const opened = await fetch(`${host2.base}${openPath}`, { method: 'POST', headers: { authorization: bearer } });
    const view = (await opened.json()) as { id: string };
    assert.equal(opened.status, 201, JSON.stringify(view));
    assert.equal(opened.headers.get('x-reg-host'), 'h1');
    assert.equal((await host2.db.container.findUnique({ where: { id: view.id } }))!.hostId, 'h1');
    // A forged cluster header is no header at all: the cluster routes refuse it.
    const forged = await fetch(`${host2.base}/api/cluster/hosts`, { headers: { [CLUSTER_HEADER]: signClusterRequest(Buffer.alloc(32), 'test', 'GET', '/api/cluster/hosts') } });
    assert.equal(forged.status, 401);
    assert.match(((await forged.json()) as { error: { message: string } }).error.message, /signature does not match/);

    const t1 = new TestTerminal(host1.base);
    terminals.push(t1);
    const reply = await t1.attach(first, await student1.attachToken(first));
    assert.equal((reply as { ok: boolean }).ok, true, JSON.stringify(reply));
    await t1.waitFor(/>>> $/); // the class environment's command: python in the student's home
    t1.type("open('notes.txt', 'w').write('kept across hosts') * 2\r");
    await t1.waitFor(/\b34\b/);

    // Host 1 dies without a word.
    const killedAt = Date.now();
    host1.proc.kill('SIGKILL');
    await new Promise((r) => host1!.proc.once('exit', r));

    // Reopened at once, before host 1 is marked down: its lease still holds the workspace, so the
    // student is told to reopen in a few seconds (503), not that it is open elsewhere (409).
    const early = await student2.call('POST', `/api/classes/${classId}/terminals`);
    if ((await host2.db.host.findUnique({ where: { id: 'h1' } }))!.status === 'up') {
      assert.equal(early.status, 503, JSON.stringify(early.json));
      assert.match(early.json.error.message, /holding your workspace is not answering/);
    } else console.log('# host 1 was marked down before the early reopen (a slow machine): that check was skipped');

    // Host 2 marks it down and ends its sessions with the message the browser shows.
    const down = await waitUntil('h1 marked down', async () => {
      const h = await host2!.db.host.findUnique({ where: { id: 'h1' } });
      return h?.status === 'down' ? h : undefined;
    });
    assert.match(down.downReason ?? '', /missed 3 heartbeats/);
    const ended = await waitUntil('the session ended as host-down', async () => {
      const c = await host2!.db.container.findUnique({ where: { id: first } });
      return c?.endReason === 'host-down' ? c : undefined;
    });
    assert.equal(ended.status, 'removed');
    assert.equal((await host2.db.container.findUnique({ where: { id: view.id } }))!.endReason, 'host-down');
    assert.match(ended.endMessage ?? '', /your sandbox host stopped; reopen the terminal to continue/);
    // What host 1 left running on this machine was reaped (no cgroup of its container is left).
    await waitUntil('host 1 container reaped', async () => cgroupDirsOf(first).length === 0);

    // The student's next terminal (asked of host 2, the only live host) opens there, files intact.
    // (503 while the failover still removes what host 1 left: the browser says "reopen in a few seconds".)
    const again = await waitUntil('the reopen accepted', async () => {
      const r = await student2.call('POST', `/api/classes/${classId}/terminals`);
      if (r.status === 503) return assert.match(r.json.error.message, /previous sandbox host stopped/), undefined;
      return r;
    });
    assert.equal(again.status, 201, JSON.stringify(again.json));
    const second = again.json.id as string;
    assert.equal((await host2.db.container.findUnique({ where: { id: second } }))!.hostId, 'h2');
    const t2 = new TestTerminal(host2.base);
    terminals.push(t2);
    const reply2 = await t2.attach(second, await student2.attachToken(second));
    assert.equal((reply2 as { ok: boolean }).ok, true, JSON.stringify(reply2));
    await t2.waitFor(/>>> $/);
    const promptMs = Date.now() - killedAt;
    t2.type("print(open('notes.txt').read().upper())\r");
    await t2.waitFor(/KEPT ACROSS HOSTS/);
    assert.equal((await host2.db.workspaceLease.findUnique({ where: { classId_userId: { classId, userId } } }))!.hostId, 'h2');
    console.log(`# host death → prompt on another host: ${promptMs} ms (heartbeat ${HEARTBEAT_SECONDS} s, down after 3 missed; shared 2-core machine, noisy)`);
  });
});
