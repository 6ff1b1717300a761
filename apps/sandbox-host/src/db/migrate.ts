// Applies the SQL migrations at host start, in Prisma's own layout and bookkeeping
// (`_prisma_migrations`, sha-256 checksums of migration.sql), so `prisma migrate deploy` agrees
// with what we did wherever Prisma's schema engine exists. One set per provider, with the same
// directory names: prisma/migrations (SQLite) and prisma/postgresql/migrations (PostgreSQL);
// migrations-in-step.test.ts proves they build the same tables.

import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { databaseConnectError, postgresSchemaOf } from './database-errors.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../../prisma/migrations/', import.meta.url));
export const POSTGRES_MIGRATIONS_DIR = fileURLToPath(new URL('../../../../prisma/postgresql/migrations/', import.meta.url));

/** Prisma Migrate's advisory lock key: hosts starting together and `prisma migrate deploy` exclude each other. */
const PRISMA_MIGRATE_LOCK = 72707369;

const SQLITE_BOOKKEEPING = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

// Prisma Migrate's own definition for PostgreSQL.
const POSTGRES_BOOKKEEPING = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/** The migrations of one provider's directory, in order (directory names sort by their timestamp). */
export async function readMigrations(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/** The ones still to apply; refuses a migration edited after it was applied. */
function pending(all: Migration[], done: Map<string, string>): Migration[] {
  return all.filter((m) => {
    const seen = done.get(m.name);
    if (seen === undefined) return true;
    if (seen !== m.checksum) throw new Error(`migration ${m.name} was modified after it was applied (checksum differs); restore it or reset the database`);
    return false;
  });
}

/** SQLite: applies every migration not applied yet, each in a transaction; returns their names. */
export async function applyMigrations(file: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const all = await readMigrations(dir);
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(SQLITE_BOOKKEEPING);
    const done = new Map(
      (db.prepare('SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL').all() as Array<{ migration_name: string; checksum: string }>).map((r) => [r.migration_name, r.checksum]),
    );
    const applied: string[] = [];
    for (const m of pending(all, done)) {
      const now = new Date().toISOString();
      try {
        db.transaction(() => {
          db.exec(m.sql);
          db.prepare('INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)').run(randomUUID(), m.checksum, new Date().toISOString(), m.name, now);
        })();
      } catch (e) {
        throw new Error(`migration ${m.name} failed: ${(e as Error).message} (nothing of it was applied)`, { cause: e });
      }
      applied.push(m.name);
    }
    return applied;
  } finally {
    db.close();
  }
}

/**
 * PostgreSQL: the same, under Prisma Migrate's advisory lock so that several hosts starting at
 * once against one database apply each migration exactly once. DDL is transactional here too.
 */
export async function applyPostgresMigrations(url: string, dir = POSTGRES_MIGRATIONS_DIR): Promise<string[]> {
  const all = await readMigrations(dir);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A server that goes away while we wait must not crash the process with an unhandled 'error'.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw databaseConnectError(url, e);
  }
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    // DATABASE_URL's ?schema= (Prisma's convention): tables and bookkeeping live there, as Prisma's client expects.
    const schema = postgresSchemaOf(url);
    if (schema) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(`SET search_path TO "${schema}"`);
    }
    await client.query(POSTGRES_BOOKKEEPING);
    const rows = (await client.query<{ migration_name: string; checksum: string }>('SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL')).rows;
    const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
    const applied: string[] = [];
    for (const m of pending(all, done)) {
      const startedAt = new Date();
      try {
        await client.query('BEGIN');
        await client.query(m.sql);
        await client.query('INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, $4, 1)', [randomUUID(), m.checksum, m.name, startedAt]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${m.name} failed: ${(e as Error).message} (nothing of it was applied)`, { cause: e });
      }
      applied.push(m.name);
    }
    await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]);
    return applied;
  } finally {
    await client.end().catch(() => {});
  }
}
