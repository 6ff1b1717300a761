// Bad input and edge cases against real registries (docker-registry on 127.0.0.1, one anonymous,
// one behind htpasswd basic auth), with small hand-made RETs: credentials, cross-repository
// mounts, one content needed as executable and not, a foreign manifest, a lock escaping the tree,
// a dependency cycle, a missing requirement, an unreachable registry, and resuming a failed pull.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { main } from '../cli/main.js';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { findRet, saveRet } from '../ret/repository.js';
import { modeToString, type LockedRet } from '../ret/schema.js';
import { blobPath } from '../store/blob-path.js';
import { BlobWriter } from '../store/put.js';
import { verifyStore } from '../store/verify.js';
import { freePort, registryUnavailable, startTestRegistry, type TestRegistry } from '../test-support/docker-registry.js';
import { snapshot, tempHome } from '../test-support/temp-home.js';
import { RET_ARTIFACT_TYPE, RET_CONFIG_MEDIA_TYPE, RET_FILE_MEDIA_TYPE } from './artifact.js';
import { DOCKER_MANIFEST, OCI_MANIFEST, RegistryClient } from './client.js';
import { pullRet } from './pull.js';
import { pushRet } from './push.js';
import { parseRegistryTarget } from './reference.js';

const unavailable = registryUnavailable({ auth: true });
const PASSWORD = 'S3cret-Pass-9';
const WRONG = 'wrong-Pass-1';
let open: TestRegistry | undefined;
let locked: TestRegistry | undefined;
const homes: Array<{ cleanup: () => void }> = [];

function freshHome() {
  const h = tempHome('reg-err-');
  homes.push(h);
  return h;
}

before(async () => {
  if (unavailable) return;
  open = await startTestRegistry();
  locked = await startTestRegistry({ users: { teacher: PASSWORD } });
});

after(async () => {
  await open?.stop();
  await locked?.stop();
  for (const h of homes) h.cleanup();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A small locked RET from in-memory files, stored like a build would. */
async function makeRet(home: RegHome, name: string, version: string, files: Array<{ path: string; content: string; mode?: number }>, requires: string[] = []): Promise<LockedRet> {
  const w = new BlobWriter(home);
  const lock: LockedRet['lock']['files'] = [];
  for (const f of files) {
    const mode = f.mode ?? 0o644;
    const r = await w.putBuffer(f.content, (mode & 0o111) !== 0);
    lock.push({ path: f.path, digest: r.digest, size: r.size, mode: modeToString(mode) });
  }
  const ret = { apiVersion: 'reg/v1', name, version, kind: 'runtime', ...(requires.length && { requires }), lock: { files: lock } } as LockedRet;
  await saveRet(home, ret);
  return ret;
}

/** Pushes a hand-written YAML and blobs as a RET artifact, bypassing every check of push. */
async function pushRaw(reg: TestRegistry, repo: string, tag: string, yaml: string, blobs: Buffer[], manifest?: (config: { digest: string; size: number }) => { mediaType: string; body: object }) {
  const client = await RegistryClient.open(parseRegistryTarget(`${reg.host}/campus`), { credentials: null });
  const config = Buffer.from(yaml);
  for (const b of [config, ...blobs]) await client.uploadBlob(repo, sha(b), b.length, async (o, l) => b.subarray(o, o + l), { chunkSize: 1 << 20, what: 'test' });
  const m = manifest?.({ digest: sha(config), size: config.length }) ?? {
    mediaType: OCI_MANIFEST,
    body: {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: RET_ARTIFACT_TYPE,
      config: { mediaType: RET_CONFIG_MEDIA_TYPE, digest: sha(config), size: config.length },
      layers: blobs.map((b) => ({ mediaType: RET_FILE_MEDIA_TYPE, digest: sha(b), size: b.length })),
    },
  };
  await client.putManifest(repo, tag, Buffer.from(JSON.stringify(m.body)), m.mediaType, 'test');
}

function retYaml(name: string, version: string, files: Array<{ path: string; content: Buffer }>, requires: string[] = []): string {
  const req = requires.length ? `requires:\n${requires.map((r) => `  - "${r}"`).join('\n')}\n` : '';
  const lock = files.map((f) => `    - {path: "${f.path}", digest: "${sha(f.content)}", size: ${f.content.length}, mode: "0644"}`).join('\n');
  return `apiVersion: reg/v1\nname: ${name}\nversion: "${version}"\n${req}lock:\n  files:\n${lock}\n`;
}

async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stderr.write;
  console.log = console.error = (...a: unknown[]) => void out.push(a.join(' '));
  process.stderr.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await fn(), out: out.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
    process.stderr.write = write;
  }
}

