// Integration: real containers (overlay, namespaces, cgroups, seccomp) from RETs built on this
// host, questioned from inside by the static reg-probe. Needs root (CI is root).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probePath } from '@reg/native';
import { detectCgroupDriver } from '../cgroup/detect.js';
import { RegError } from '../errors.js';
import type { SpawnLauncher } from '../launch/launcher.js';
import { addRet } from '../ret/add.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { materialise } from '../resolve/materialise.js';
import { tempHome } from '../test-support/temp-home.js';
import { cgroupParentFor, Engine } from './engine.js';
import { containerPaths, listStates } from './state.js';
import { processStartTime } from './proc.js';
import { pushRet } from '../registry/push.js';
import { registryUnavailable, startTestRegistry } from '../test-support/docker-registry.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: namespaces, overlay mounts and cgroups';
const home = tempHome('reg-containers-');
let engine: Engine;
const cgroupRoot = `/sys/fs/cgroup/pids/${cgroupParentFor(home)}`;
let cgroups: Awaited<ReturnType<typeof detectCgroupDriver>>;

/** A spawner that captures the container's output. */
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

async function run(ret: string, command: string[], opts: Record<string, unknown> = {}) {
  const c = capture();
  const r = await engine.run({ ret, command, rm: true, spawn: c.spawn, ...opts });
  return { ...r, output: c.output().trim() };
}

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  cgroups = await detectCgroupDriver({ parent: cgroupParentFor(home) });
  await buildFromHost(home, '/usr/bin/python3.11');
  await buildFromHost(home, '/usr/bin/node');
  // A RET holding only the probe, on top of the root skeleton; and a "tool" to insert later.
  for (const [name, dir] of [['probe', 'usr/bin'], ['tool', 'usr/local/bin']] as const) {
    const root = join(home.root, `${name}-root`);
    mkdirSync(join(root, dir), { recursive: true });
    copyFileSync(probePath, join(root, dir, name === 'probe' ? 'reg-probe' : 'reg-tool'));
    writeFileSync(join(home.root, `${name}.yaml`), `name: ${name}\nversion: "1"\nfiles:\n  bin: /${dir}/${name === 'probe' ? 'reg-probe' : 'reg-tool'}\nrequires: [rootfs@1]\n`);
    await addRet(home, join(home.root, `${name}.yaml`), { root });
  }
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  assert.ok(!existsSync(`/sys/fs/cgroup/memory/${cgroupParentFor(home)}`), 'no cgroup left behind');
  home.cleanup();
});

test('inside, a container sees only its own processes, files, hostname and loopback', { skip }, async () => {
  const marker = join(tmpdir(), `reg-host-marker-${process.pid}`);
  writeFileSync(marker, 'host secret');
  try {
    const ls = await run('probe', ['reg-probe', 'ls', '/']);
    assert.deepEqual(ls.output.split(/\s+/).sort(), ['bin', 'dev', 'etc', 'home', 'lib', 'lib64', 'proc', 'root', 'run', 'sbin', 'sys', 'tmp', 'usr', 'var', 'work'].filter((d) => d !== 'lib64' || existsSync('/lib64')).sort());
    const tmp = await run('probe', ['reg-probe', 'ls', '/tmp']);
    assert.equal(tmp.output, '', 'the host /tmp (with its marker) is not visible');
    assert.equal((await run('probe', ['reg-probe', 'pid'])).output, '2');
    const procs = await run('probe', ['reg-probe', 'ls', '/proc']);
    assert.deepEqual(procs.output.split(/\s+/).filter((n) => /^\d+$/.test(n)).sort(), ['1', '2']);
    assert.equal((await run('probe', ['reg-probe', 'net'])).output, 'lo');
    assert.equal((await run('probe', ['reg-probe', 'hostname'], { name: 'box1' })).output, 'box1');
  } finally {
    rmSync(marker, { force: true });
  }
});

