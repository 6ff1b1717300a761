// DATABASE_URL's ?schema= (Prisma's convention for PostgreSQL): the host's tables, its migration
// bookkeeping and every query live in that schema, so a school can give Reg a schema in a shared
// database; a malformed one is refused before anything connects.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { freshPostgresDatabase, postgresSkipReason, type TestDatabase } from '../test-support/postgres.js';
import { openDb } from './client.js';

const skip = await postgresSkipReason();

describe('a PostgreSQL schema named in DATABASE_URL', { skip }, () => {
  let database: TestDatabase;
  before(async () => {
    database = await freshPostgresDatabase();
  });
  after(async () => {
    await database?.drop();
  });

  test('tables, bookkeeping and queries are in that schema, none in public', async () => {
    const url = `${database.url}?schema=reg_school`;
    const { db, migrated, provider } = await openDb(url);
    try {
      assert.equal(provider, 'postgresql');
      assert.ok(migrated.length > 0);
      await db.user.create({ data: { id: randomUUID(), username: 'in-schema', passwordHash: 'x' } });
      assert.equal(await db.user.count(), 1);
    } finally {
      await db.$disconnect();
    }
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    try {
      const where = (await c.query<{ table_schema: string; n: number }>("SELECT table_schema, count(*)::int AS n FROM information_schema.tables WHERE table_schema IN ('public', 'reg_school') GROUP BY table_schema")).rows;
      assert.deepEqual(where.map((r) => r.table_schema), ['reg_school']);
      assert.equal((await c.query('SELECT username FROM reg_school."User"')).rows[0].username, 'in-schema');
      assert.ok((await c.query('SELECT count(*)::int AS n FROM reg_school._prisma_migrations')).rows[0].n > 0);
    } finally {
      await c.end();
    }
  });

  test('a malformed schema name is refused by name, before connecting', async () => {
    await assert.rejects(openDb(`${database.url}?schema=${encodeURIComponent('x"; DROP TABLE y')}`), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'DATABASE_URL_INVALID');
      assert.match(e.message, /\?schema=x"; DROP TABLE y: a schema name is letters, digits and _/);
      return true;
    });
  });
});
