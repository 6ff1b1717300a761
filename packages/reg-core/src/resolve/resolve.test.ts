import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import { addRet } from '../ret/add.js';
import { tempHome } from '../test-support/temp-home.js';
import { materialise } from './materialise.js';
import { filePlan, resolveGraph } from './resolve.js';

/** A host tree with a few files, and RET documents in the paper's form that name them. */
async function fixture(t: import('node:test').TestContext) {
  const home = tempHome();
  t.after(home.cleanup);
  const root = join(home.root, 'host');
  for (const [p, content] of Object.entries({
    'usr/bin/tool': '#!/bin/sh\necho tool\n',
    'usr/lib/libshared.so.1': 'shared library bytes',
    'usr/share/a/x': 'from a',
    'usr/share/b/x': 'from b',
  })) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content, { mode: p.includes('bin') ? 0o755 : 0o644 });
  }
  const add = async (name: string, body: string) => {
    const file = join(home.root, `${name}.yaml`);
    writeFileSync(file, `name: ${name}\nversion: "1.0"\n${body}`);
    return addRet(home, file, { root });
  };
  return { home, root, add };
}

test('a reference resolves to the RET and its requires, recursively, each once', async (t) => {
  const { home, add } = await fixture(t);
  await add('libshared', 'kind: library\nfiles:\n  lib: /usr/lib/libshared.so.1\n');
  await add('a', 'files:\n  x: /usr/share/a/x\nlibs: [libshared@1]\n');
  await add('tool', 'files:\n  tool: /usr/bin/tool\nrequires: [a@1, libshared@1.0]\n');
  const g = await resolveGraph(home, 'tool@1');
  assert.deepEqual(g.rets.map((m) => m.name), ['tool', 'a', 'libshared']);
  const plan = await filePlan(home, g);
  const tool = plan.get('usr/bin/tool');
  assert.ok(tool?.kind === 'file' && tool.executable && tool.ret === 'tool@1.0');
  assert.equal(plan.get('usr/lib')?.kind, 'dir');
});

test('the lower layers of a container are one shared tree per RET, built once', async (t) => {
  const { home, add } = await fixture(t);
  await add('libshared', 'files:\n  lib: /usr/lib/libshared.so.1\n');
  await add('tool', 'files:\n  tool: /usr/bin/tool\nlibs: [libshared@1]\nenv: {TOOL: "1"}\ncommand: [/usr/bin/tool]\n');
  const m = await materialise(home, 'tool');
  assert.equal(m.lowerdirs.length, 2);
  assert.deepEqual(m.command, ['/usr/bin/tool']);
  assert.equal(m.env.TOOL, '1');
  assert.match(m.env.PATH!, /\/usr\/bin/);
  const lib = join(m.lowerdirs[1]!, 'usr/lib/libshared.so.1');
  const blobs = readdirSync(home.blobs, { recursive: true }).map(String);
  assert.ok(statSync(lib).nlink >= 2, 'the layer file is a hard link to the store blob');
  assert.ok(blobs.length > 0);
  const again = await materialise(home, 'tool');
  assert.deepEqual(again.lowerdirs, m.lowerdirs);
  assert.equal(statSync(join(again.lowerdirs[1]!, 'usr/lib/libshared.so.1')).ino, statSync(lib).ino);
});

test('a cycle is an error naming the RETs involved', async (t) => {
  const { home, add } = await fixture(t);
  await add('a', 'files:\n  x: /usr/share/a/x\nrequires: [b@1]\n');
  await add('b', 'files:\n  x: /usr/share/b/x\nrequires: [a@1]\n');
  await assert.rejects(resolveGraph(home, 'a'), (e: RegError) => e.code === 'DEPENDENCY_CYCLE' && /a@1\.0 → b@1\.0 → a@1\.0/.test(e.message));
});

test('a missing RET names who requires it and what versions exist', async (t) => {
  const { home, add } = await fixture(t);
  await add('a', 'files:\n  x: /usr/share/a/x\nrequires: [libshared@2]\n');
  await add('libshared', 'files:\n  lib: /usr/lib/libshared.so.1\n');
  await assert.rejects(resolveGraph(home, 'a'), (e: RegError) => e.code === 'RET_NOT_FOUND' && /libshared@2 \(required by a@1\.0\); versions here: 1\.0/.test(e.message));
  await assert.rejects(resolveGraph(home, 'nothing@1'), (e: RegError) => e.code === 'RET_NOT_FOUND');
});

test('two RETs with different content at one path are a conflict naming both and the path', async (t) => {
  const { home, root, add } = await fixture(t);
  mkdirSync(join(root, 'alt/usr/share/a'), { recursive: true });
  await add('a', 'files:\n  x: /usr/share/a/x\n');
  writeFileSync(join(home.root, 'evil.yaml'), 'name: evil\nversion: "1"\nfiles:\n  x: /usr/share/a/x\nrequires: [a]\n');
  writeFileSync(join(root, 'alt/usr/share/a/x'), 'different bytes');
  await addRet(home, join(home.root, 'evil.yaml'), { root: join(root, 'alt') });
  await assert.rejects(materialise(home, 'evil'), (e: RegError) => e.code === 'PATH_CONFLICT' && e.message.includes('/usr/share/a/x') && e.message.includes('evil@1') && e.message.includes('a@1.0'));
});
