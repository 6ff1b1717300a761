// Disk quotas for real: loop-mounted ext4 volumes written until ENOSPC, from the host and from
// inside containers (writable layer, /work, a student's workspace). Needs root (loop mounts).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync, mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Engine } from '../container/engine.js';
import { containerPaths, writablePaths } from '../container/state.js';
import { isRegError } from '../errors.js';
import { probePath } from '@reg/native';
import { addRet } from '../ret/add.js';
import type { SpawnLauncher } from '../launch/launcher.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { Workspaces } from '../workspace/workspaces.js';
import { createVolume, destroyVolume, imageBytes, isMounted, mountVolume, unmountVolume, volumeUsage } from './volume.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: loop mounts, namespaces and cgroups';
const home = tempHome('reg-quota-');
const MiB = 1024 * 1024;
let engine: Engine;

const loopsOf = (image: string) => execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim();

function capture(): { spawn: SpawnLauncher; output: () => string } {
  let out = '';
  return {
    output: () => out,
    spawn: (file, args) => {
      const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { pid: c.pid!, exited: new Promise((r) => c.on('close', (code, signal) => r({ code, signal }))) };
    },
  };
}

/** Python that writes 1 MiB chunks (or creates files) until the kernel refuses, and says why. */
const FILL_BYTES = `
import os, errno
n = 0
try:
    with open('big', 'wb') as f:
        while True:
            f.write(b'x' * 1048576); f.flush(); os.fsync(f.fileno()); n += 1048576
except OSError as e:
    print('bytes', n, errno.errorcode[e.errno])
`;
const FILL_FILES = `
import os, errno
n = 0
try:
    os.mkdir('many')
    while True:
        open(f'many/{n}', 'w').close(); n += 1
except OSError as e:
    print('files', n, errno.errorcode[e.errno])
`;

async function py(code: string, opts: Record<string, unknown>) {
  const c = capture();
  const r = await engine.run({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', code], spawn: c.spawn, ...opts });
  return { ...r, output: c.output().trim() };
}

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
  // A "tool" RET to insert into a running container.
  const root = join(home.root, 'tool-root');
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  copyFileSync(probePath, join(root, 'usr/local/bin/reg-tool'));
  writeFileSync(join(home.root, 'tool.yaml'), 'name: tool\nversion: "1"\nfiles:\n  bin: /usr/local/bin/reg-tool\nrequires: [rootfs@1]\n');
  await addRet(home, join(home.root, 'tool.yaml'), { root });
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.releaseSpareVolumes();
  await engine?.disposeCgroupParent();
  home.cleanup();
});

test('a volume holds at least its quota and refuses more with ENOSPC; destroy leaves no mount or loop device', { skip }, async () => {
  const image = join(home.root, 'v.img');
  const mnt = join(home.root, 'v');
  await createVolume(image, { bytes: 8 * MiB, inodes: 200 }, { journal: true });
  assert.ok(statSync(image).blocks * 512 < 8 * MiB, 'the image is sparse');
  await mountVolume(image, mnt);
  await mountVolume(image, mnt); // idempotent
  assert.equal(execFileSync('findmnt', ['-n', '-o', 'TARGET', mnt], { encoding: 'utf8' }).trim().split('\n').length, 1, 'mounted once');
  let written = 0;
  const fd = openSync(join(mnt, 'f'), 'w');
  const chunk = Buffer.alloc(MiB, 1);
  assert.throws(() => {
    for (;;) written += writeSync(fd, chunk);
  }, /ENOSPC/);
  closeSync(fd);
  assert.ok(written >= 8 * MiB, `at least the quota fits (${written})`);
  assert.ok(written < 12 * MiB, `not much more than the quota (${written})`);
  let files = 0;
  mkdirSync(join(mnt, 'd'));
  assert.throws(() => {
    for (;;) writeFileSync(join(mnt, 'd', String(files++)), '');
  }, /ENOSPC/);
  assert.ok(files >= 200 && files < 400, `the inode quota holds (${files})`);
  const u = await volumeUsage(mnt);
  assert.ok(u.bytes >= 8 * MiB && u.inodes >= 200);
  await destroyVolume(image, mnt);
  await unmountVolume(mnt); // idempotent
  assert.equal(await isMounted(mnt), false);
  assert.ok(!existsSync(image));
  assert.equal(loopsOf(image), '', 'no loop device left');
});

