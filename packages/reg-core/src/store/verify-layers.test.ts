// `reg store verify` checks layer trees against their locks: planted files, world-writable
// directories, files that are copies instead of hard links, and changed symlinks are reported.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureLayer } from '../resolve/materialise.js';
import { addRet } from '../ret/add.js';
import { loadRet } from '../ret/repository.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { verifyStore } from './verify.js';

const home = tempHome('reg-verify-layers-');
after(() => home.cleanup());
const isRoot = process.getuid?.() === 0;

test('the rootfs skeleton has no world-writable directory; a clean store verifies', { skip: !isRoot && 'needs root (layer trees are root-owned)' }, async () => {
  await buildFromHost(home, '/usr/bin/bash');
  const rootfs = readdirSync(home.layers).find((n) => n.startsWith('rootfs@'))!;
  const r = await verifyStore(home);
  assert.deepEqual(r.layerProblems, []);
  assert.ok(r.layersChecked >= 3);
  assert.equal((await import('node:fs')).statSync(join(home.layers, rootfs, 'tmp')).mode & 0o7777, 0o755);
  assert.equal((await import('node:fs')).statSync(join(home.layers, rootfs, 'var/tmp')).mode & 0o7777, 0o755);
});

test('planted files, writable dirs, copies and changed links are reported', { skip: !isRoot && 'needs root (layer trees are root-owned)' }, async () => {
  const root = join(home.root, 'src');
  mkdirSync(join(root, 'opt/t/sub'), { recursive: true });
  writeFileSync(join(root, 'opt/t/a.txt'), 'a');
  writeFileSync(join(root, 'opt/t/sub/b.txt'), 'b');
  symlinkSync('a.txt', join(root, 'opt/t/link'));
  writeFileSync(join(home.root, 't.yaml'), 'name: t\nversion: "1"\nkind: data\nfiles:\n  t: /opt/t\n');
  await addRet(home, join(home.root, 't.yaml'), { root });
  const layer = await ensureLayer(home, await loadRet(home, 't', '1'));
  assert.deepEqual((await verifyStore(home)).layerProblems, []);
  writeFileSync(join(layer, 'opt/t/planted.sh'), 'evil');
  chmodSync(join(layer, 'opt/t/sub'), 0o1777);
  unlinkSync(join(layer, 'opt/t/a.txt'));
  copyFileSync(join(root, 'opt/t/a.txt'), join(layer, 'opt/t/a.txt'));
  unlinkSync(join(layer, 'opt/t/link'));
  symlinkSync('/etc/shadow', join(layer, 'opt/t/link'));
  rmSync(join(layer, 'opt/t/sub/b.txt'));
  const r = await verifyStore(home);
  const got = r.layerProblems.map((p) => `${p.kind} ${p.path}`).sort();
  assert.deepEqual(got, ['missing opt/t/sub/b.txt', 'not-linked opt/t/a.txt', 'planted opt/t/planted.sh', 'writable opt/t/sub', 'wrong-link opt/t/link']);
});
