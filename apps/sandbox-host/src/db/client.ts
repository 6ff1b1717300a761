// Opens the host's database: migrations first, then a Prisma client on the better-sqlite3 driver
// adapter. Only the host talks to the database.

import { mkdir } from 'node:fs/promises';
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
  const migrated = await applyMigrations(file);
  const db = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: file }) });
  return { db, migrated };
}
