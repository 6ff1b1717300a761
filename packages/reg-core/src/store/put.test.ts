import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempHome, snapshot } from '../test-support/temp-home.js';
import { listBlobs } from './inventory.js';
import { BlobWriter, hashBuffer } from './put.js';

test('a blob is named by its digest, read-only, and putting it again is a no-op', async (t) => {
  const home = tempHome();
  t.after(home.cleanup);
  const w = new BlobWriter(home);
  const a = await w.putBuffer('hello\n');
  assert.equal(a.digest, hashBuffer('hello\n'));
  assert.ok(a.created);
  assert.equal(readFileSync(a.path, 'utf8'), 'hello\n');
  assert.equal(statSync(a.path).mode & 0o777, 0o444);
  assert.match(a.path, /blobs\/[0-9a-f]{2}\/[0-9a-f]{62}$/);
  const ino = statSync(a.path).ino;
  const b = await w.putBuffer('hello\n');
  assert.equal(b.created, false);
  assert.equal(statSync(b.path).ino, ino, 'the existing blob is kept, not rewritten');
  const x = await w.putBuffer('hello\n', true);
  assert.equal(statSync(x.path).mode & 0o777, 0o555);
  assert.notEqual(x.path, a.path, 'executable bytes are a separate blob: hard links share one mode');
});

test('putFile stores a host file; rollback takes back exactly what this writer created', async (t) => {
  const home = tempHome();
  t.after(home.cleanup);
  const src = join(home.root, 'src.txt');
  writeFileSync(src, 'x'.repeat(100_000));
  const before = new BlobWriter(home);
  await before.putBuffer('kept');
  const snap = snapshot(home.blobs);
  const w = new BlobWriter(home);
  const r = await w.putFile(src, false);
  assert.equal(r.size, 100_000);
  await w.putBuffer('kept'); // existed already: not this writer's to remove
  await w.rollback();
  assert.deepEqual(snapshot(home.blobs), snap);
});

test('concurrent writers in several processes store one intact blob', async (t) => {
  const home = tempHome();
  t.after(home.cleanup);
  const content = 'concurrent '.repeat(200_000);
  const script = `
    import { BlobWriter } from ${JSON.stringify(new URL('./put.ts', import.meta.url).pathname)};
    const w = new BlobWriter(${JSON.stringify(home)});
    const content = 'concurrent '.repeat(200_000);
    for (let i = 0; i < 20; i++) await w.putBuffer(content + (i % 3));
  `;
  const runs = Array.from({ length: 6 }, () =>
    new Promise<number>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'inherit' });
      p.on('exit', (code) => resolve(code ?? 1));
    }),
  );
  assert.deepEqual(await Promise.all(runs), [0, 0, 0, 0, 0, 0]);
  const blobs = await listBlobs(home);
  assert.equal(blobs.length, 3);
  for (const b of blobs) {
    const i = ['0', '1', '2'].find((s) => hashBuffer(content + s) === b.digest);
    assert.ok(i !== undefined, 'every blob holds exactly the content its name says');
    assert.equal(readFileSync(b.path, 'utf8'), content + i);
  }
});
