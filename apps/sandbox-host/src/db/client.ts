// Opens the host's database: migrations first, then a Prisma client on a driver adapter. SQLite
// (better-sqlite3) is the embedded default; a postgresql:// DATABASE_URL selects PostgreSQL
// (@prisma/adapter-pg) for hosts that share one database. Prisma's client is generated per provider
// from the one schema (scripts/prisma-generate.mjs); both have the same models and API, so the
// rest of the host has one code path and one type, Db. Only the host talks to the database.

import { chmod, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client.js';
import { DatabaseError, postgresSchemaOf } from './database-errors.js';
import { applyMigrations, applyPostgresMigrations } from './migrate.js';

export type Db = PrismaClient;
export type DatabaseProvider = 'sqlite' | 'postgresql';

/** Which provider a DATABASE_URL names; a clear error for anything else. */
export function providerOf(databaseUrl: string): DatabaseProvider {
  if (databaseUrl.startsWith('file:')) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return 'postgresql';
  throw new DatabaseError('DATABASE_URL_INVALID', `DATABASE_URL ${databaseUrl.split(':')[0]}:…: the host speaks SQLite (file:/path/reg.db) and PostgreSQL (postgresql://user:password@host:port/database)`);
}

export function sqliteFileOf(databaseUrl: string): string {
  if (providerOf(databaseUrl) !== 'sqlite') throw new DatabaseError('DATABASE_URL_INVALID', 'DATABASE_URL is not a SQLite file: URL');
  return databaseUrl.slice('file:'.length);
}

export async function openDb(databaseUrl: string): Promise<{ db: Db; migrated: string[]; provider: DatabaseProvider }> {
  if (providerOf(databaseUrl) === 'postgresql') return openPostgres(databaseUrl);
  const file = sqliteFileOf(databaseUrl);
  await mkdir(dirname(file), { recursive: true });
  await restrictDbFiles(file);
  const migrated = await applyMigrations(file);
  // fileMustExist: the file exists by now (restrictDbFiles made it 0600); a query that arrives after
  // the host closed (a session's late exit handler) then fails instead of re-creating an empty,
  // world-readable reg.db in a data dir that is being deleted.
  const db = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: file, fileMustExist: true }) });
  return { db, migrated, provider: 'sqlite' };
}

async function openPostgres(url: string): Promise<{ db: Db; migrated: string[]; provider: DatabaseProvider }> {
  // Unreachable, wrong password, missing database: applyPostgresMigrations throws a DatabaseError
  // naming host:port before anything else starts.
  const schema = postgresSchemaOf(url); // a bad ?schema= is refused before anything connects
  const migrated = await applyPostgresMigrations(url);
  // Loaded only here: a SQLite host never pays for the second client.
  const [{ PrismaPg }, { PrismaClient: PostgresClient }] = await Promise.all([import('@prisma/adapter-pg'), import('../generated/prisma-postgresql/client.js')]);
  const adapter = new PrismaPg(
    // connectionTimeoutMillis: while the server is away a request fails (503) after 5 s instead of
    // waiting forever; the pool opens fresh connections by itself once it is back.
    { connectionString: url, connectionTimeoutMillis: 5000, max: 20, keepAlive: true },
    // A server restart ends idle pooled connections with an 'error' event: without a listener
    // that would be an uncaught exception. The pool drops them; nothing else to do.
    // ?schema= in DATABASE_URL: Prisma's queries name that schema (migrate.ts made the tables there).
    { onPoolError: () => {}, onConnectionError: () => {}, ...(schema && { schema }) },
  );
  // The same schema generated for another provider: the same models, queries and results.
  const db = new PostgresClient({ adapter }) as unknown as Db;
  return { db, migrated, provider: 'postgresql' };
}

/**
 * The database holds password hashes and session ids: mode 0600 for the file and its -wal/-shm.
 * Created with that mode before SQLite first opens it (SQLite gives -wal and -shm the main file's
 * mode), and tightened if an older host left it readable.
 */
export async function restrictDbFiles(file: string): Promise<void> {
  await (await open(file, 'a', 0o600)).close();
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    await chmod(f, 0o600).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}
