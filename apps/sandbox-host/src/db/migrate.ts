// Applies prisma/migrations at host start, in Prisma's own layout and bookkeeping
// (`_prisma_migrations`, sha-256 checksums), so `prisma migrate deploy` agrees with what we did
// wherever Prisma's schema engine exists. SQLite only: the PostgreSQL option uses
// `prisma migrate deploy` (see the README).

import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../../prisma/migrations/', import.meta.url));

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

/** Applies every migration not applied yet, each in a transaction; returns their names. */
export async function applyMigrations(file: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(BOOKKEEPING);
    const done = new Map(
      (db.prepare('SELECT migration_name, checksum FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL').all() as Array<{ migration_name: string; checksum: string }>).map((r) => [r.migration_name, r.checksum]),
    );
    const applied: string[] = [];
    for (const name of names) {
      const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const seen = done.get(name);
      if (seen !== undefined) {
        if (seen !== checksum) throw new Error(`migration ${name} was modified after it was applied (checksum differs); restore it or reset the database`);
        continue;
      }
      const now = new Date().toISOString();
      db.transaction(() => {
        db.exec(sql);
        db.prepare('INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)').run(randomUUID(), checksum, new Date().toISOString(), name, now);
      })();
      applied.push(name);
    }
    return applied;
  } finally {
    db.close();
  }
}