test('the process is unprivileged: uid ≥ 200000, no capabilities, no_new_privs, seccomp, no mount, no TIOCSTI', { skip }, async () => {
  const uid = Number(/^uid=(\d+)/.exec((await run('probe', ['reg-probe', 'uid'])).output)?.[1]);
  assert.ok(uid >= 200000, `uid ${uid}`);
  assert.match((await run('probe', ['reg-probe', 'caps'])).output, /CapEff=0+ CapBnd=0+/);
  assert.equal((await run('probe', ['reg-probe', 'nnp'])).output, '1');
  assert.equal((await run('probe', ['reg-probe', 'seccomp'])).output, '2');
  assert.equal((await run('probe', ['reg-probe', 'mount'])).output, 'EPERM');
  assert.equal((await run('probe', ['reg-probe', 'tiocsti'])).output, 'EPERM');
});

test('writes land in the upper dir; the store inode and content are unchanged; libraries are not writable', { skip }, async () => {
  const s = await engine.generate({ ret: 'python@3.11', command: ['python3', '-c', "open('/var/tmp/written','w').write('x'); open('/work/out','w').write('y')\ntry:\n  open('/usr/lib/x86_64-linux-gnu/libc.so.6','r+b')\nexcept OSError as e: print(e.errno)"] });
  const libcLayer = (await materialise(home, 'libc@6')).lowerdirs[0]!;
  const libc = join(libcLayer, 'usr/lib/x86_64-linux-gnu/libc.so.6');
  const before = { ino: statSync(libc).ino, data: readFileSync(libc) };
  const c = capture();
  const done = await engine.wait(await engine.start(s.id, c.spawn));
  assert.deepEqual(done.outcome, { outcome: 'exited', code: 0 });
  assert.equal(c.output().trim(), '13', 'EACCES writing a shared library');
  const p = containerPaths(home, s.id);
  // /var/tmp is a tmpfs made inside the container (launch/plan.ts TMPFS_MOUNTS): nothing reaches the upper dir.
  assert.ok(!existsSync(join(p.upper, 'var/tmp/written')), 'scratch files stay in the container tmpfs');
  assert.equal(readFileSync(join(p.project, 'out'), 'utf8'), 'y');
  assert.equal(statSync(libc).ino, before.ino);
  assert.ok(readFileSync(libc).equals(before.data));
  // Stopped keeps what the program wrote; start again and it is still there.
  const again = capture();
  await engine.wait(await engine.start(s.id, again.spawn, ), undefined);
  assert.equal(readFileSync(join(p.project, 'out'), 'utf8'), 'y');
  await engine.remove(s.id);
  assert.ok(!existsSync(p.dir));
});

test('two python containers and a node container map the same libc inode', { skip }, async () => {
  const sleeper = { python: ['python3', '-c', 'import time; time.sleep(60)'], node: ['node', '-e', 'setTimeout(()=>{}, 60000)'] };
  const ids: string[] = [];
  try {
    for (const [ret, cmd] of [['python@3.11', sleeper.python], ['python@3.11', sleeper.python], ['node', sleeper.node]] as const) {
      const s = await engine.generate({ ret, command: [...cmd] });
      ids.push(s.id);
      await engine.start(s.id);
    }
    const inodes = new Set<string>();
    for (const id of ids) {
      const cg = await cgroups.pids(id);
      let found: string | undefined;
      for (let i = 0; i < 100 && !found; i++) {
        for (const pid of await cgroups.pids(id)) {
          // The launcher and pid 1 are in the cgroup too (host binaries): ask the runtime itself.
          if (!/^(python3|node)/.test(readFileSync(`/proc/${pid}/comm`, 'utf8'))) continue;
          const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').find((l) => l.endsWith('/libc.so.6'));
          if (maps) found = maps.split(/\s+/)[4];
        }
        if (!found) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(found, `libc mapped in container ${id} (pids ${cg})`);
      inodes.add(found);
    }
    assert.equal(inodes.size, 1, `one inode for libc, got ${[...inodes]}`);
    const libc = join((await materialise(home, 'libc@6')).lowerdirs[0]!, 'usr/lib/x86_64-linux-gnu/libc.so.6');
    assert.equal([...inodes][0], String(statSync(libc).ino), 'it is the store blob itself');
    const stats = await engine.stats();
    assert.equal(stats.containers.length, 3);
    assert.ok(stats.savedBySharing > 0 && stats.containers.every((c) => c.pss > 0 && c.pss <= c.rss));
  } finally {
    for (const id of ids) await engine.remove(id, { force: true });
  }
});

test('a fork bomb is stopped by the pids limit, and stop cleans up every process', { skip }, async () => {
  const r = await run('probe', ['reg-probe', 'fork-bomb'], { limits: { pids: 32 } });
  assert.match(r.output, /EAGAIN after \d+/);
  assert.ok(Number(/after (\d+)/.exec(r.output)![1]) < 32);
});

test('a memory hog ends with outcome oom', { skip }, async () => {
  const r = await run('probe', ['reg-probe', 'hog', '512'], { limits: { memoryBytes: 64 * 1024 * 1024 } });
  assert.equal(r.outcome.outcome, 'oom');
});

test('a process ignoring SIGTERM is killed by stop; nothing is left', { skip }, async () => {
  const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'ignore-term'] });
  const started = await engine.start(s.id);
  const pid = started.state.initPid!;
  const stopped = await engine.stop(s.id, { graceMs: 200 });
  assert.equal(stopped.status, 'stopped');
  assert.ok(!(await processStartTime(pid)), 'pid 1 is gone');
  assert.ok(!existsSync(join(cgroupRoot, s.id)), 'cgroup removed');
  await assert.rejects(engine.stop(s.id), (e: RegError) => e.code === 'ILLEGAL_TRANSITION');
  await engine.remove(s.id);
});