test("a persistent container's /work and writable layer (a loop volume) stop at the disk quota with ENOSPC; the next container runs", { skip }, async () => {
  const bytes = await py(FILL_BYTES, { disk: { bytes: 24 * MiB, inodes: 1000 }, writable: 'persistent', rm: true });
  assert.equal(bytes.outcome.outcome, 'exited', bytes.output);
  const [, n, err] = bytes.output.split(' ');
  assert.match(err!, /ENOSPC|EDQUOT/);
  assert.ok(Number(n) >= 24 * MiB && Number(n) < 32 * MiB, bytes.output);
  const files = await py(FILL_FILES, { disk: { bytes: 64 * MiB, inodes: 500 }, writable: 'persistent', rm: true });
  const [, count, ferr] = files.output.split(' ');
  assert.match(ferr!, /ENOSPC|EDQUOT/);
  assert.ok(Number(count) >= 490 && Number(count) < 1000, files.output);
  // The container's own image is gone with it (rm), and nothing is left mounted.
  const s = bytes.state;
  assert.ok(!existsSync(containerPaths(home, s.id).layerImage));
  assert.equal(await isMounted(writablePaths(home, s).layer), false);
  const ok = await py('print("fine")', { disk: { bytes: 8 * MiB, inodes: 100 }, rm: true });
  assert.equal(ok.output, 'fine');
});

test('rm of a container with a quota unmounts its volume and frees the loop device', { skip }, async () => {
  const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'pass'], disk: { bytes: 8 * MiB, inodes: 100 } });
  const p = writablePaths(home, s);
  assert.ok(await isMounted(p.layer));
  assert.notEqual(loopsOf(p.layerImage), '');
  await engine.remove(s.id);
  assert.equal(await isMounted(p.layer), false);
  assert.equal(loopsOf(p.layerImage), '');
  assert.ok(!existsSync(p.dir));
});

test('a container takes a pre-formatted spare volume when one is ready, and one is made again for the next', { skip }, async () => {
  const { readdirSync } = await import('node:fs');
  const spares = join(home.root, 'quota', 'spares');
  const disk = { bytes: 12 * MiB, inodes: 300 };
  const shape = (n: string) => n.startsWith(`${imageBytes(disk, false)}-300-n-`) && n.endsWith('.img');
  const count = () => (existsSync(spares) ? readdirSync(spares).filter(shape).length : 0);
  const first = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'pass'], disk });
  for (let i = 0; i < 200 && count() === 0; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(count(), 1, 'a spare was formatted in the background');
  const second = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'pass'], disk });
  assert.ok(second.layerMount, 'a pre-mounted spare was taken');
  assert.ok(await isMounted(writablePaths(home, second).layer));
  for (let i = 0; i < 200 && count() === 0; i++) await new Promise((r) => setTimeout(r, 25));
  const r = await py(FILL_FILES, { disk, writable: 'persistent', rm: true });
  assert.match(r.output, /^files \d+ (ENOSPC|EDQUOT)$/, 'a spare has the same quota');
  assert.ok(Number(r.output.split(' ')[1]) >= 290);
  await engine.remove(first.id);
  await engine.remove(second.id);
  // A host shutting down releases the spares: no mount, no loop device, nothing left.
  await engine.releaseSpareVolumes();
  assert.ok(!existsSync(spares));
  assert.equal(execFileSync('losetup', ['-a'], { encoding: 'utf8' }).includes(spares), false);
  assert.equal((await import('node:fs')).readFileSync('/proc/self/mountinfo', 'utf8').includes(spares), false);
});