function withEnv(t: { after: (fn: () => void) => void }, name: string, value: string | undefined) {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  t.after(() => (saved === undefined ? delete process.env[name] : (process.env[name] = saved)));
}

test('basic auth: missing and wrong credentials are REGISTRY_AUTH naming the registry, never the password', { skip: unavailable }, async (t) => {
  const src = freshHome();
  await makeRet(src, 'hello', '1.0', [{ path: 'hello.txt', content: 'hi\n' }]);
  const target = `${locked!.host}/campus`;
  withEnv(t, 'XDG_CONFIG_HOME', `${src.root}/no-config`);
  withEnv(t, 'REG_REGISTRY_AUTH', undefined);
  await assert.rejects(pushRet(src, 'hello', target), (e: RegError) => e.code === 'REGISTRY_AUTH' && e.message.includes(locked!.host) && /requires credentials/.test(e.message));

  process.env.REG_REGISTRY_AUTH = `${locked!.host}=teacher:${WRONG}`;
  await assert.rejects(pushRet(src, 'hello', target), (e: RegError) => {
    assert.equal(e.code, 'REGISTRY_AUTH');
    assert.ok(e.message.includes(locked!.host) && e.message.includes('$REG_REGISTRY_AUTH'), e.message);
    assert.ok(!`${e.message} ${e.hint}`.includes(WRONG));
    return true;
  });
  const cli = await captured(() => main(['--home', src.root, 'push', 'hello', target]));
  assert.equal(cli.code, 1);
  assert.match(cli.out, /REGISTRY_AUTH/);
  assert.ok(!cli.out.includes(WRONG), cli.out);

  process.env.REG_REGISTRY_AUTH = `${locked!.host}=teacher:${PASSWORD}`;
  const ok = await captured(() => main(['--home', src.root, 'push', 'hello', target]));
  assert.equal(ok.code, 0, ok.out);
  assert.ok(!ok.out.includes(PASSWORD));
  const dst = freshHome();
  const pulled = await captured(() => main(['--home', dst.root, 'pull', 'hello@1', '--from', target]));
  assert.equal(pulled.code, 0, pulled.out);
  assert.ok(!pulled.out.includes(PASSWORD));
  assert.equal((await findRet(dst, 'hello')).version, '1.0');
});

test('a blob pushed for one RET is mounted, not uploaded, into the next', { skip: unavailable }, async () => {
  const src = freshHome();
  await makeRet(src, 'mount-b', '1', [{ path: 'share/common.txt', content: 'shared content\n' }]);
  await makeRet(src, 'mount-a', '1', [{ path: 'share/common.txt', content: 'shared content\n' }, { path: 'a.txt', content: 'a\n' }], ['mount-b@1']);
  const r = await pushRet(src, 'mount-a', `${open!.host}/campus`);
  assert.deepEqual(r.rets.map((x) => x.name), ['mount-b', 'mount-a']);
  // Both RETs go up concurrently: whichever gets the shared blob first uploads it, the other mounts.
  assert.equal(r.blobsMounted, 1, JSON.stringify(r.rets));
  assert.equal(r.blobsUploaded, 4, 'two YAMLs, a.txt and the shared file once');
  const dst = freshHome();
  const p = await pullRet(dst, 'mount-a', { registry: `${open!.host}/campus` });
  assert.equal(p.blobsFetched, 2, 'the shared blob is fetched once');
});

