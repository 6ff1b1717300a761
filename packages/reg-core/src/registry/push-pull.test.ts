// Integration: python and node RETs built from this host, pushed to a real registry (Debian's
// docker-registry on 127.0.0.1) and pulled into other stores: the pulled python runs under chroot,
// a second pull moves only manifests, a second push uploads nothing, node shares libc & co with
// python on the wire, and a corrupt blob in the registry is refused with the store untouched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../cli/main.js';
import { RegError } from '../errors.js';
import { exportTree } from '../resolve/materialise.js';
import { resolveGraph } from '../resolve/resolve.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { findRet, loadRet } from '../ret/repository.js';
import { modeToNumber } from '../ret/schema.js';
import { verifyStore } from '../store/verify.js';
import { registryUnavailable, startTestRegistry, type TestRegistry } from '../test-support/docker-registry.js';
import { snapshot, tempHome } from '../test-support/temp-home.js';
import { ensureRet } from './ensure.js';
import { pullRet } from './pull.js';
import { pushRet } from './push.js';
import { searchRegistry } from './search.js';

const unavailable = registryUnavailable();
const isRoot = process.getuid?.() === 0;
const src = tempHome('reg-src-');
const homes: Array<{ cleanup: () => void }> = [src];
let reg: TestRegistry | undefined;
let target = '';

function freshHome() {
  const h = tempHome('reg-dst-');
  homes.push(h);
  return h;
}

before(async () => {
  if (unavailable) return;
  await buildFromHost(src, '/usr/bin/python3.11');
  await buildFromHost(src, '/usr/bin/node');
  reg = await startTestRegistry();
  target = `${reg.host}/campus`;
});

after(async () => {
  await reg?.stop();
  for (const h of homes) h.cleanup();
});

async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await fn(), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('push python and node: every RET of both closures, shared ones once', { skip: unavailable }, async () => {
  const py = await pushRet(src, 'python@3.11', target, { chunkSize: 1 << 20 }); // big files go up in chunks
  assert.ok(py.rets.length > 10 && py.rets.every((r) => r.status === 'pushed'));
  assert.equal(py.rets.at(-1)!.name, 'python', 'requirements go up before the RET that needs them');
  assert.ok(py.blobsUploaded > 1000);
  const node = await pushRet(src, 'node', target);
  const libc = node.rets.find((r) => r.name === 'libc')!;
  assert.equal(libc.status, 'up-to-date', 'libc was pushed with python');
  assert.equal(libc.blobsUploaded, 0);
  assert.ok(node.rets.find((r) => r.name === 'libstdc++')?.repository.endsWith('/libstdc__p__p'));

  const found = await searchRegistry(src, target);
  const names = found.rets.map((r) => r.name);
  for (const n of ['python', 'node', 'libc', 'libstdc++', 'ca-certificates']) assert.ok(names.includes(n), `${n} in ${names}`);
  const ca = found.rets.find((r) => r.name === 'ca-certificates')!;
  assert.deepEqual(ca.versions, [(await findRet(src, 'ca-certificates')).version], 'a version with "+" survives the tag mapping');
  const cli = await captured(() => main(['--home', src.root, 'ret', 'ls', '--remote', target]));
  assert.equal(cli.code, 0);
  assert.match(cli.out, /libstdc\+\+\s+6/);
});

test('pull python into an empty store and run it under chroot', { skip: unavailable }, async (t) => {
  const dst = freshHome();
  const r = await pullRet(dst, 'python@3.11', { registry: target });
  const local = await resolveGraph(src, 'python@3.11');
  assert.equal(r.rets.length, local.rets.length);
  assert.ok(r.rets.every((x) => x.status === 'pulled'));
  assert.equal((await verifyStore(dst)).problems.length, 0, 'every pulled blob hashes to its name, with the right mode');
  // Modes come from the lock: python itself is an executable blob.
  const py = await loadRet(dst, 'python', (await findRet(dst, 'python@3.11')).version);
  const bin = py.lock.files.find((e) => e.path === 'usr/bin/python3.11')!;
  assert.equal(modeToNumber(bin.mode, 0) & 0o111, 0o111);
  if (!isRoot) return t.skip('needs root for chroot');
  const dir = join(dst.root, 'export');
  await exportTree(dst, 'python@3.11', dir);
  const out = execFileSync('chroot', [dir, '/usr/bin/python3', '-c', 'import ssl, json; print(42)'], { encoding: 'utf8' });
  // Pulled blobs carry the mtimes their lock records: python keeps trusting its .pyc files.
  assert.equal(Math.floor(statSync(join(dir, 'usr/lib/python3.11/os.py')).mtimeMs / 1000), Math.floor(statSync('/usr/lib/python3.11/os.py').mtimeMs / 1000));
  assert.equal(out.trim(), '42');
  rmSync(dir, { recursive: true, force: true });
});