test('reg install adds a tool to a running container and the running process uses it; uninstall takes it away', { skip }, async () => {
  const script = [
    'import os, subprocess, time',
    "while not os.path.exists('/usr/local/bin/reg-tool'): time.sleep(0.02)",
    "r=subprocess.run(['reg-tool','hostname'],capture_output=True,text=True); open('/work/seen','w').write(r.stdout or repr((r.returncode, r.stderr)))",
    "while os.path.exists('/usr/local/bin/reg-tool'): time.sleep(0.02)",
    "open('/work/gone','w').write('gone')",
  ].join('\n');
  const s = await engine.generate({ ret: 'python@3.11', command: ['python3', '-c', script], name: 'inserting' });
  const started = await engine.start(s.id);
  const p = containerPaths(home, s.id);
  const ins = await engine.insert(s.id, 'tool');
  assert.equal(ins.status, 'running');
  assert.deepEqual(ins.inserted.map((i) => i.ref), ['tool']);
  // Until it has content: python creates the file before it writes into it.
  for (let i = 0; i < 400 && !(existsSync(join(p.project, 'seen')) && statSync(join(p.project, 'seen')).size > 0); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(readFileSync(join(p.project, 'seen'), 'utf8').trim(), 'inserting');
  assert.equal((await engine.inspect(s.id)).initPid, started.state.initPid, 'the same process, not a restart');
  await engine.uninstall(s.id, 'tool');
  const done = await engine.wait(started);
  assert.deepEqual(done.outcome, { outcome: 'exited', code: 0 });
  assert.equal(readFileSync(join(p.project, 'gone'), 'utf8'), 'gone');
  await engine.remove(s.id);
});

test('exec joins a running container', { skip }, async () => {
  const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '30'], name: 'joined' });
  await engine.start(s.id);
  const c = capture();
  const child = await engine.exec(s.id, ['reg-probe', 'hostname'], c.spawn);
  assert.equal((await child.exited).code, 0);
  assert.equal(c.output().trim(), 'joined');
  await engine.remove(s.id, { force: true });
});

test('after a crash, reconcile turns dead containers into Stopped and removes stray cgroups', { skip }, async () => {
  const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '30'] });
  const started = await engine.start(s.id);
  // Simulate a host crash: the processes die without Reg noticing.
  process.kill(started.launcher.pid, 'SIGKILL');
  process.kill(started.state.initPid!, 'SIGKILL');
  for (let i = 0; i < 200 && existsSync(`/proc/${started.state.initPid}/cmdline`) && readFileSync(`/proc/${started.state.initPid}/stat`, 'utf8').split(') ')[1]![0] !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
  const cg = cgroups;
  await cg.create('stray-0001', {});
  const r = await engine.reconcile();
  assert.ok(r.stopped.includes(s.id));
  assert.ok(r.strayCgroups.includes('stray-0001'));
  assert.equal((await engine.inspect(s.id)).status, 'stopped');
  assert.ok(!(await cg.exists(s.id)));
  await engine.remove(s.id);
});

