// Hostile or degenerate RET input is refused at parse time, naming the field: alias bombs,
// oversized documents, empty locks, duplicate paths and entries below a symlink or a file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRegError } from '../errors.js';
import { expandedSize, MAX_RET_BYTES, parseRet } from './parse.js';

const D = `sha256:${'a'.repeat(64)}`;

test('an alias bomb is refused before it is stored, cheaply', () => {
  // One string aliased 200 times (the 1 MiB → 401 MiB), and the classic nested laughs.
  const big = 'x'.repeat(1024 * 1024);
  const flat = `name: bomb\nversion: "1"\ndescription: &a "${big}"\nenv:\n${Array.from({ length: 200 }, (_, i) => `  V${i}: *a`).join('\n')}\n`;
  assert.throws(() => parseRet(flat, 'bomb.yaml'), (e) => isRegError(e, 'RET_INVALID') && /aliases expand/.test(e.message) && e.file === 'bomb.yaml');
  let laughs = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 10; i++) laughs += `a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(',')}]\n`;
  const nested = `name: laughs\nversion: "1"\nsource:\n  host: x\n${laughs.replace(/^/gm, '# ')}`;
  parseRet(nested, 'ok.yaml'); // comments only: fine
  assert.ok(expandedSize(Object.fromEntries(laughs.trim().split('\n').map((l, i) => [`a${i}`, l]))) > 0);
  const doc = `name: laughs\nversion: "1"\nx: &x\n${laughs.replace(/^/gm, '  ')}`;
  assert.throws(() => parseRet(doc, 'laughs.yaml'), (e) => isRegError(e, 'RET_INVALID'));
});

test('a document larger than the limit is refused without parsing', () => {
  const huge = `name: huge\nversion: "1"\ndescription: "${'y'.repeat(MAX_RET_BYTES)}"\n`;
  assert.throws(() => parseRet(huge, 'huge.yaml'), (e) => isRegError(e, 'RET_INVALID') && /more than the/.test(e.message));
});

test('a small alias use within bounds is still accepted', () => {
  const r = parseRet(`name: ok\nversion: "1"\nenv:\n  A: &v "value"\n  B: *v\n`, 'ok.yaml');
  assert.equal(r.env?.B, 'value');
});

test('degenerate locks are refused naming the field', () => {
  assert.throws(() => parseRet('name: e\nversion: "1"\nlock: {files: []}\n', 'e.yaml'), (e) => isRegError(e, 'RET_INVALID') && e.field === 'lock.files' && /at least one entry/.test(e.message));
  const dup = `name: d\nversion: "1"\nlock:\n  files:\n    - {path: usr/bin/a, digest: "${D}", size: 1, mode: "0755"}\n    - {path: usr/bin/a, link: b}\n`;
  assert.throws(() => parseRet(dup, 'd.yaml'), (e) => isRegError(e) && e.field === 'lock.files[1].path' && /listed twice/.test(e.message));
  const underLink = `name: l\nversion: "1"\nlock:\n  files:\n    - {path: usr/lib, link: share}\n    - {path: usr/lib/evil.so, digest: "${D}", size: 1, mode: "0644"}\n`;
  assert.throws(() => parseRet(underLink, 'l.yaml'), (e) => isRegError(e) && e.field === 'lock.files[1].path' && /below "usr\/lib", which is a symlink/.test(e.message));
  const underFile = `name: f\nversion: "1"\nlock:\n  files:\n    - {path: usr/bin/a, digest: "${D}", size: 1, mode: "0755"}\n    - {path: usr/bin/a/b, dir: true}\n`;
  assert.throws(() => parseRet(underFile, 'f.yaml'), (e) => isRegError(e) && /which is a file/.test(e.message));
  // Under a directory is fine.
  parseRet(`name: ok\nversion: "1"\nlock:\n  files:\n    - {path: usr/lib, dir: true}\n    - {path: usr/lib/x.so, digest: "${D}", size: 1, mode: "0644"}\n`, 'ok.yaml');
});

test('reg ret add refuses a symlink that is the parent of other entries, naming the field', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { addRet } = await import('./add.js');
  const { regHome } = await import('../home.js');
  const { listRets } = await import('./repository.js');
  const dir = mkdtempSync(join(tmpdir(), 'reg-add-link-'));
  try {
    // A locked RET (the import form) whose lib directory is a link with entries below it.
    writeFileSync(join(dir, 'r.yaml'), `name: linky\nversion: "1"\nlock:\n  files:\n    - {path: usr/lib, link: share}\n    - {path: usr/lib/evil.so, digest: "${D}", size: 1, mode: "0644"}\n`);
    const home = regHome(join(dir, 'home'));
    await assert.rejects(addRet(home, join(dir, 'r.yaml')), (e) => isRegError(e) && /which is a symlink/.test(e.message) && e.field === 'lock.files[1].path');
    assert.deepEqual(await listRets(home), [], 'nothing saved');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
