// The two migration sets (prisma/migrations for SQLite, prisma/postgresql/migrations for
// PostgreSQL) are written by hand: this proves they stay in step by applying each to a real
// database and comparing what they built (tables, columns, types, nullability, defaults, primary
// keys, indexes, foreign keys), and that both match prisma/schema.prisma's models.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { freshPostgresDatabase, postgresSkipReason, type TestDatabase } from '../test-support/postgres.js';
import { applyMigrations, applyPostgresMigrations, MIGRATIONS_DIR, POSTGRES_MIGRATIONS_DIR } from './migrate.js';

interface Column { type: string; notNull: boolean; default: string | null }
interface Shape {
  tables: Record<string, { columns: Record<string, Column>; primaryKey: string[] }>;
  indexes: Record<string, { table: string; unique: boolean; columns: string[] }>;
  foreignKeys: string[];
}

const BOOKKEEPING = '_prisma_migrations';

const sqliteType = (t: string): string => ({ TEXT: 'text', INTEGER: 'int', BIGINT: 'bigint', DATETIME: 'timestamp', BOOLEAN: 'boolean', REAL: 'float' })[t.toUpperCase()] ?? `?${t}`;
const pgType = (t: string, precision: number | null): string =>
  ({ text: 'text', integer: 'int', bigint: 'bigint', boolean: 'boolean', 'double precision': 'float' })[t] ?? (t === 'timestamp without time zone' && precision === 3 ? 'timestamp' : `?${t}(${precision})`);

/** Defaults as one spelling: 'x'::text → 'x', CURRENT_TIMESTAMP, true/false, numbers; sequences → autoincrement. */
function normalDefault(d: string | null): string | null {
  if (d === null) return null;
  if (/^nextval\(/.test(d)) return 'autoincrement';
  return d.replace(/::[\w ]+$/, '').replace(/^current_timestamp$/i, 'CURRENT_TIMESTAMP');
}

function sqliteShape(file: string): Shape {
  const db = new Database(file, { readonly: true });
  try {
    const shape: Shape = { tables: {}, indexes: {}, foreignKeys: [] };
    const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ?").all(BOOKKEEPING) as Array<{ name: string; sql: string }>;
    for (const t of tables) {
      const cols = db.prepare(`PRAGMA table_info("${t.name}")`).all() as Array<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>;
      const autoincrement = /AUTOINCREMENT/i.test(t.sql);
      shape.tables[t.name] = {
        columns: Object.fromEntries(cols.map((c) => [c.name, { type: sqliteType(c.type), notNull: c.notnull === 1 || c.pk > 0, default: c.pk > 0 && autoincrement ? 'autoincrement' : normalDefault(c.dflt_value) }])),
        primaryKey: cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
      };
      for (const i of db.prepare(`PRAGMA index_list("${t.name}")`).all() as Array<{ name: string; unique: number; origin: string }>) {
        if (i.origin === 'pk') continue;
        const cols2 = (db.prepare(`PRAGMA index_info("${i.name}")`).all() as Array<{ seqno: number; name: string }>).sort((a, b) => a.seqno - b.seqno).map((c) => c.name);
        shape.indexes[i.name] = { table: t.name, unique: i.unique === 1, columns: cols2 };
      }
      for (const f of db.prepare(`PRAGMA foreign_key_list("${t.name}")`).all() as Array<{ table: string; from: string; to: string; on_update: string; on_delete: string }>) {
        shape.foreignKeys.push(`${t.name}.${f.from} -> ${f.table}.${f.to} on delete ${f.on_delete} on update ${f.on_update}`);
      }
    }
    shape.foreignKeys.sort();
    return shape;
  } finally {
    db.close();
  }
}

const PG_ACTION: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

async function postgresShape(url: string): Promise<Shape> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const shape: Shape = { tables: {}, indexes: {}, foreignKeys: [] };
    const cols = await c.query<{ table_name: string; column_name: string; data_type: string; datetime_precision: number | null; is_nullable: string; column_default: string | null }>(
      "SELECT table_name, column_name, data_type, datetime_precision, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> $1 ORDER BY table_name, ordinal_position",
      [BOOKKEEPING],
    );
    for (const r of cols.rows) {
      const t = (shape.tables[r.table_name] ??= { columns: {}, primaryKey: [] });
      t.columns[r.column_name] = { type: pgType(r.data_type, r.datetime_precision), notNull: r.is_nullable === 'NO', default: normalDefault(r.column_default) };
    }
    // Constraints and indexes through the catalog: column order matters for composite keys.
    const keys = await c.query<{ table: string; name: string; contype: string; cols: string[]; ftable: string | null; fcols: string[] | null; del: string; upd: string }>(`
      SELECT con.conrelid::regclass::text AS table, con.conname AS name, con.contype,
             ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o)::text[] AS cols,
             con.confrelid::regclass::text AS ftable,
             ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)::text[] AS fcols,
             con.confdeltype AS del, con.confupdtype AS upd
      FROM pg_constraint con JOIN pg_namespace ns ON ns.oid = con.connamespace
      WHERE ns.nspname = 'public' AND con.contype IN ('p', 'f')`);
    for (const k of keys.rows) {
      const table = k.table.replace(/"/g, '');
      if (table === BOOKKEEPING) continue;
      if (k.contype === 'p') shape.tables[table]!.primaryKey = k.cols;
      else shape.foreignKeys.push(`${table}.${k.cols.join(',')} -> ${k.ftable!.replace(/"/g, '')}.${k.fcols!.join(',')} on delete ${PG_ACTION[k.del]} on update ${PG_ACTION[k.upd]}`);
    }
    shape.foreignKeys.sort();
    const idx = await c.query<{ table: string; name: string; unique: boolean; cols: string[] }>(`
      SELECT t.relname AS table, i.relname AS name, ix.indisunique AS unique,
             ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)::text[] AS cols
      FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
      WHERE ns.nspname = 'public' AND NOT ix.indisprimary AND t.relname <> $1`, [BOOKKEEPING]);
    for (const i of idx.rows) shape.indexes[i.name] = { table: i.table, unique: i.unique, columns: i.cols };
    return shape;
  } finally {
    await c.end();
  }
}

