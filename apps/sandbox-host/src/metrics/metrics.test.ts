// The dashboard's figures and /metrics against a real host with real containers: the accounting
// equals smaps_rollup of the same processes; the exposition format parses and carries the
// engine's values; only admins and the metrics token get in; the dashboard's stop; a million-row
// sample table neither slows the history query (index range, checked with EXPLAIN) nor survives
// its retention.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { io as ioClient } from 'socket.io-client';
import type { RunningHost } from '../host.js';
import { ApiClient, cgroupDirsOf, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from '../test-support/host-fixture.js';
import { pruneHistory, RETENTION } from './memory-monitor.js';

const skip = isRoot ? false : 'needs root (containers: namespaces, cgroups, overlay mounts)';

/** An independent reading of /proc/PID/smaps_rollup (not the engine's parser). */
function smapsRollup(pid: number): { rss: number; pss: number; uss: number; shared: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss'), uss: kb('Private_Clean') + kb('Private_Dirty'), shared: kb('Shared_Clean') + kb('Shared_Dirty') };
}

function pidsOf(id: string): number[] {
  for (const dir of cgroupDirsOf(id)) {
    try {
      const pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      if (pids.length) return pids;
    } catch {
      // another controller
    }
  }
  return [];
}

/** One exposition-format line: `name{l="v",...} value` (HELP/TYPE comments aside). */
const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/;

function parseExposition(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  const out = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(['gauge', 'counter', 'histogram', 'summary', 'untyped'].includes(type!), line);
      typed.add(name!);
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    assert.ok(m, `not exposition format: ${line}`);
    assert.ok(typed.has(m[1]!), `sample before its TYPE: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    (out.get(m[1]!) ?? out.set(m[1]!, []).get(m[1]!)!).push({ labels, value: Number(m[3]) });
  }
  return out;
}

describe('memory dashboard figures and /metrics', { skip }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let host: RunningHost & { base: string };
  let admin: ApiClient;
  let student: ApiClient;
  const ids: string[] = [];

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    host = await startTestHost(home.dir);
    admin = await ApiClient.signIn(host.base, 'admin');
    student = await ApiClient.signIn(host.base, 'student1');
    for (let i = 0; i < 3; i++) {
      const r = await student.call('POST', '/api/containers', { ret: 'python@3.11' });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      ids.push(r.json.id);
    }
    await sleep(1500); // let the interpreters settle into their idle prompt
  });
  after(async () => {
    await host?.close();
    await home?.cleanup();
  });

  test('per-container figures equal Σ smaps_rollup of the same processes', async () => {
    const snap = await host.monitor.sample();
    for (const id of ids) {
      const row = snap.containers.find((c) => c.id === id);
      assert.ok(row, `container ${id} in the snapshot`);
      assert.equal(row.user, 'student1');
      assert.ok(row.limitBytes !== null && row.limitBytes > 0, 'the container\'s memory limit is known');
      assert.equal(row.limitUse, row.cgroupBytes / row.limitBytes);
      const mine = { rss: 0, pss: 0, uss: 0, shared: 0 };
      for (const pid of pidsOf(id)) {
        const f = smapsRollup(pid);
        if (!f) continue;
        mine.rss += f.rss;
        mine.pss += f.pss;
        mine.uss += f.uss;
        mine.shared += f.shared;
      }
      assert.ok(mine.rss > 0, 'the container has resident memory');
      // Idle interpreters: read twice a few ms apart, the figures may move by a page or two; PSS
      // also moves when another process maps or unmaps a shared page meanwhile.
      for (const k of ['rss', 'uss', 'shared', 'pss'] as const) {
        const tol = k === 'pss' ? 0.1 : 0.02;
        assert.ok(Math.abs(row[k] - mine[k]) <= Math.max(64 * 1024, mine[k] * tol), `${id} ${k}: dashboard ${row[k]} vs smaps ${mine[k]}`);
      }
    }
    // Three pythons from the same store share their interpreter and libraries.
    assert.ok(snap.sharing.saved > 0);
    assert.equal(snap.sharing.saved, snap.totals.rss - snap.totals.pss);
    assert.equal(snap.reconcile.containersPss + snap.reconcile.regHostRss + snap.reconcile.other, snap.reconcile.hostUsed);
    assert.ok(snap.capacity.find((c) => c.ret.startsWith('python'))!.fits > 0);
    assert.ok(snap.store && snap.store.blobs > 0);
  });

  test('/metrics: 401 without credentials, 403 for a student and an instructor, 200 for an admin or the token', async () => {
    assert.equal((await fetch(`${host.base}/metrics`)).status, 401);
    assert.equal((await fetch(`${host.base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    for (const u of ['student1', 'teacher']) {
      const token = ((await (await fetch(`${host.base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u, password: 'test-password' }) })).json()) as { token: string }).token;
      assert.equal((await fetch(`${host.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 403, u);
      assert.equal((await fetch(`${host.base}/api/admin/memory`, { headers: { authorization: `Bearer ${token}` } })).status, 403, u);
    }
    const adminToken = ((await (await fetch(`${host.base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'test-password' }) })).json()) as { token: string }).token;
    assert.equal((await fetch(`${host.base}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).status, 200);
    const mode = readFileSync(join(home.dir, 'metrics-token'), 'utf8').trim() === host.metricsToken;
    assert.ok(mode, 'the token is the one in the data dir');
  });

  test('the exposition parses and carries the same values as the dashboard', async () => {
    const res = await fetch(`${host.base}/metrics`, { headers: { authorization: `Bearer ${host.metricsToken}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const series = parseExposition(await res.text());
    const snap = await host.monitor.current(); // the snapshot /metrics used (younger than a sample period)
    for (const id of ids) {
      const c = snap.containers.find((x) => x.id === id)!;
      for (const k of ['pss', 'uss', 'rss', 'shared'] as const) {
        const s = series.get(`reg_container_memory_${k}_bytes`)!.find((x) => x.labels.container === id);
        assert.ok(s, `${k} series for ${id}`);
        assert.deepEqual(s.labels, { container: id, class: '', user: 'student1', ret: c.ret });
        assert.equal(s.value, c[k]);
      }
    }
    assert.equal(series.get('reg_saved_by_sharing_bytes')![0]!.value, snap.sharing.saved);
    assert.equal(series.get('reg_host_memory_used_bytes')![0]!.value, snap.host.used);
    assert.equal(series.get('reg_host_memory_available_bytes')![0]!.value, snap.host.available);
    assert.equal(series.get('reg_containers')!.find((x) => x.labels.status === 'running')!.value, 3);
    assert.ok(series.get('reg_sessions')![0]!.value >= 2);
    assert.ok(series.get('reg_store_blobs')![0]!.value > 0);
  });

  test('the /admin socket: students refused at the handshake; an admin demoted while watching is cut off within seconds', async () => {
    const token = async (u: string) => ((await (await fetch(`${host.base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u, password: 'test-password' }) })).json()) as { token: string }).token;
    const connect = (t: string) => ioClient(`${host.base}/admin`, { transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { authorization: `Bearer ${t}` } });
    const refused = connect(await token('student1'));
    const err = await new Promise<{ data?: { code?: string } }>((resolve) => refused.once('connect_error', (e) => resolve(e as { data?: { code?: string } })));
    assert.equal(err.data?.code, 'FORBIDDEN');
    refused.close();
    const u = await host.db.user.findUniqueOrThrow({ where: { username: 'student2' } });
    assert.equal((await admin.call('POST', `/api/admin/users/${u.id}`, { role: 'admin' })).status, 200);
    const watcher = connect(await token('student2'));
    try {
      const first = await new Promise<{ containers: unknown[] }>((resolve) => watcher.once('snapshot', resolve));
      assert.ok(Array.isArray(first.containers));
      const gone = new Promise<void>((resolve) => watcher.once('disconnect', () => resolve()));
      assert.equal((await admin.call('POST', `/api/admin/users/${u.id}`, { role: 'student' })).status, 200);
      await Promise.race([gone, sleep(20_000).then(() => assert.fail('still watching 20 s after being demoted'))]);
    } finally {
      watcher.close();
    }
  });

  test('an admin stops a container from the dashboard: the student\'s terminal is told why; it is audited', async () => {
    const id = ids.pop()!;
    const term = new TestTerminal(host.base);
    try {
      assert.equal((await term.attach(id, await student.attachToken(id))).ok, true);
      const r = await admin.call('POST', `/api/admin/containers/${id}/stop`);
      assert.equal(r.status, 200);
      assert.equal(r.json.stopped, true);
      for (let i = 0; i < 100 && !term.exit; i++) await sleep(50);
      assert.ok(term.exit, 'the terminal got its exit event');
      const said = (term.exit as { message?: string }).message;
      if (said !== undefined) assert.equal(said, 'stopped by an administrator');
      const row = await host.db.container.findUniqueOrThrow({ where: { id } });
      assert.equal(row.endMessage, 'stopped by an administrator');
      const log = await admin.call('GET', '/api/admin/audit?action=container.stop');
      assert.equal(log.json.entries[0].targetId, id);
      assert.equal((await student.call('POST', `/api/admin/containers/${ids[0]}/stop`)).status, 403);
    } finally {
      term.close();
    }
  });

  test('ending idle terminals now: only those idle that long; audited', async () => {
    const none = await admin.call('POST', '/api/admin/cull-idle', { idleSeconds: 3600 });
    assert.equal(none.status, 200);
    assert.deepEqual(none.json.ended, []);
    const all = await admin.call('POST', '/api/admin/cull-idle', { idleSeconds: 0 });
    assert.deepEqual([...all.json.ended].sort(), [...ids].sort());
    for (const id of ids) {
      assert.equal(host.sessions.get(id), undefined);
      assert.equal((await host.db.container.findUniqueOrThrow({ where: { id } })).endMessage, 'ended by an administrator because it was idle');
    }
    assert.equal((await admin.call('POST', '/api/admin/cull-idle', { idleSeconds: -1 })).status, 400);
    const log = await admin.call('GET', '/api/admin/audit?action=containers.cull-idle');
    assert.equal(log.json.total, 2);
  });

  test('a million-row sample table: history reads an index range, and retention prunes it', async (t) => {
    if (process.env.REG_TEST_DATABASE === 'postgresql') return t.skip('reads reg.db with SQLite\'s EXPLAIN QUERY PLAN: this run is on PostgreSQL');
    const file = join(home.dir, 'reg.db');
    const db = new Database(file);
    try {
      const now = Date.now();
      const cid = ids[0]!;
      const ins = db.prepare('INSERT INTO MemorySample (containerId, takenAt, rss, pss, uss, shared) VALUES (?, ?, 1, 1, 1, 1)');
      db.transaction(() => {
        for (let i = 0; i < 1_000_000; i++) ins.run(cid, now - (i % 2880) * 60_000);
      })();
      const roll = db.prepare('INSERT OR IGNORE INTO MemoryRollup (resolution, bucket, samples, hostTotal, hostUsed, hostAvailable, pageCache, swapUsed, psiSome10, containers, rss, pss, uss, saved) VALUES (?, ?, 1, 1, 1, 1, 1, 0, NULL, 1, 1, 1, 1, 0)');
      db.transaction(() => {
        for (let i = 0; i < 100_000; i++) roll.run(60, now - i * 60_000);
        for (let i = 0; i < 10_000; i++) roll.run(600, now - i * 600_000);
      })();
      // Prisma stores DateTime as ms since the epoch in SQLite; the plan is what matters.
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM MemoryRollup WHERE resolution = 60 AND bucket >= ? ORDER BY bucket').all(now - 86_400_000) as Array<{ detail: string }>;
      assert.ok(plan.some((p) => /SEARCH MemoryRollup USING (PRIMARY KEY|INDEX)/.test(p.detail)), JSON.stringify(plan));
      assert.ok(!plan.some((p) => /SCAN MemoryRollup/.test(p.detail)), JSON.stringify(plan));
    } finally {
      db.close();
    }
    // The inserts kept the test busy past the server's keep-alive timeout: a pooled socket may be
    // closing under us (ECONNRESET), so the first call may need a second try.
    const day = await admin.call('GET', '/api/admin/memory/history?range=day').catch(() => admin.call('GET', '/api/admin/memory/history?range=day'));
    assert.equal(day.status, 200);
    assert.ok(day.json.points.length <= 1441, `${day.json.points.length} points`);
    const pruned = await pruneHistory(host.db, Date.now());
    assert.ok(pruned.samples >= 490_000, `pruned ${pruned.samples} samples`);
    assert.ok(pruned.minutes >= 98_000);
    assert.ok(pruned.tenMinutes >= 5_000);
    assert.equal(await host.db.memoryRollup.count({ where: { resolution: 60, bucket: { lt: new Date(Date.now() - RETENTION.minuteMs) } } }), 0);
    assert.ok((await host.db.memorySample.count()) <= 510_000);
  });
});