test('a workspace is the home directory of every container a student opens, keeps files and one owner, and stops at its quota', { skip }, async () => {
  const ws = await Workspaces.open(home);
  const key = { classId: 'cs101', userId: 'student-1' };
  const a = await ws.ensure(key, { bytes: 16 * MiB, inodes: 300 });
  assert.equal(a.created, true);
  const st = statSync(a.path);
  assert.equal(st.uid, a.uid);
  assert.equal(st.mode & 0o777, 0o700);
  assert.ok(a.uid >= 300_000);
  const w = await py("import os; open('hello.py','w').write('print(42)\\n'); print(os.getcwd(), os.environ['HOME'], os.getuid())", { home: { dir: a.path }, rm: true });
  assert.equal(w.output, `/home/student /home/student ${a.uid}`);
  // Session over, container gone: the file is still there, and a second container sees it.
  const again = await ws.ensure(key, { bytes: 16 * MiB, inodes: 300 });
  assert.equal(again.created, false);
  assert.equal(again.uid, a.uid);
  assert.equal(statSync(join(a.path, 'hello.py')).uid, a.uid);
  const r = await py("exec(open('hello.py').read())", { home: { dir: a.path }, disk: { bytes: 8 * MiB, inodes: 100 }, rm: true });
  assert.equal(r.output, '42');
  const fill = await py(FILL_BYTES, { home: { dir: a.path }, rm: true });
  assert.match(fill.output, /^bytes \d+ (ENOSPC|EDQUOT)$/);
  const u = await ws.usage(key);
  assert.equal(u.quotaBytes, 16 * MiB);
  assert.ok(u.bytes >= 16 * MiB, JSON.stringify(u));
  // A larger quota applies at once where the kernel resizes ext4 online, else at the next mount.
  const { applied } = await ws.setQuota(key, { bytes: 40 * MiB, inodes: 300 });
  if (!applied) {
    assert.equal((await ws.usage(key)).quotaBytes, 16 * MiB, 'not applied yet');
    await ws.unmount(key);
    await ws.ensure(key, { bytes: 40 * MiB, inodes: 300 });
  }
  assert.equal((await ws.usage(key)).quotaBytes, 40 * MiB);
  const more = await py("import os\nwith open('more','wb') as f: f.write(b'y'*(16*1048576))\nprint('ok')", { home: { dir: a.path }, rm: true });
  assert.equal(more.output, 'ok');
  // Another student gets another uid; ids cannot climb out.
  const b = await ws.ensure({ classId: 'cs101', userId: 'student-2' }, { bytes: 8 * MiB, inodes: 100 });
  assert.notEqual(b.uid, a.uid);
  assert.deepEqual(await ws.list('cs101'), ['student-1', 'student-2']);
  for (const bad of [{ classId: '../x', userId: 'a' }, { classId: 'c', userId: '..' }, { classId: 'c', userId: 'a/b' }, { classId: '', userId: 'a' }]) {
    await assert.rejects(ws.ensure(bad, { bytes: 8 * MiB, inodes: 100 }), (e) => isRegError(e, 'USAGE'));
  }
  await ws.remove(key);
  await ws.remove({ classId: 'cs101', userId: 'student-2' });
  assert.deepEqual(await ws.list('cs101'), []);
  assert.equal(await ws.uidOf('student-1'), a.uid, 'the uid stays the student\'s');
  assert.equal(execFileSync('losetup', ['-a'], { encoding: 'utf8' }).includes(join(home.root, 'workspaces')), false, 'no workspace loop device left');
});

test('a root-owned project or home directory is refused, never chowned', { skip }, async () => {
  const dir = join(home.root, 'rootdir');
  mkdirSync(dir);
  for (const opts of [{ projectDir: dir }, { home: { dir } }]) {
    await assert.rejects(engine.generate({ ret: 'python@3.11', ...opts }), (e) => isRegError(e, 'PERMISSION_DENIED') && /owned by root/.test(e.message));
    assert.equal(statSync(dir).uid, 0);
  }
});