test('one content needed as an executable and as a plain file is fetched once, stored as both', { skip: unavailable }, async () => {
  const src = freshHome();
  await makeRet(src, 'modes', '1', [
    { path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
    { path: 'usr/share/doc/tool.sh', content: '#!/bin/sh\necho tool\n', mode: 0o644 },
  ]);
  await pushRet(src, 'modes', `${open!.host}/campus`);
  const dst = freshHome();
  const r = await pullRet(dst, 'modes', { registry: `${open!.host}/campus` });
  assert.equal(r.blobsFetched, 1);
  assert.equal(r.blobsCopied, 1);
  const digest = sha(Buffer.from('#!/bin/sh\necho tool\n'));
  assert.ok(existsSync(blobPath(dst.blobs, digest, true)) && existsSync(blobPath(dst.blobs, digest, false)));
  assert.deepEqual((await verifyStore(dst)).problems, []);
});

test('a manifest of the wrong media type is REGISTRY_PROTOCOL naming registry and RET', { skip: unavailable }, async () => {
  await pushRaw(open!, 'campus/imagey', '1.0', '{}', [], (config) => ({
    mediaType: DOCKER_MANIFEST,
    body: { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...config }, layers: [] },
  }));
  await pushRaw(open!, 'campus/ociimage', '1.0', '{}', [], (config) => ({
    mediaType: OCI_MANIFEST,
    body: { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] },
  }));
  const dst = freshHome();
  await makeRet(dst, 'keep', '1', [{ path: 'k', content: 'k' }]);
  const before = snapshot(dst.root);
  await assert.rejects(pullRet(dst, 'imagey@1.0', { registry: `${open!.host}/campus` }), (e: RegError) => {
    assert.equal(e.code, 'REGISTRY_PROTOCOL');
    assert.ok(e.message.includes(open!.host) && e.message.includes('imagey@1.0') && /Docker image manifest/.test(e.message), e.message);
    return true;
  });
  await assert.rejects(pullRet(dst, 'ociimage@1.0', { registry: `${open!.host}/campus` }), (e: RegError) => e.code === 'REGISTRY_PROTOCOL' && /artifact type is application\/vnd\.oci\.image\.config/.test(e.message));
  assert.deepEqual(snapshot(dst.root), before);
});

test('a RET whose lock escapes the tree is PATH_ESCAPES, and nothing is stored', { skip: unavailable }, async () => {
  const content = Buffer.from('root:x:0:0:pwned:/root:/bin/sh\n');
  await pushRaw(open!, 'campus/evil', '1.0', retYaml('evil', '1.0', [{ path: '../../etc/passwd', content }]), [content]);
  const dst = freshHome();
  await makeRet(dst, 'keep', '1', [{ path: 'k', content: 'k' }]);
  const before = snapshot(dst.root);
  await assert.rejects(pullRet(dst, 'evil', { registry: `${open!.host}/campus` }), (e: RegError) => {
    assert.equal(e.code, 'PATH_ESCAPES');
    assert.ok(e.message.includes('evil@1.0') && e.message.includes(open!.host) && e.message.includes('../../etc/passwd'), e.message);
    return true;
  });
  assert.deepEqual(snapshot(dst.root), before);
});

test('RETs requiring each other are DEPENDENCY_CYCLE, and nothing is stored', { skip: unavailable }, async () => {
  const a = Buffer.from('a');
  const b = Buffer.from('b');
  await pushRaw(open!, 'campus/cyc-a', '1', retYaml('cyc-a', '1', [{ path: 'a', content: a }], ['cyc-b@1']), [a]);
  await pushRaw(open!, 'campus/cyc-b', '1', retYaml('cyc-b', '1', [{ path: 'b', content: b }], ['cyc-a@1']), [b]);
  const dst = freshHome();
  await makeRet(dst, 'keep', '1', [{ path: 'k', content: 'k' }]);
  const before = snapshot(dst.root);
  await assert.rejects(pullRet(dst, 'cyc-a', { registry: `${open!.host}/campus` }), (e: RegError) => {
    assert.equal(e.code, 'DEPENDENCY_CYCLE');
    assert.ok(e.message.includes('cyc-a@1 → cyc-b@1 → cyc-a@1') && e.message.includes(open!.host), e.message);
    return true;
  });
  assert.deepEqual(snapshot(dst.root), before);
});

