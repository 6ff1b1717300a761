// Opens the host's database: migrations first, then a Prisma client on the better-sqlite3 driver
// adapter. Only the host talks to the database.

import { chmod, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client.js';
import { applyMigrations } from './migrate.js';

export type Db = PrismaClient;

export function sqliteFileOf(databaseUrl: string): string {
  if (!databaseUrl.startsWith('file:')) {
    throw new Error(`DATABASE_URL ${databaseUrl.split(':')[0]}: this build of the host speaks SQLite (file:...); for PostgreSQL see the README's scale-out notes`);
  }
  return databaseUrl.slice('file:'.length);
}

export async function openDb(databaseUrl: string): Promise<{ db: Db; migrated: string[] }> {
  const file = sqliteFileOf(databaseUrl);
  await mkdir(dirname(file), { recursive: true });
  await restrictDbFiles(file);
  const migrated = await applyMigrations(file);
  // fileMustExist: the file exists by now (restrictDbFiles made it 0600); a query that arrives after
  // the host closed (a session's late exit handler) then fails instead of re-creating an empty,
  // world-readable reg.db in a data dir that is being deleted.
  const db = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: file, fileMustExist: true }) });
  return { db, migrated };
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