/** prisma/schema.prisma's models as tables: scalar fields, their type and optionality. */
async function schemaModels(): Promise<Record<string, Record<string, { type: string; notNull: boolean }>>> {
  const text = await readFile(fileURLToPath(new URL('../../../../prisma/schema.prisma', import.meta.url)), 'utf8');
  const scalar: Record<string, string> = { String: 'text', Int: 'int', BigInt: 'bigint', Boolean: 'boolean', DateTime: 'timestamp', Float: 'float' };
  const out: Record<string, Record<string, { type: string; notNull: boolean }>> = {};
  for (const m of text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const fields: Record<string, { type: string; notNull: boolean }> = {};
    for (const line of m[2]!.split('\n')) {
      const f = line.trim().match(/^(\w+)\s+(\w+)(\?|\[\])?/);
      if (!f || line.trim().startsWith('//') || line.trim().startsWith('@@')) continue;
      const [, name, type, mod] = f;
      if (mod === '[]' || !(type! in scalar)) continue; // relation fields are not columns
      if (/@ignore\b/.test(line)) continue;
      fields[name!] = { type: scalar[type!]!, notNull: mod !== '?' };
    }
    out[m[1]!] = fields;
  }
  return out;
}

let skip: string | undefined;
let dir: string;
let database: TestDatabase | undefined;
let lite: Shape;
let post: Shape;

before(async () => {
  skip = await postgresSkipReason();
  dir = await mkdtemp(join(tmpdir(), 'reg-migrations-'));
  await applyMigrations(join(dir, 'reg.db'));
  lite = sqliteShape(join(dir, 'reg.db'));
  if (skip) return;
  database = await freshPostgresDatabase();
  await applyPostgresMigrations(database.url);
  post = await postgresShape(database.url);
});

