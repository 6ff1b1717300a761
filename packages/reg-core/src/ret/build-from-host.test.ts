// Integration: RETs built from this host's python3.11 and node, stored, materialised and run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import { exportTree, materialise } from '../resolve/materialise.js';
import { gcStore } from '../store/gc.js';
import { storeStats } from '../store/stats.js';
import { verifyStore } from '../store/verify.js';
import { blobPath } from '../store/blob-path.js';
import { readHostLink } from '../store/host-links.js';
import { snapshot, tempHome } from '../test-support/temp-home.js';
import { buildFromHost, libraryIdentity } from './build-from-host.js';
import { findRet, loadRet, removeRet } from './repository.js';

const PYTHON = '/usr/bin/python3.11';
const NODE = '/usr/bin/node';
const isRoot = process.getuid?.() === 0;
const home = tempHome();
after(home.cleanup);

before(async () => {
  await buildFromHost(home, PYTHON);
  await buildFromHost(home, NODE);
});

function libcLayerFile(lowerdirs: string[]): string | undefined {
  for (const d of lowerdirs) {
    const p = join(d, 'usr/lib/x86_64-linux-gnu/libc.so.6');
    if (existsSync(p)) return p;
  }
  return undefined;
}

test('library names and versions come from sonames', () => {
  assert.deepEqual(libraryIdentity('libz.so.1', 'libz.so.1.2.13'), { name: 'libz', version: '1.2.13', range: '1' });
  assert.deepEqual(libraryIdentity('libc.so.6', 'libc.so.6'), { name: 'libc', version: '6', range: '6' });
  assert.deepEqual(libraryIdentity('libdb-5.3.so', 'libdb-5.3.so'), { name: 'libdb', version: '5.3', range: '5.3' });
  assert.deepEqual(libraryIdentity('ld-linux-x86-64.so.2', 'ld-linux-x86-64.so.2'), { name: 'ld-linux-x86-64', version: '2', range: '2' });
  assert.equal(libraryIdentity('libstdc++.so.6', 'libstdc++.so.6.0.30').name, 'libstdc++');
});

test('python and node RETs are built in the paper form with a lock, sharing library RETs', async () => {
  const py = await findRet(home, 'python@3.11');
  const ret = await loadRet(home, py.name, py.version);
  assert.equal(ret.kind, 'runtime');
  assert.ok(ret.libs?.includes('libc@6'), `python libs: ${ret.libs}`);
  assert.ok(ret.requires?.some((r) => r.startsWith('tzdata@')));
  assert.ok(ret.requires?.some((r) => r.startsWith('ca-certificates@')));
  assert.equal(ret.files?.['python3.11'], '/usr/bin/python3.11');
  assert.equal(ret.files?.stdlib, '/usr/lib/python3.11');
  const paths = new Set(ret.lock.files.map((e) => e.path));
  assert.ok(paths.has('usr/bin/python3'), 'the python3 alias link is included');
  assert.ok(paths.has('usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so'));
  assert.ok(paths.has('usr/lib/python3.11/os.py'));
  assert.ok(![...paths].some((p) => p.includes('config-3.11')), 'build-time static libs are left out');
  const node = await loadRet(home, 'node', (await findRet(home, 'node')).version);
  assert.ok(node.libs?.includes('libc@6') && node.libs?.includes('libstdc++@6'), `node libs: ${node.libs}`);
  assert.ok(node.lock.files.some((e) => e.path === 'usr/bin/env'), "npm's #!/usr/bin/env node interpreter is included");
  const libc = await loadRet(home, 'libc', '6');
  assert.equal(libc.kind, 'library');
  assert.ok(libc.requires?.some((r) => r.startsWith('ld-linux-x86-64@')));
});

test('libc is stored once: python and node containers map the same inode', async () => {
  const py = await materialise(home, 'python@3.11');
  const node = await materialise(home, 'node');
  const a = libcLayerFile(py.lowerdirs);
  const b = libcLayerFile(node.lowerdirs);
  assert.ok(a && b);
  assert.equal(statSync(a).ino, statSync(b).ino);
  const stats = await storeStats(home);
  const libcSize = statSync(a).size;
  assert.ok(stats.savedBytes >= libcSize, `saved ${stats.savedBytes} should include libc's ${libcSize}`);
  assert.equal(stats.closures.length, 2);
});

