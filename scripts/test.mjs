#!/usr/bin/env node
// Runs every colocated *.test.ts under packages/, apps/ and deploy/ (and the browser tests under e2e/) with Node's own test runner (through tsx),
// one file per process so a test that needs a clean mount/pid view cannot disturb another.
// PostgreSQL: when a selected test needs it, one private PostgreSQL cluster (scripts/postgres.mjs) is started for
// the run (REG_TEST_PG_URL) and stopped at the end, even on failure or Ctrl-C; then the host's database tests
// (auth, admin, classes) run a second time with REG_TEST_DATABASE=postgresql. REG_TEST_POSTGRES=0 skips that;
// REG_TEST_DATABASE=postgresql runs the selected files once, on PostgreSQL.
// Usage: node scripts/test.mjs [path-substring ...]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { postgresUnavailableReason, reapStalePostgres, startPostgres } from './postgres.mjs';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

/** The host's tests that exercise the database broadly: run on SQLite, then again on PostgreSQL. */
const BOTH_PROVIDERS = ['apps/sandbox-host/src/auth/', 'apps/sandbox-host/src/admin/', 'apps/sandbox-host/src/classes/'];

function findTests(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) findTests(path, out);
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const files = ['packages', 'apps', 'e2e', 'deploy']
  .map((d) => join(root, d))
  .filter((d) => { try { return statSync(d).isDirectory(); } catch { return false; } })
  .flatMap((d) => findTests(d, []))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// A file that talks to PostgreSQL itself (the helper or the variable) wants the cluster too.
const usesPostgres = (f) => /test-support\/postgres|REG_TEST_PG_URL|scripts\/postgres\.mjs/.test(readFileSync(f, 'utf8'));
// REG_TEST_DATABASE=postgresql set by the caller: one pass, everything on PostgreSQL.
const onlyPostgres = process.env.REG_TEST_DATABASE === 'postgresql';
const secondPass = process.env.REG_TEST_POSTGRES === '0' || onlyPostgres ? [] : files.filter((f) => BOTH_PROVIDERS.some((p) => relative(root, f).startsWith(p)));
const wantPostgres = process.env.REG_TEST_POSTGRES !== '0' && !process.env.REG_TEST_PG_URL && (onlyPostgres || secondPass.length > 0 || files.some(usesPostgres));

let child;
let pg;
let pgDir;
let stopping = false;
async function cleanup() {
  if (pg) await pg.stop().catch((e) => console.error(`test: stopping PostgreSQL: ${e.message}`));
  pg = undefined;
  if (pgDir) rmSync(pgDir, { recursive: true, force: true });
  pgDir = undefined;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    child?.kill(sig);
    void cleanup().then(() => process.exit(130));
  });
}

function run(list, env) {
  return new Promise((resolve) => {
    child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...list], { stdio: 'inherit', cwd: root, env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

let status = 0;
try {
  const env = { ...process.env };
  if (wantPostgres) {
    const why = postgresUnavailableReason();
    if (why) {
      console.log(`test: PostgreSQL tests skip: ${why}`);
      secondPass.length = 0;
    } else {
      for (const d of reapStalePostgres(tmpdir(), ['reg-pg-run-', 'reg-pg-test-', 'reg-pg-outage-'])) console.log(`test: stopped a PostgreSQL left by a killed run (${d})`);
      pgDir = mkdtempSync(join(tmpdir(), 'reg-pg-run-'));
      pg = await startPostgres({ dir: pgDir, fast: true });
      env.REG_TEST_PG_URL = pg.url;
      console.log(`test: PostgreSQL ${pg.port} in ${pgDir} for this run`);
    }
  } else if (!process.env.REG_TEST_PG_URL) secondPass.length = 0;

  console.log(`running ${files.length} test files:\n  ${files.map((f) => relative(root, f)).join('\n  ')}`);
  status = await run(files, env);
  if (secondPass.length && !stopping) {
    console.log(`\nagain on PostgreSQL (REG_TEST_DATABASE=postgresql), ${secondPass.length} files:\n  ${secondPass.map((f) => relative(root, f)).join('\n  ')}`);
    const s2 = await run(secondPass, { ...env, REG_TEST_DATABASE: 'postgresql' });
    status ||= s2;
  }
} catch (e) {
  console.error(`test: ${e instanceof Error ? e.message : e}`);
  status = 1;
} finally {
  await cleanup();
}
process.exit(status);