after(async () => {
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

test('both providers have the same migrations, by directory name, each with a migration.sql', async () => {
  const names = async (d: string) => (await readdir(d, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const sqlite = await names(MIGRATIONS_DIR);
  const postgres = await names(POSTGRES_MIGRATIONS_DIR);
  assert.deepEqual(postgres, sqlite, 'every migration needs a twin with the same directory name in prisma/postgresql/migrations (and the other way round)');
  for (const n of sqlite) assert.ok((await readFile(join(POSTGRES_MIGRATIONS_DIR, n, 'migration.sql'), 'utf8')).trim().length > 0, `${n}: empty PostgreSQL migration`);
  assert.match(await readFile(join(POSTGRES_MIGRATIONS_DIR, 'migration_lock.toml'), 'utf8'), /provider = "postgresql"/);
});

test('the SQLite migrations build exactly the models of prisma/schema.prisma', async () => {
  const models = await schemaModels();
  assert.deepEqual(Object.keys(lite.tables).sort(), Object.keys(models).sort(), 'tables vs models');
  for (const [model, fields] of Object.entries(models)) {
    const cols = Object.fromEntries(Object.entries(lite.tables[model]!.columns).map(([n, c]) => [n, { type: c.type, notNull: c.notNull }]));
    assert.deepEqual(cols, fields, `${model}: columns (type, NOT NULL) vs the schema's fields`);
  }
});

test('the PostgreSQL migrations build the same tables, columns, types, nullability and defaults', (t) => {
  if (skip) return t.skip(skip);
  assert.deepEqual(Object.keys(post.tables).sort(), Object.keys(lite.tables).sort(), 'tables');
  for (const [name, table] of Object.entries(lite.tables)) {
    assert.deepEqual(post.tables[name]!.columns, table.columns, `${name}: columns`);
    assert.deepEqual(post.tables[name]!.primaryKey, table.primaryKey, `${name}: primary key`);
  }
});

test('the PostgreSQL migrations build the same indexes and foreign keys', (t) => {
  if (skip) return t.skip(skip);
  assert.deepEqual(post.indexes, lite.indexes, 'indexes (name, table, unique, columns in order)');
  assert.deepEqual(post.foreignKeys, lite.foreignKeys, 'foreign keys (columns, target, on delete, on update)');
});

test('a PostgreSQL database already migrated is left alone, and an edited migration is refused', async (t) => {
  if (skip) return t.skip(skip);
  assert.deepEqual(await applyPostgresMigrations(database!.url), [], 'nothing to apply the second time');
  // A copy of the migrations with the last one edited after it was applied.
  const copy = join(dir, 'edited');
  const { cp, writeFile } = await import('node:fs/promises');
  await cp(POSTGRES_MIGRATIONS_DIR, copy, { recursive: true });
  const names = (await readdir(copy, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const last = join(copy, names.at(-1)!, 'migration.sql');
  await writeFile(last, `${await readFile(last, 'utf8')}\n-- edited\n`);
  await assert.rejects(applyPostgresMigrations(database!.url, copy), /was modified after it was applied/);
});

test('hosts starting together against one new PostgreSQL database apply each migration exactly once', async (t) => {
  if (skip) return t.skip(skip);
  const fresh = await freshPostgresDatabase();
  try {
    const results = await Promise.all([1, 2, 3].map(() => applyPostgresMigrations(fresh.url)));
    const all = (await readdir(POSTGRES_MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
    assert.deepEqual(results.flat().sort(), all, 'each migration applied by exactly one of them');
    const c = new pg.Client({ connectionString: fresh.url });
    await c.connect();
    const rows = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL')).rows;
    await c.end();
    assert.equal(rows[0]!.n, all.length);
  } finally {
    await fresh.drop();
  }
});