test("an ephemeral container's writable layer is a tmpfs of its quota in its own namespace: ENOSPC at the byte and inode quota, another container unaffected, nothing mounted on the host, exec and insert work, empty again after a restart", { skip }, async () => {
  // The host's mounts of this REG_HOME (other test runs on the machine mount and unmount their own meanwhile).
  const hostMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').filter((l) => l.includes(home.root) && !l.includes(join(home.root, 'quota', 'spares'))).map((l) => l.split(' ').slice(4).join(' ')).sort();
  const before = hostMounts();
  const disk = { bytes: 16 * MiB, inodes: 300 };
  const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'import time; time.sleep(120)'], disk, writable: 'ephemeral' });
  assert.equal(s.writable, 'ephemeral');
  const p = containerPaths(home, s.id);
  assert.ok(!existsSync(p.layerImage) && !existsSync(p.upper) && !existsSync(p.project), 'no volume, upper dir or project dir on the host');
  await engine.start(s.id, capture().spawn);
  const exec = async (code: string) => {
    const c = capture();
    const child = await engine.exec(s.id, ['/usr/bin/python3.11', '-c', `import os\nos.chdir('/work')\n${code}`], c.spawn);
    await child.exited;
    return c.output().trim();
  };
  assert.equal(await exec("import os; print(os.stat('.').st_uid == os.getuid(), oct(os.stat('/').st_mode & 0o777))"), 'True 0o755', '/work is the user\'s, / stays 0755');
  const bytes = await exec(FILL_BYTES);
  const [, n, err] = bytes.split(' ');
  assert.equal(err, 'ENOSPC', bytes);
  assert.ok(Number(n) >= 15 * MiB && Number(n) <= 16 * MiB, bytes);
  // The layer is full; another container writes freely meanwhile.
  const other = await py("with open('/work/f','wb') as f: f.write(b'z'*(8*1048576))\nprint('ok')", { disk, writable: 'ephemeral', rm: true });
  assert.equal(other.output, 'ok');
  await exec("import os; os.remove('big')");
  const files = await exec(FILL_FILES);
  const [, count, ferr] = files.split(' ');
  assert.equal(ferr, 'ENOSPC', files);
  assert.ok(Number(count) >= 290 && Number(count) <= 310, files);
  // Nothing on the host: no new mount (the tmpfs lives in the container's namespace), no loop device.
  assert.deepEqual(hostMounts(), before, 'the host mount table did not change');
  assert.equal(execFileSync('findmnt', ['-rn', '-o', 'TARGET,SOURCE'], { encoding: 'utf8' }).includes(s.id), false);
  assert.equal(execFileSync('losetup', ['-a'], { encoding: 'utf8' }).includes(p.dir), false);
  // Inserting works in the namespace where the tmpfs is.
  const ins = await engine.insert(s.id, 'tool');
  assert.equal(ins.status, 'running');
  const c = capture();
  assert.equal((await (await engine.exec(s.id, ['reg-tool', 'hostname'], c.spawn)).exited).code, 0);
  assert.equal(c.output().trim(), s.hostname);
  // Stop and start: the layer is a fresh, empty tmpfs.
  await engine.stop(s.id, { graceMs: 0 });
  await engine.start(s.id, capture().spawn);
  assert.equal(await exec("import os; print(os.path.exists('many'), len(os.listdir('.')))"), 'False 0');
  await engine.remove(s.id, { force: true });
  assert.ok(!existsSync(p.dir));
  assert.deepEqual(hostMounts(), before);
  // No spare volume of this shape was formatted for it (nor for the other ephemeral container).
  const { readdirSync } = await import('node:fs');
  const spares = join(home.root, 'quota', 'spares');
  const shape = `${imageBytes(disk, false)}-${disk.inodes}-`;
  assert.deepEqual(existsSync(spares) ? readdirSync(spares).filter((n) => n.includes(shape)) : [], [], 'no background mkfs for ephemeral containers');
});

test('an ephemeral layer larger than half the memory limit is capped there: the writer gets ENOSPC, not the OOM killer', { skip }, async () => {
  const r = await py(FILL_BYTES, { limits: { memoryBytes: 128 * MiB }, disk: { bytes: 1024 * MiB, inodes: 1000 }, writable: 'ephemeral', rm: true });
  assert.equal(r.outcome.outcome, 'exited', `${JSON.stringify(r.outcome)} ${r.output}`);
  const [, n, err] = r.output.split(' ');
  assert.equal(err, 'ENOSPC', r.output);
  assert.ok(Number(n) >= 60 * MiB && Number(n) <= 64 * MiB, r.output);
});

test('writable: ephemeral needs a disk quota; reg run --rm is ephemeral by default, generate persistent', { skip }, async () => {
  await assert.rejects(engine.generate({ ret: 'python@3.11', writable: 'ephemeral' }), (e) => isRegError(e, 'USAGE') && /needs a disk quota/.test(e.message));
  await assert.rejects(engine.generate({ ret: 'python@3.11', writable: 'tmp' as never, disk: { bytes: 8 * MiB, inodes: 100 } }), (e) => isRegError(e, 'USAGE') && /writable/.test(e.message));
  const r = await py('print(1)', { disk: { bytes: 8 * MiB, inodes: 100 }, rm: true });
  assert.equal(r.state.writable, 'ephemeral');
  assert.equal(r.output, '1');
  const s = await engine.generate({ ret: 'python@3.11', disk: { bytes: 8 * MiB, inodes: 100 } });
  assert.equal(s.writable, 'persistent');
  assert.ok(await isMounted(writablePaths(home, s).layer));
  await engine.remove(s.id);
});