test('files under /usr are the host\'s own inodes in the store; /etc files and REG_STORE_LINK=copy builds are copies', { skip: !isRoot && 'needs root (only root-owned host files are linked)' }, async (t) => {
  if (statSync(home.root).dev !== statSync('/usr/lib').dev) return t.skip(`${home.root} is not on the filesystem of /usr/lib: every file is copied (EXDEV)`);
  const libc = libcLayerFile((await materialise(home, 'python@3.11')).lowerdirs)!;
  assert.equal(statSync(libc).ino, statSync('/usr/lib/x86_64-linux-gnu/libc.so.6').ino, 'containers map the very inode host processes map');
  assert.equal(statSync(join(home.layers, readdirSync(home.layers).find((n) => n.startsWith('python@'))!, 'usr/bin/python3.11')).ino, statSync(PYTHON).ino);
  const ca = await loadRet(home, 'ca-certificates', (await findRet(home, 'ca-certificates')).version);
  const etcFile = ca.lock.files.find((e) => e.path.startsWith('etc/') && e.digest);
  if (etcFile) assert.notEqual(statSync(blobPath(home.blobs, etcFile.digest!, false)).ino, statSync(`/${etcFile.path}`).ino, `/${etcFile.path} (edited in place by admins) is copied`);
  const v = await verifyStore(home);
  assert.ok(v.linked > 500, `${v.linked} linked blobs`);
  const st = await storeStats(home);
  assert.equal(st.linkedBlobs, v.linked, 'store stats counts the same host inodes');
  assert.ok(st.linkedBytes! > 10 * 2 ** 20 && st.linkedBytes! <= st.bytes);
  assert.deepEqual(v.problems, []);
  const copyHome = tempHome('reg-copy-');
  t.after(copyHome.cleanup);
  const r = await buildFromHost(copyHome, PYTHON, { link: 'copy' });
  assert.equal(r.linkedFiles, undefined);
  const copied = libcLayerFile((await materialise(copyHome, 'python@3.11')).lowerdirs)!;
  assert.notEqual(statSync(copied).ino, statSync('/usr/lib/x86_64-linux-gnu/libc.so.6').ino);
  assert.equal((await verifyStore(copyHome)).linked, 0);
  // The next build with linking on (as after an upgrade of Reg) re-links that store in place.
  const again = await buildFromHost(copyHome, PYTHON);
  assert.ok(again.rets.every((x) => x.status === 'unchanged'));
  assert.equal(statSync(libcLayerFile((await materialise(copyHome, 'python@3.11')).lowerdirs)!).ino, statSync('/usr/lib/x86_64-linux-gnu/libc.so.6').ino);
  const relinked = await verifyStore(copyHome);
  assert.deepEqual([relinked.problems, relinked.layerProblems], [[], []]);
  assert.ok(relinked.linked > 500);
});