test('a requirement the registry lacks is REGISTRY_NOT_FOUND naming who required it', { skip: unavailable }, async () => {
  const o = Buffer.from('o');
  await pushRaw(open!, 'campus/orphan', '2', retYaml('orphan', '2', [{ path: 'o', content: o }], ['ghost@1']), [o]);
  const dst = freshHome();
  await assert.rejects(pullRet(dst, 'orphan', { registry: `${open!.host}/campus` }), (e: RegError) => e.code === 'REGISTRY_NOT_FOUND' && /ghost@1 \(required by orphan@2\)/.test(e.message));
  await assert.rejects(pullRet(dst, 'nothing-here@3', { registry: `${open!.host}/campus` }), (e: RegError) => e.code === 'REGISTRY_NOT_FOUND' && e.message.includes('nothing-here@3'));
  assert.deepEqual([...snapshot(dst.root).keys()], [], 'an empty store stays empty');
});

test('an unreachable registry is REGISTRY_UNREACHABLE naming it', { skip: unavailable }, async () => {
  const port = await freePort();
  const dst = freshHome();
  await assert.rejects(pullRet(dst, 'python@3.11', { registry: `127.0.0.1:${port}/campus` }), (e: RegError) => e.code === 'REGISTRY_UNREACHABLE' && e.message.includes(`127.0.0.1:${port}`));
  const cli = await captured(() => main(['--home', dst.root, 'search', `127.0.0.1:${port}/campus`]));
  assert.equal(cli.code, 1);
  assert.match(cli.out, /REGISTRY_UNREACHABLE.*127\.0\.0\.1/);
});

test('a failed pull rolls back by default; --keep-partial keeps verified blobs so a retry resumes', { skip: unavailable }, async (t) => {
  const src = freshHome();
  const ret = await makeRet(src, 'two', '1', [{ path: 'good', content: 'good content\n' }, { path: 'bad', content: 'soon to be corrupt\n' }]);
  const target = `${open!.host}/campus`;
  await pushRet(src, 'two', target);
  const bad = ret.lock.files.find((e) => e.path === 'bad')!;
  const good = ret.lock.files.find((e) => e.path === 'good')!;
  const data = open!.blobData(bad.digest!);
  const original = readFileSync(data);
  writeFileSync(data, Buffer.from('SOON TO BE CORRUPT\n'));
  t.after(() => writeFileSync(data, original));

  const dst = freshHome();
  await assert.rejects(pullRet(dst, 'two', { registry: target }), (e: RegError) => e.code === 'DIGEST_MISMATCH' && e.message.includes(bad.digest!) && e.message.includes('two@1'));
  assert.deepEqual([...snapshot(dst.root).keys()], [], 'rolled back to the empty store');

  await assert.rejects(pullRet(dst, 'two', { registry: target, keepPartial: true }), (e: RegError) => e.code === 'DIGEST_MISMATCH');
  assert.ok(existsSync(blobPath(dst.blobs, good.digest!, false)), 'the verified blob is kept');
  assert.ok(!existsSync(blobPath(dst.blobs, bad.digest!, false)), 'the corrupt one never entered the store');
  await assert.rejects(findRet(dst, 'two'), (e: RegError) => e.code === 'RET_NOT_FOUND');

  writeFileSync(data, original);
  const r = await pullRet(dst, 'two', { registry: target });
  assert.equal(r.blobsFetched, 1, 'only the missing blob travels');
  assert.equal((await findRet(dst, 'two')).version, '1');
});
