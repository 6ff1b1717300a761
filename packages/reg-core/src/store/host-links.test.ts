// Link first, copy as the fallback: a host file becomes the store's blob by hard link when the
// store can take it as it is (same filesystem, root-owned, a mode writable by root alone), and is
// copied otherwise (a tmpfs REG_HOME: EXDEV; other owners or modes). `reg store verify` then tells
// a host file replaced by rename (an upgrade: fine, noted) from one written in place (named, with
// the RETs using it). Every "host" file here is the test's own, in a temp dir on the same
// filesystem as the temp store: no test may write a real host file that the store links.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { regHome, type RegHome } from '../home.js';
import { commitDrafts, type Draft } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { gcStore } from './gc.js';
import { linkRecordPath, linksDir, readHostLink } from './host-links.js';
import { BlobWriter, hashBuffer } from './put.js';
import { verifyStore } from './verify.js';

const isRoot = process.getuid?.() === 0;
const sameFs = (a: string, b: string) => statSync(a).dev === statSync(b).dev;

/** A temp home and a temp "host" dir beside it (same filesystem), both removed afterwards. */
function setup(t: { after: (fn: () => void) => void }) {
  const home = tempHome('reg-links-');
  const host = mkdtempSync(join(tmpdir(), 'reg-links-host-'));
  t.after(() => {
    home.cleanup();
    rmSync(host, { recursive: true, force: true });
  });
  const file = (name: string, content: string, mode = 0o644) => {
    const p = join(host, name);
    writeFileSync(p, content, { mode });
    chmodSync(p, mode);
    return p;
  };
  return { home, host, file };
}

/** One RET (data) of the given host files, committed the way `ret build --from-host` commits. */
async function commitRet(home: RegHome, name: string, files: Record<string, string>, link = true) {
  const entries: Draft['entries'] = new Map();
  for (const [path, hostPath] of Object.entries(files)) {
    const st = statSync(hostPath);
    entries.set(path, { kind: 'file', hostPath, mode: st.mode & 0o7777, size: st.size, mtime: Math.floor(st.mtimeMs / 1000) });
  }
  return commitDrafts(home, [{ ret: { name, version: '1', kind: 'data' }, entries }], { runtime: { name, version: '1' }, log: () => {}, ...(link && { link: () => true }) });
}

test('a root-owned host file on the same filesystem is linked: the blob is its inode, recorded for verify', { skip: !isRoot && 'needs root (only root-owned files are linked)' }, async (t) => {
  const { home, file } = setup(t);
  if (!sameFs(tmpdir(), home.root)) return t.skip('the temp dir and REG_HOME are on different filesystems');
  const src = file('lib.so', 'shared library bytes\n', 0o755);
  const r = await new BlobWriter(home).putFile(src, true, undefined, { link: true });
  assert.equal(r.linked, true);
  assert.equal(r.digest, hashBuffer('shared library bytes\n'), 'the digest is the content, not the path');
  assert.equal(statSync(r.path).ino, statSync(src).ino, 'the blob is the host inode');
  const rec = (await readHostLink(home, r.path))!;
  assert.equal(rec.hostPath, src);
  assert.equal(rec.ino, String(statSync(src).ino));
  const again = await new BlobWriter(home).putFile(src, true, undefined, { link: true });
  assert.deepEqual([again.created, again.linked], [false, true], 'putting it again is a no-op that knows it is linked');
  const dup = await new BlobWriter(home).putFile(file('dup.so', 'shared library bytes\n', 0o755), true, undefined, { link: true });
  assert.deepEqual([dup.created, dup.linked, dup.relinked], [false, true, undefined], 'the same bytes in another host file');
  assert.equal(statSync(r.path).ino, statSync(src).ino, 'the first host file stays the blob (duplicates do not take turns)');
  const v = await verifyStore(home);
  assert.deepEqual(v.problems, []);
  assert.equal(v.linked, 1);
  assert.deepEqual(v.notes, []);
});

test('files the store cannot accept as they are are copied: other owners, writable or set-id modes, and without link', { skip: !isRoot && 'needs root to chown' }, async (t) => {
  const { home, file } = setup(t);
  const cases: Array<[string, string, number, (p: string) => void]> = [
    ['other-owner', 'a', 0o644, (p) => chownSync(p, 65534, 65534)],
    ['group-writable', 'b', 0o664, () => {}],
    ['setuid', 'c', 0o4755, () => {}],
    ['private', 'd', 0o600, () => {}],
  ];
  for (const [name, content, mode, prep] of cases) {
    const src = file(name, content, mode);
    prep(src);
    const r = await new BlobWriter(home).putFile(src, (mode & 0o111) !== 0, undefined, { link: true });
    assert.equal(r.linked, undefined, name);
    assert.notEqual(statSync(r.path).ino, statSync(src).ino, `${name}: copied`);
    assert.equal(statSync(r.path).mode & 0o7777, (mode & 0o111) !== 0 ? 0o555 : 0o444, `${name}: a copy is read-only`);
    assert.equal(await readHostLink(home, r.path), undefined);
  }
  const plain = file('plain', 'e');
  const r = await new BlobWriter(home).putFile(plain, false);
  assert.notEqual(statSync(r.path).ino, statSync(plain).ino, 'without link: a copy, as before');
  assert.deepEqual((await verifyStore(home)).problems, []);
});

