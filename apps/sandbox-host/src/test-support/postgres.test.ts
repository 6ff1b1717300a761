// The private PostgreSQL of the tests and `npm run cluster` (scripts/postgres.mjs): loopback only,
// password authentication, stopped with nothing left; and one whose owner was killed before it
// could stop it is stopped and deleted by the next run.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { postgresSkipReason, type PostgresScript } from './postgres.js';

const script = fileURLToPath(new URL('../../../../scripts/postgres.mjs', import.meta.url));
const skip = (await postgresSkipReason()) ?? false;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a private cluster listens on loopback with a password, and stop() leaves no server', { skip }, async () => {
  const { startPostgres, createDatabase } = (await import(script)) as PostgresScript;
  const dir = mkdtempSync(join(tmpdir(), 'reg-pg-unit-'));
  const server = await startPostgres({ dir, fast: true });
  try {
    const url = new URL(await createDatabase(server.url, 'reg'));
    assert.equal(url.hostname, '127.0.0.1');
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    const c = new pg.Client({ connectionString: wrong.toString() });
    await assert.rejects(c.connect(), /password authentication failed/);
    await c.end().catch(() => {});
    await assert.rejects(startPostgres({ dir: join(dir, 'x'), host: '10.0.0.1' }), /loopback \(127\.0\.0\.0\/8\) only/);
  } finally {
    await server.stop();
  }
  assert.equal(alive(server.pid), false);
  rmSync(dir, { recursive: true, force: true });
});

test("a cluster whose owner died without stopping it is stopped and deleted by reapStalePostgres", { skip }, async () => {
  const { reapStalePostgres } = (await import(script)) as PostgresScript;
  const parent = mkdtempSync(join(tmpdir(), 'reg-pg-reap-'));
  spawnSync('chmod', ['0711', parent]);
  const dir = join(parent, 'reg-pg-run-killed');
  // The owner starts it and exits at once (as a runner killed with SIGKILL would).
  const r = spawnSync(process.execPath, ['-e', `const m = await import(${JSON.stringify(script)}); const s = await m.startPostgres({ dir: ${JSON.stringify(dir)}, fast: true }); console.log(s.pid); process.exit(0);`, '--input-type=module'], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim());
  try {
    assert.ok(pid > 0 && alive(pid), `the server outlived its owner: ${r.stderr}`);
    assert.ok(!alive(Number(readFileSync(join(dir, 'owner.pid'), 'utf8'))), 'its owner is gone');
    assert.deepEqual(reapStalePostgres(parent, ['reg-pg-run-']), [dir]);
    assert.equal(alive(pid), false, 'the server is stopped');
    assert.equal(existsSync(dir), false, 'its directory is deleted');
    assert.deepEqual(reapStalePostgres(parent, ['reg-pg-run-']), []);
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(parent, { recursive: true, force: true });
  }
});