test('pulling again moves only manifests; pushing again uploads nothing', { skip: unavailable }, async () => {
  const dst = freshHome();
  await pullRet(dst, 'python@3.11', { registry: target });
  const before = snapshot(dst.root);
  const again = await pullRet(dst, 'python@3.11', { registry: target });
  assert.equal(again.requests.byKind.blob, 0, `no blob requests: ${JSON.stringify(again.requests.byKind)}`);
  assert.equal(again.blobsFetched, 0);
  assert.ok(again.requests.byKind.manifest >= again.rets.length);
  assert.ok(again.rets.every((x) => x.status === 'up-to-date'));
  assert.deepEqual(snapshot(dst.root), before);

  const push = await pushRet(src, 'python@3.11', target);
  assert.equal(push.blobsUploaded, 0);
  assert.equal(push.requests.byKind.upload, 0, `no uploads: ${JSON.stringify(push.requests.byKind)}`);
  assert.equal(push.requests.byKind.blob, 0, 'not even blob HEADs: the manifests are identical');
  assert.ok(push.rets.every((x) => x.status === 'up-to-date'));
});

test('pulling node into a store holding python fetches only what python lacks', { skip: unavailable }, async () => {
  const dst = freshHome();
  await pullRet(dst, 'python@3.11', { registry: target });
  const r = await pullRet(dst, 'node', { registry: target });
  const closure = await resolveGraph(src, 'node');
  const closureBytes = closure.rets.reduce((n, m) => n + m.bytes, 0);
  assert.ok(r.bytesFetched > 0 && r.bytesFetched < closureBytes, `${r.bytesFetched} < ${closureBytes}`);
  const libc = r.rets.find((x) => x.name === 'libc')!;
  assert.equal(libc.status, 'up-to-date');
  assert.equal(libc.bytesFetched, 0);
  assert.equal((await verifyStore(dst)).problems.length, 0);
});

test('ensureRet pulls a missing closure from $REG_REGISTRY and returns the local RET', { skip: unavailable }, async (t) => {
  const dst = freshHome();
  const saved = process.env.REG_REGISTRY;
  process.env.REG_REGISTRY = target;
  t.after(() => (saved === undefined ? delete process.env.REG_REGISTRY : (process.env.REG_REGISTRY = saved)));
  const pulls: number[] = [];
  const ret = await ensureRet(dst, 'python@3.11', { onPull: (r) => pulls.push(r.rets.length) });
  assert.equal(ret.name, 'python');
  assert.equal(pulls.length, 1);
  await ensureRet(dst, 'python@3.11', { onPull: (r) => pulls.push(r.rets.length) });
  assert.equal(pulls.length, 1, 'present: no registry traffic');
  delete process.env.REG_REGISTRY;
  await assert.rejects(ensureRet(freshHome(), 'python@3.11', { registry: undefined }), (e: RegError) => e.code === 'RET_NOT_FOUND' && /registr/.test(e.hint ?? ''));
});

test('the CLI pulls with plain progress lines off a TTY', { skip: unavailable }, async () => {
  const dst = freshHome();
  const r = await captured(() => main(['--home', dst.root, 'pull', 'libc@6', '--from', target]));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /pulled libc@6 from .*campus: \d+ RETs/);
  const again = await captured(() => main(['--home', dst.root, 'pull', 'libc@6', '--from', target]));
  assert.match(again.out, /0 new, \d+ up to date.*0 blobs fetched/);
});

test('a corrupt blob in the registry is refused, naming blob, RET and registry; the store is unchanged', { skip: unavailable }, async (t) => {
  const dst = freshHome();
  await pullRet(dst, 'libc@6', { registry: target }); // a store that already holds something
  const py = await loadRet(src, 'python', (await findRet(src, 'python@3.11')).version);
  const victim = py.lock.files.find((e) => e.path === 'usr/bin/python3.11')!;
  const data = reg!.blobData(victim.digest!);
  const original = readFileSync(data);
  const corrupt = Buffer.from(original);
  const mid = corrupt.length >> 1;
  corrupt[mid] = corrupt[mid]! ^ 0xff; // same size, different bytes
  writeFileSync(data, corrupt);
  t.after(() => writeFileSync(data, original));
  const before = snapshot(dst.root);
  await assert.rejects(pullRet(dst, 'python@3.11', { registry: target }), (e: RegError) => {
    assert.equal(e.code, 'DIGEST_MISMATCH');
    assert.ok(e.message.includes(victim.digest!), e.message);
    assert.ok(e.message.includes(`python@${py.version}`), e.message);
    assert.ok(e.message.includes(reg!.host), e.message);
    return true;
  });
  assert.deepEqual(snapshot(dst.root), before, 'the store is exactly as before the pull');
});