test('bad input is a clear error with a code, and the host state is unchanged', { skip }, async () => {
  const before = (await listStates(home)).map((s) => s.id);
  await assert.rejects(engine.generate({ ret: 'cobol@85' }), (e: RegError) => e.code === 'RET_NOT_FOUND');
  await assert.rejects(engine.generate({ ret: 'probe', limits: { pids: -1 } }), (e: RegError) => e.code === 'USAGE' && e.field === 'pids');
  await assert.rejects(engine.generate({ ret: 'probe', projectDir: '/nonexistent/dir' }), (e: RegError) => e.code === 'FILE_NOT_FOUND' && e.field === 'projectDir');
  await assert.rejects(engine.stop('ffffffffffff'), (e: RegError) => e.code === 'CONTAINER_NOT_FOUND');
  assert.deepEqual((await listStates(home)).map((s) => s.id), before);
  const r = await run('probe', ['no-such-command']);
  assert.equal(r.outcome.outcome, 'exec-failed');
  assert.equal(r.outcome.code, 127);
});

test('after rm, no mount, cgroup or process is left', { skip }, async () => {
  // Only this home's mounts: other runs on the machine mount and unmount meanwhile.
  const ourMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(home.root)).length;
  const mountsBefore = ourMounts();
  const s = await engine.generate({ ret: 'python@3.11', command: ['python3', '-c', 'import time; time.sleep(60)'] });
  const started = await engine.start(s.id);
  await engine.remove(s.id, { force: true });
  assert.ok(!(await processStartTime(started.state.initPid!)), 'pid 1 is gone');
  assert.ok(!existsSync(containerPaths(home, s.id).dir));
  for (const ctrl of ['memory', 'pids', 'cpu']) assert.ok(!existsSync(`/sys/fs/cgroup/${ctrl}/${cgroupParentFor(home)}/${s.id}`), `${ctrl} cgroup`);
  assert.equal(ourMounts(), mountsBefore);
  const leftovers = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && (() => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(s.id); } catch { return false; } })());
  assert.deepEqual(leftovers, [], 'no process mentions the container');
});

test('reg run pulls a missing RET (and its requires) from the configured registry on demand', { skip: skip || registryUnavailable() }, async (t) => {
  const registry = await startTestRegistry();
  const empty = tempHome('reg-pull-on-demand-');
  const saved = process.env.REG_REGISTRY;
  const fresh = await Engine.open({ home: empty });
  t.after(async () => {
    if (saved === undefined) delete process.env.REG_REGISTRY;
    else process.env.REG_REGISTRY = saved;
    await registry.stop();
    await fresh.disposeCgroupParent();
    empty.cleanup();
  });
  await pushRet(home, 'probe', `${registry.host}/class`);
  process.env.REG_REGISTRY = `${registry.host}/class`;
  const c = capture();
  const r = await fresh.run({ ret: 'probe', command: ['reg-probe', 'hostname'], name: 'pulled', rm: true, spawn: c.spawn });
  assert.deepEqual(r.outcome, { outcome: 'exited', code: 0 });
  assert.equal(c.output().trim(), 'pulled');
  assert.ok(existsSync(join(empty.rets, 'rootfs')), 'the requirement came along');
});

test('a container restarted right after its run ends is not killed by the previous run\'s cleanup', { skip }, async () => {
  const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '0.05'] });
  for (let i = 0; i < 5; i++) {
    const done = await engine.wait(await engine.start(s.id, capture().spawn));
    assert.deepEqual(done.outcome, { outcome: 'exited', code: 0 }, `run ${i}`);
  }
  await engine.remove(s.id);
  assert.ok(!(await cgroups.exists(s.id)));
});
