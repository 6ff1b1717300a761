// Registration, heartbeats, failure detection and refusals against real databases: a temp SQLite
// file and a fresh PostgreSQL database (skipped, with the reason, where PostgreSQL is not installed),
// both migrated as the host does it.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDb, type Db } from '../db/client.js';
import { freshPostgresDatabase, postgresSkipReason, type TestDatabase } from '../test-support/postgres.js';
import type { Host } from '../generated/prisma/client.js';
import type { Log } from '../log.js';
import { hostKey, verifyHost } from './host-signature.js';
import { ClusterJoinError, HostMembership, type MembershipOptions } from './membership.js';

// Generous: the machine running the tests may be busy, and a late heartbeat must not look like a death.
const HEARTBEAT_MS = 400;
const quiet: Log = { info() {}, debug() {}, error() {} };
const key = hostKey(randomBytes(32));
const pgSkip = await postgresSkipReason();

for (const provider of ['sqlite', 'postgresql'] as const) {
  describe(`host membership on ${provider}`, { skip: provider === 'postgresql' ? (pgSkip ?? false) : false }, () => {
    let dir: string;
    let pg: TestDatabase | undefined;
    let db: Db;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'reg-cluster-membership-'));
      if (provider === 'postgresql') pg = await freshPostgresDatabase('reg_cluster');
      ({ db } = await openDb(pg ? pg.url : `file:${join(dir, 'reg.db')}`));
    });
    after(async () => {
      await db?.$disconnect();
      await pg?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    function member(id: string, o: Partial<MembershipOptions> = {}): HostMembership {
      return new HostMembership(db, {
        id,
        address: `http://127.0.0.${2 + Number(id.replace(/\D/g, '') || 0)}:3001`,
        version: '0.1.0',
        machineId: 'test-machine',
        regHome: `/tmp/${id}`,
        key,
        provider,
        heartbeatMs: HEARTBEAT_MS,
        maxClockSkewMs: 30_000,
        facts: async () => ({ cgroupVersion: 1, memoryBytes: 8 * 2 ** 30, freeMemoryBytes: 4 * 2 ** 30, rets: ['python@3.11.2'], containers: 0 }),
        log: quiet,
        ...o,
      });
    }

    /** Waits past the down window (3 heartbeats) while `live` keeps beating. */
    async function passWindow(...live: HostMembership[]): Promise<string[]> {
      const down: string[] = [];
      for (let i = 0; i < 5; i++) {
        await sleep(HEARTBEAT_MS);
        for (const m of live) down.push(...(await m.heartbeat()).markedDown);
      }
      return down;
    }

    test('a host registers with its facts, signed, and heartbeats keep it live', async () => {
      const a = member('h1');
      await a.register();
      const row = (await db.host.findUnique({ where: { id: 'h1' } }))!;
      assert.equal(row.status, 'up');
      assert.equal(row.cgroupVersion, 1);
      assert.equal(row.memoryBytes, BigInt(8 * 2 ** 30));
      assert.deepEqual(JSON.parse(row.rets), ['python@3.11.2']);
      assert.ok(verifyHost(key, row), 'the row verifies under the cluster key');
      await a.heartbeat();
      const after = (await db.host.findUnique({ where: { id: 'h1' } }))!;
      assert.ok(after.heartbeatAt.getTime() >= row.heartbeatAt.getTime());
      assert.ok(verifyHost(key, after));
      assert.deepEqual((await a.liveHosts()).map((h) => h.id), ['h1']);
      await a.leave();
      assert.equal((await db.host.findUnique({ where: { id: 'h1' } }))!.status, 'left');
      assert.deepEqual(await a.liveHosts(), []);
    });

    test('a heartbeat whose facts were slow still writes the time it was written, not the time it began', async () => {
      let slow = false;
      const a = member('h7', { facts: async () => (slow && (await sleep(1500)), { cgroupVersion: 1, memoryBytes: 8 * 2 ** 30, freeMemoryBytes: 4 * 2 ** 30, rets: [], containers: 0 }) });
      await a.register();
      slow = true;
      await a.heartbeat();
      const row = (await db.host.findUnique({ where: { id: 'h7' } }))!;
      const age = (await a.dbNow()) - row.heartbeatAt.getTime();
      assert.ok(age < 1000, `the heartbeat written is ${age} ms old (the facts took 1500 ms)`);
      await a.leave();
    });

    test('a second process with a live host id is refused; it takes over once the first is down, and the first is fenced', async () => {
      let fenced = '';
      const first = member('h2', { onFenced: (r) => (fenced = r) });
      await first.register();
      const second = member('h2');
      await assert.rejects(second.register(), (e: unknown) => e instanceof ClusterJoinError && e.code === 'HOST_ALREADY_RUNNING' && /already registered by a live process/.test(e.message));
      await passWindow(); // the first stops beating (as if SIGKILLed or stalled)
      await second.register();
      assert.equal((await db.host.findUnique({ where: { id: 'h2' } }))!.instance, second.instance);
      await first.heartbeat();
      assert.match(fenced, /another process took over host id h2/);
      assert.equal(first.isMember, false);
      await second.leave();
    });

    test('a host that misses its heartbeats is marked down by a live host, which runs the failover once', async () => {
      const downs: Host[] = [];
      const a = member('h3', { onHostDown: async (h) => void downs.push(h) });
      const b = member('h4', { onHostDown: async (h) => void downs.push(h) });
      await a.register();
      await b.register();
      assert.deepEqual((await a.liveHosts()).map((h) => h.id).filter((id) => id === 'h3' || id === 'h4'), ['h3', 'h4']);
      const marked = await passWindow(a); // b is silent
      assert.ok(marked.includes('h4') && !marked.includes('h3'), JSON.stringify(marked));
      assert.deepEqual(downs.map((h) => h.id), ['h4']);
      const row = (await db.host.findUnique({ where: { id: 'h4' } }))!;
      assert.equal(row.status, 'down');
      assert.match(row.downReason ?? '', /missed 3 heartbeats/);
      assert.ok(verifyHost(key, row), 'the down mark is signed too');
      assert.ok(!(await a.liveHosts()).some((h) => h.id === 'h4'));
      assert.deepEqual(await a.sweep(), [], 'marked once');
      await a.leave();
    });

    test('after a database outage nobody is marked down until every host had a window to heartbeat', async () => {
      const a = member('h5');
      const b = member('h6');
      await a.register();
      await b.register();
      await passWindow(a, b);
      // a cannot reach the database for a while (its heartbeat throws), and neither could b
      const realNow = a.dbNow.bind(a);
      a.dbNow = async () => Promise.reject(new Error('connection refused'));
      await a.heartbeat();
      await sleep(HEARTBEAT_MS * 4); // b is stale by now too
      a.dbNow = realNow;
      const first = await a.heartbeat();
      assert.deepEqual(first.markedDown, [], 'a waits a window before judging b');
      await b.heartbeat(); // b comes back within that window
      const later = await passWindow(a, b);
      assert.deepEqual(later, []);
      await a.leave();
      await b.leave();
    });

    test('a forged registration (not signed with the cluster secret) is ignored and marked down', async () => {
      const a = member('h7');
      await a.register();
      const now = new Date();
      await db.host.create({ data: { id: 'evil', address: 'http://127.0.0.99:3001', instance: 'x', status: 'up', cgroupVersion: 2, memoryBytes: 10n ** 12n, freeMemoryBytes: 10n ** 12n, rets: '[]', version: '0.1.0', startedAt: now, heartbeatAt: now, signature: 'f'.repeat(64) } });
      assert.ok(!(await a.liveHosts()).some((h) => h.id === 'evil'), 'placement never sees it');
      assert.ok((await a.sweep()).includes('evil'));
      const row = (await db.host.findUnique({ where: { id: 'evil' } }))!;
      assert.equal(row.status, 'down');
      assert.match(row.downReason ?? '', /forged/);
      // A host holding another secret is told so at registration while this cluster has live hosts.
      const stranger = member('h8', { key: hostKey(randomBytes(32)) });
      await assert.rejects(stranger.register(), (e: unknown) => e instanceof ClusterJoinError && e.code === 'SECRET_MISMATCH' && /REG_CLUSTER_SECRET_FILE/.test(e.message));
      await a.leave();
    });

    test('a host whose clock is far from the database\'s is refused with a clear message', async () => {
      const ahead = member('h9', { clock: () => Date.now() + 10 * 60_000 });
      await assert.rejects(ahead.register(), (e: unknown) => e instanceof ClusterJoinError && e.code === 'CLOCK_SKEW' && /600 s ahead of the database's/.test(e.message) && /synchronise/.test(e.message));
      const behind = member('h9', { clock: () => Date.now() - 2 * 60_000 });
      await assert.rejects(behind.register(), /120 s behind/);
      assert.equal(await db.host.findUnique({ where: { id: 'h9' } }), null, 'nothing was written');
      const near = member('h9', { clock: () => Date.now() + 5_000 });
      await near.register();
      await near.leave();
    });
  });
}