test('a python tree runs the stdlib under a plain chroot', { skip: !isRoot && 'needs root for chroot' }, async (t) => {
  const dir = join(home.root, 'export-python');
  await exportTree(home, 'python@3.11', dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = execFileSync('chroot', [dir, '/usr/bin/python3', '-c', 'import ssl, sqlite3, ctypes, json, zlib, decimal, zoneinfo; print(ssl.create_default_context().cert_store_stats()["x509_ca"] > 0, zoneinfo.ZoneInfo("Asia/Tokyo").key)'], { encoding: 'utf8' });
  assert.equal(out.trim(), 'True Asia/Tokyo');
  // The stdlib keeps its sources' mtimes, so python trusts its .pyc files instead of recompiling.
  for (const f of ['os.py', 'encodings/__init__.py']) {
    assert.equal(Math.floor(statSync(join(dir, 'usr/lib/python3.11', f)).mtimeMs / 1000), Math.floor(statSync(join('/usr/lib/python3.11', f)).mtimeMs / 1000), f);
  }
});

test('node runs from its layers stacked as a real OverlayFS lower', { skip: !isRoot && 'needs root to mount overlayfs' }, async (t) => {
  const m = await materialise(home, 'node');
  const mnt = mkdtempSync(join(tmpdir(), 'reg-ovl-'));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${m.lowerdirs.join(':')}`, mnt]);
  t.after(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  const out = execFileSync('chroot', [mnt, '/usr/bin/node', '-e', "require('crypto'); require('zlib'); console.log(require('crypto').createHash('sha256').update('x').digest('hex').slice(0, 8))"], { encoding: 'utf8' });
  assert.equal(out.trim(), '2d711642');
  const npm = execFileSync('chroot', [mnt, '/usr/bin/npm', '--version'], { encoding: 'utf8' });
  assert.match(npm.trim(), /^\d+\.\d+\.\d+$/);
});

test('verify finds a tampered blob and names the RETs that use it', async (t) => {
  assert.deepEqual((await verifyStore(home)).problems, []);
  // A generated blob (the rootfs's /etc/passwd) is always a copy: tampering with a linked blob
  // would write the host's own file (see host-links.test.ts for those, on files of its own).
  const rootfs = await loadRet(home, 'rootfs', '1');
  const entry = rootfs.lock.files.find((e) => e.path === 'etc/passwd')!;
  const blob = blobPath(home.blobs, entry.digest!, false);
  assert.equal(await readHostLink(home, blob), undefined, 'a copy, not a host inode');
  const original = readFileSync(blob);
  const mode = statSync(blob).mode & 0o7777;
  chmodSync(blob, 0o644);
  writeFileSync(blob, Buffer.concat([original, Buffer.from('evil::0:0::/:/bin/sh\n')]));
  t.after(() => {
    writeFileSync(blob, original);
    chmodSync(blob, mode);
  });
  const report = await verifyStore(home);
  const bad = report.problems.find((p) => p.kind === 'corrupt');
  assert.ok(bad, JSON.stringify(report.problems));
  assert.ok(bad.referencedBy.some((r) => r.ret === 'rootfs@1' && r.path === '/etc/passwd'));
});

test('gc removes what nothing refers to, and nothing else', async () => {
  const before = await storeStats(home);
  const tz = await findRet(home, 'tzdata');
  const bytesOfTz = (await loadRet(home, tz.name, tz.version)).lock.files.reduce((n, e) => n + (e.size ?? 0), 0);
  await removeRet(home, tz.name, tz.version);
  const young = await gcStore(home);
  assert.equal(young.removedBlobs, 0, 'young blobs are kept for a grace period');
  const r = await gcStore(home, { graceMs: 0 });
  assert.ok(r.removedBlobs > 500, `removed ${r.removedBlobs}`);
  assert.ok(young.removedLayers + r.removedLayers >= 1, "the unused layer tree is removed");
  const afterStats = await storeStats(home);
  assert.ok(before.bytes - afterStats.bytes >= bytesOfTz * 0.9);
  assert.deepEqual((await verifyStore(home)).problems, []);
  await buildFromHost(home, PYTHON); // restore tzdata for other tests
});

test('a non-ELF file, a missing file and a directory are clear errors that leave the store as it was', async () => {
  const snap = snapshot(home.root);
  const script = join(home.root, 'script.sh');
  writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o755 });
  const snap2 = snapshot(home.root);
  await assert.rejects(buildFromHost(home, script), (e: RegError) => e.code === 'NOT_ELF' && e.file === script && e.field === '--from-host');
  await assert.rejects(buildFromHost(home, '/usr/bin/no-such-runtime'), (e: RegError) => e.code === 'FILE_NOT_FOUND');
  await assert.rejects(buildFromHost(home, '/usr/bin'), (e: RegError) => e.code === 'NOT_ELF');
  assert.deepEqual(snapshot(home.root), snap2);
  rmSync(script);
  assert.deepEqual(snapshot(home.root), snap);
});

test('a full disk is STORE_FULL and leaves the store exactly as it was', { skip: !isRoot && 'needs root to mount a small tmpfs' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reg-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
  t.after(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const small = { ...home, ...(await import('../home.js')).regHome(join(dir, 'reg')) };
  mkdirSync(small.root);
  writeFileSync(join(small.root, 'marker'), 'present before');
  const snap = snapshot(small.root);
  await assert.rejects(buildFromHost(small, PYTHON), (e: RegError) => e.code === 'STORE_FULL' && /no space left/.test(e.message) && !!e.hint);
  assert.deepEqual(snapshot(small.root), snap);
});