test('a store on another filesystem (tmpfs REG_HOME) copies: EXDEV is the fallback, not an error', { skip: !isRoot && 'needs root to mount a tmpfs' }, async (t) => {
  const { file } = setup(t);
  const dir = mkdtempSync(join(tmpdir(), 'reg-links-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
  t.after(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const home = regHome(join(dir, 'reg'));
  const src = file('lib.so', 'bytes on another filesystem\n');
  const report = await commitRet(home, 'other', { 'usr/lib/lib.so': src });
  assert.equal(report.linkedFiles, 0);
  const r = await new BlobWriter(home).putFile(file('other.so', 'not stored yet\n'), false, undefined, { link: true });
  assert.equal(r.linked, undefined);
  assert.ok(r.created);
  assert.notEqual(statSync(r.path).dev, statSync(src).dev);
  assert.ok(!existsSync(linksDir(home)), 'no link records');
  assert.deepEqual((await verifyStore(home)).problems, []);
});

test('a host file replaced by rename (an upgrade) is not a corruption: the store keeps the old inode, verify notes it', { skip: !isRoot && 'needs root' }, async (t) => {
  const { home, host, file } = setup(t);
  if (!sameFs(tmpdir(), home.root)) return t.skip('the temp dir and REG_HOME are on different filesystems');
  const src = file('libfoo.so.1', 'version 1\n');
  const report = await commitRet(home, 'foo', { 'usr/lib/libfoo.so.1': src });
  assert.equal(report.linkedFiles, 1);
  assert.equal(report.newBytes, 0, 'a linked blob takes no new disk space');
  // What dpkg does: write the new version beside it, rename it over the old path.
  writeFileSync(join(host, 'libfoo.so.1.dpkg-new'), 'version 2\n', { mode: 0o644 });
  renameSync(join(host, 'libfoo.so.1.dpkg-new'), src);
  const v = await verifyStore(home);
  assert.deepEqual(v.problems, []);
  assert.deepEqual(v.notes.map((n) => [n.kind, n.hostPath, n.referencedBy.map((r) => r.ret)]), [['host-replaced', src, ['foo@1']]]);
  const layerFile = join(home.layers, readdirSync(home.layers).find((n) => n.startsWith('foo@1-'))!, 'usr/lib/libfoo.so.1');
  assert.equal(readFileSync(layerFile, 'utf8'), 'version 1\n', 'containers keep the version the RET was built from, whole');
  rmSync(src);
  assert.deepEqual((await verifyStore(home)).notes.map((n) => n.kind), ['host-removed']);
});

test('an in-place write to a linked host file is named by verify: blob, host path, RETs, what to do', { skip: !isRoot && 'needs root' }, async (t) => {
  const { home, file } = setup(t);
  if (!sameFs(tmpdir(), home.root)) return t.skip('the temp dir and REG_HOME are on different filesystems');
  const src = file('libbar.so.1', 'original bytes\n');
  await commitRet(home, 'bar', { 'usr/lib/libbar.so.1': src });
  await commitRet(home, 'baz', { 'usr/lib/libbar.so.1': src });
  writeFileSync(src, 'written in place\n'); // O_TRUNC on the same inode: what `cp` over a file does
  const v = await verifyStore(home);
  assert.equal(v.problems.length, 1, JSON.stringify(v.problems));
  const p = v.problems[0]!;
  assert.equal(p.kind, 'host-written');
  assert.equal(p.digest, hashBuffer('original bytes\n'));
  assert.equal(p.actual, hashBuffer('written in place\n'));
  assert.equal(p.hostPath, src);
  assert.deepEqual(p.referencedBy.map((r) => `${r.ret} ${r.path}`).sort(), ['bar@1 /usr/lib/libbar.so.1', 'baz@1 /usr/lib/libbar.so.1']);
  assert.match(p.hint!, /written in place.*bar@1, baz@1.*rebuild/);
  // The CLI prints the same, and exits 1.
  const bin = new URL('../../bin/reg.js', import.meta.url).pathname;
  const cli = spawnSync(process.execPath, [bin, 'store', 'verify'], { env: { ...process.env, REG_HOME: home.root }, encoding: 'utf8' });
  assert.equal(cli.status, 1, cli.stderr);
  assert.match(cli.stdout, /HOST-WRITTEN sha256:/);
  assert.ok(cli.stdout.includes(`host file (same inode): ${src}`), cli.stdout);
});

test('gc removes a linked blob with its record, and a failed build takes its records back', { skip: !isRoot && 'needs root' }, async (t) => {
  const { home, file } = setup(t);
  if (!sameFs(tmpdir(), home.root)) return t.skip('the temp dir and REG_HOME are on different filesystems');
  const src = file('lone', 'nobody refers to me\n');
  const w = new BlobWriter(home);
  const r = await w.putFile(src, false, undefined, { link: true });
  assert.ok(existsSync(linkRecordPath(home, r.path)));
  await w.rollback();
  assert.ok(!existsSync(r.path) && !existsSync(linkRecordPath(home, r.path)) && !existsSync(linksDir(home)), 'rolled back: blob, record and their dirs');
  assert.ok(existsSync(src), 'the host file is untouched');
  const again = await new BlobWriter(home).putFile(src, false, undefined, { link: true });
  const gc = await gcStore(home, { graceMs: 0 });
  assert.equal(gc.removedBlobs, 1);
  assert.equal(gc.freedBytes, 0, 'the host still holds the inode: no space comes back');
  assert.ok(!existsSync(again.path) && !existsSync(linkRecordPath(home, again.path)));
  assert.equal(readFileSync(src, 'utf8'), 'nobody refers to me\n');
  // A record left by a crash between the record and the rename goes too.
  mkdirSync(join(linksDir(home), 'ab'), { recursive: true });
  writeFileSync(join(linksDir(home), 'ab', `${'c'.repeat(62)}.json`), '{}');
  await gcStore(home, { graceMs: 0 });
  assert.ok(!existsSync(join(linksDir(home), 'ab', `${'c'.repeat(62)}.json`)));
});

test('a store of copies is re-linked by the next build: blob and layer trees become host inodes; trees a container uses are left alone', { skip: !isRoot && 'needs root' }, async (t) => {
  const { home, file } = setup(t);
  if (!sameFs(tmpdir(), home.root)) return t.skip('the temp dir and REG_HOME are on different filesystems');
  const src = file('libold.so.1', 'built before linking\n');
  await commitRet(home, 'a', { 'usr/lib/libold.so.1': src }, false);
  await commitRet(home, 'b', { 'usr/lib/libold.so.1': src }, false);
  await commitRet(home, 'c', { 'usr/lib/libold.so.1': src }, false);
  const layerFile = (name: string) => join(home.layers, readdirSync(home.layers).find((n) => n.startsWith(`${name}@1-`))!, 'usr/lib/libold.so.1');
  const prefix = readdirSync(home.blobs)[0]!;
  const blob = join(home.blobs, prefix, readdirSync(join(home.blobs, prefix))[0]!);
  const copyIno = statSync(blob).ino;
  assert.notEqual(copyIno, statSync(src).ino);
  // A container uses c's tree (its state names the layer, as a started container's does).
  mkdirSync(join(home.containers, 'c0ffee'), { recursive: true });
  writeFileSync(join(home.containers, 'c0ffee', 'state.json'), JSON.stringify({ lowerdirs: [dirname(dirname(dirname(layerFile('c'))))] }));
  const lines: string[] = [];
  const report = await commitDrafts(home, [{ ret: { name: 'a', version: '1', kind: 'data' }, entries: new Map([['usr/lib/libold.so.1', { kind: 'file', hostPath: src, mode: 0o644, size: statSync(src).size, mtime: Math.floor(statSync(src).mtimeMs / 1000) }]]) }], { runtime: { name: 'a', version: '1' }, log: (l) => lines.push(l), link: () => true });
  assert.equal(report.linkedFiles, 1);
  assert.equal(report.rets[0]!.status, 'unchanged', 'the same content: the RET is unchanged, only its storage');
  assert.equal(statSync(blob).ino, statSync(src).ino, 'the blob is now the host inode');
  assert.equal(statSync(layerFile('a')).ino, statSync(src).ino, "a's tree re-linked");
  assert.equal(statSync(layerFile('b')).ino, statSync(src).ino, "b's tree too: it names the same blob");
  assert.equal(statSync(layerFile('c')).ino, copyIno, "c's tree, in use, keeps the copy");
  assert.ok(lines.some((l) => /1 layer trees in use/.test(l)), lines.join('\n'));
  const v = await verifyStore(home);
  assert.deepEqual(v.problems, []);
  assert.deepEqual(v.layerProblems.map((p) => `${p.kind} ${p.path}`), ['not-linked usr/lib/libold.so.1'], 'verify says which tree still holds the copy');
  assert.ok(v.layerProblems[0]!.layer.includes('/c@1-'));
  assert.ok(!readdirSync(dirname(layerFile('a'))).some((n) => n.startsWith('.reg-relink-')), 'no temp names left');
});
