// The host on PostgreSQL when PostgreSQL is not there, with a real server stopped and started:
// at start the host exits with one line naming DATABASE_URL's host:port (never its password) and
// what to do; mid-class, API requests fail with a clear 503 while the terminals already open keep
// working, and everything recovers when the server is back, without restarting the host.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ApiClient, ensurePythonRet, isRoot, sleep, startTestHost, tempRegHome, TestTerminal } from '../test-support/host-fixture.js';
import { freshPostgresDatabase, postgresSkipReason, privatePostgres } from '../test-support/postgres.js';
import type { RunningHost } from '../host.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const mainTs = fileURLToPath(new URL('../main.ts', import.meta.url));
const pgSkip = await postgresSkipReason();

/** Runs the host's entry point until it exits (or is ready: then it is stopped and that is a failure). */
function runHost(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', mainTs], { cwd: root, env: { ...process.env, HOST_PORT: '0', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('"event":"ready"')) p.kill('SIGTERM');
    });
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stderr, stdout });
    });
  });
}

/** A loopback port with nothing listening (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function oneClearLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => !/ExperimentalWarning|--trace-warnings/.test(l));
  assert.equal(lines.length, 1, `one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  return lines[0]!;
}

describe('PostgreSQL unreachable or wrong at start', { skip: pgSkip }, () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'reg-pg-start-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('nothing listening: one line naming host:port and DATABASE_URL, no password, exit non-zero', async () => {
    const port = await closedPort();
    const r = await runHost({ REG_HOME: home, DATABASE_URL: `postgresql://reg:s3cret-pw@127.0.0.1:${port}/reg` });
    assert.notEqual(r.code, 0);
    const line = oneClearLine(r.stderr);
    assert.match(line, new RegExp(`^reg-host: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}/reg \\(DATABASE_URL\\): connection refused; start PostgreSQL there`));
    assert.doesNotMatch(r.stderr + r.stdout, /s3cret-pw/, 'the password never appears');
  });

  test('a wrong password and a missing database are named as such', async () => {
    const db = await freshPostgresDatabase();
    try {
      const u = new URL(db.url);
      u.password = 'wrong-password';
      const bad = await runHost({ REG_HOME: home, DATABASE_URL: u.toString() });
      assert.notEqual(bad.code, 0);
      assert.match(oneClearLine(bad.stderr), new RegExp(`^reg-host: PostgreSQL at ${u.hostname}:${u.port}/${db.name} refused the user or password in DATABASE_URL`));
      assert.doesNotMatch(bad.stderr, /wrong-password/);
      const missing = new URL(db.url);
      missing.pathname = '/no_such_db';
      const r = await runHost({ REG_HOME: home, DATABASE_URL: missing.toString() });
      assert.notEqual(r.code, 0);
      assert.match(oneClearLine(r.stderr), /^reg-host: PostgreSQL at 127\.0\.0\.1:\d+\/no_such_db: database "no_such_db" does not exist; create it/);
    } finally {
      await db.drop();
    }
  });

  test('a DATABASE_URL of another kind is refused by name', async () => {
    const r = await runHost({ REG_HOME: home, DATABASE_URL: 'mysql://reg@127.0.0.1/reg' });
    assert.notEqual(r.code, 0);
    assert.match(oneClearLine(r.stderr), /^reg-host: DATABASE_URL mysql:…: the host speaks SQLite \(file:/);
  });
});

describe('PostgreSQL lost mid-class and back', { skip: pgSkip ?? (isRoot ? false : 'needs root (containers)') }, () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  let pgDir: string;
  let pg: { url: string; port: number; stop(): Promise<void> } | undefined;
  let host: (RunningHost & { base: string }) | undefined;

  before(async () => {
    home = await tempRegHome();
    await ensurePythonRet(home.dir);
    // A server of this test's own: the run's shared one must stay up for the other tests.
    pgDir = await mkdtemp(join(tmpdir(), 'reg-pg-outage-'));
    pg = await privatePostgres(pgDir);
    const { createDatabase } = (await import(new URL('../../../../scripts/postgres.mjs', import.meta.url).href)) as { createDatabase(a: string, n: string): Promise<string> };
    const url = await createDatabase(pg.url, 'reg');
    host = await startTestHost(home.dir, { DATABASE_URL: url, LOG_LEVEL: process.env.REG_TEST_LOG_LEVEL ?? 'silent' });
  });
  after(async () => {
    await host?.close();
    await pg?.stop();
    await home?.cleanup();
    await rm(pgDir, { recursive: true, force: true });
  });

  test('API calls answer 503 DATABASE_UNAVAILABLE, the open terminal keeps working, and the host recovers by itself', async () => {
    const student = await ApiClient.signIn(host!.base, 'student1');
    const id = await student.openPython();
    const term = new TestTerminal(host!.base);
    try {
      assert.equal((await term.attach(id, await student.attachToken(id))).ok, true);
      term.type('print(6*7)\n');
      await term.waitFor(/42/);

      // Fetched while the database is up: a browser that reloads during the outage holds one like it.
      const reloadToken = await student.attachToken(id);
      await pg!.stop();
      // Past the session cache (a few seconds): every request needs the database again.
      let down: { status: number; json: any } | undefined;
      for (let i = 0; i < 100; i++) {
        down = await student.call('GET', '/api/auth/me');
        if (down.status !== 200) break;
        await sleep(100);
      }
      assert.equal(down!.status, 503, JSON.stringify(down!.json));
      assert.equal(down!.json.error.code, 'DATABASE_UNAVAILABLE');
      assert.match(down!.json.error.message, /database is not reachable right now; try again/);
      const signIn = await fetch(`${host!.base}/api/auth/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'student2', password: 'test-password' }) });
      assert.equal(signIn.status, 503, 'sign-in: 503, not a misleading 401');
      assert.equal(signIn.headers.get('retry-after'), '5');
      const opened = await student.call('POST', '/api/containers', { ret: 'python@3.11' });
      assert.equal(opened.status, 503);
      assert.equal((await fetch(`${host!.base}/api/health`)).status, 503, 'the health check says the database is away');

      // The terminal that was open does not need the database.
      term.type('print(6*8)\n');
      await term.waitFor(/48/);
      term.type('open("kept.txt","w").write("still here")\n');
      await sleep(200);
      // A page reload during the outage re-attaches to the running terminal, scrollback and all.
      const reloaded = new TestTerminal(host!.base);
      try {
        const r = await reloaded.attach(id, reloadToken);
        assert.equal(r.ok, true, JSON.stringify(r));
        await reloaded.waitFor(/48/);
        reloaded.type('print(6*9)\n');
        await reloaded.waitFor(/54/);
      } finally {
        reloaded.close();
      }

      pg = await privatePostgres(pgDir, pg!.port);
      let back: { status: number } | undefined;
      for (let i = 0; i < 200; i++) {
        back = await student.call('GET', '/api/auth/me');
        if (back.status === 200) break;
        await sleep(100);
      }
      assert.equal(back!.status, 200, 'the same host answers again once PostgreSQL is back');
      const health = await fetch(`${host!.base}/api/health`);
      assert.deepEqual([health.status, await health.json()], [200, { status: 'ok', database: 'postgresql' }]);
      const again = await ApiClient.signIn(host!.base, 'student2');
      const id2 = await again.openPython();
      const t2 = new TestTerminal(host!.base);
      try {
        assert.equal((await t2.attach(id2, await again.attachToken(id2))).ok, true);
        t2.type('print(7*7)\n');
        await t2.waitFor(/49/);
      } finally {
        t2.close();
      }
      term.type('print(open("kept.txt").read())\n');
      await term.waitFor(/still here/);
    } finally {
      term.close();
    }
  });
});
