// Test support: real PostgreSQL databases for the host's tests. Under `node scripts/test.mjs` the
// runner starts one private cluster for the whole run and exports REG_TEST_PG_URL (its superuser
// URL); run a test file on its own and the first call here starts a cluster for this process,
// stopped when the process exits. Each caller gets a new, empty database.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** scripts/postgres.mjs, as its callers here use it. */
export interface PostgresScript {
  startPostgres(opts: { dir: string; port?: number; host?: string; fast?: boolean }): Promise<{ url: string; host: string; port: number; dataDir: string; pid: number; stop(): Promise<void>; stopSync(): void }>;
  createDatabase(adminUrl: string, name: string): Promise<string>;
  dropDatabase(adminUrl: string, name: string): Promise<void>;
  postgresUnavailableReason(): string | undefined;
  reapStalePostgres(parent: string, prefixes: string[]): string[];
}

// scripts/postgres.mjs is plain JS shared with scripts/test.mjs and `npm run cluster`.
const script = (): Promise<PostgresScript> => import(new URL('../../../../scripts/postgres.mjs', import.meta.url).href) as Promise<PostgresScript>;

/** Why PostgreSQL tests cannot run here (printed as the skip reason), or undefined. */
export async function postgresSkipReason(): Promise<string | undefined> {
  if (process.env.REG_TEST_PG_URL) return undefined;
  return (await script()).postgresUnavailableReason();
}

let own: Promise<{ url: string }> | undefined;

/** A private cluster for this process when the runner did not provide one (stopped at exit). */
function ownCluster(): Promise<{ url: string }> {
  own ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reg-pg-test-'));
    const pg = await (await script()).startPostgres({ dir, fast: true });
    process.once('exit', () => {
      pg.stopSync();
      rmSync(dir, { recursive: true, force: true });
    });
    return pg;
  })();
  return own;
}

/** The superuser URL of the cluster the tests use. */
export async function postgresAdminUrl(): Promise<string> {
  return process.env.REG_TEST_PG_URL ?? (await ownCluster()).url;
}

export interface TestDatabase {
  /** postgresql://… of the new database (a DATABASE_URL for a host). */
  url: string;
  name: string;
  /** Drops it (ending its sessions first). */
  drop(): Promise<void>;
}

/** A new, empty database in the test cluster. */
export async function freshPostgresDatabase(prefix = 'reg_test'): Promise<TestDatabase> {
  const admin = await postgresAdminUrl();
  const s = await script();
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const url = await s.createDatabase(admin, name);
  return { url, name, drop: () => s.dropDatabase(admin, name) };
}

/**
 * A PostgreSQL server of the caller's own in `dir` (for tests that stop and start the server: the
 * shared one must stay up). Start it again with the same `dir` and `port` to get the same data back.
 */
export async function privatePostgres(dir: string, port = 0): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  return (await script()).startPostgres({ dir, port, fast: true });
}

const byHome = new Map<string, Promise<TestDatabase>>();

/**
 * The database a test host on `home` uses: with REG_TEST_DATABASE=postgresql (scripts/test.mjs's
 * second pass) one fresh PostgreSQL database per REG_HOME, so a test that restarts its host on the
 * same home finds its data again; otherwise nothing (the host's SQLite default under home).
 */
export async function testDatabaseEnv(home: string): Promise<{ DATABASE_URL?: string }> {
  if (process.env.REG_TEST_DATABASE !== 'postgresql') return {};
  let db = byHome.get(home);
  if (!db) {
    db = freshPostgresDatabase();
    byHome.set(home, db);
  }
  return { DATABASE_URL: (await db).url };
}

/** Drops the database testDatabaseEnv made for `home` (tempRegHome's cleanup). */
export async function dropTestDatabase(home: string): Promise<void> {
  const db = byHome.get(home);
  if (!db) return;
  byHome.delete(home);
  await (await db).drop();
}
