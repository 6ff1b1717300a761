// Parked launchers end to end: real `reg-launch park` processes in real (v1 here) cgroups, taken
// by real starts. The point is that a pooled member never carries anything from one container to
// the next (files, env, limits, uid, hostname, namespaces), and that every way a member can go
// bad — died, cgroup removed, host killed, a plan it cannot run — ends without a leak.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probePath } from '@reg/native';
import { RegError } from '../errors.js';
import { addRet } from '../ret/add.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { cgroupParentFor, Engine } from '../container/engine.js';
import { isSameProcess } from '../container/proc.js';
import type { SpawnLauncher } from './launcher.js';
import { isParkCgroup, poolRoot, type PoolMember } from './park.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: parked launchers join cgroups and make namespaces';
const home = tempHome('reg-park-');
let engine: Engine;
const memoryCg = () => `/sys/fs/cgroup/memory/${cgroupParentFor(home)}`;
const pidsCg = () => `/sys/fs/cgroup/pids/${cgroupParentFor(home)}`;

/** A spawner that captures what the container writes (attach passes these pipes to it). */
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

const parkCgroups = () => readdirSync(memoryCg()).filter(isParkCgroup);
const alive = (pid: number) => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};
const ns = (pid: number) => Object.fromEntries(['mnt', 'pid', 'ipc', 'uts', 'net', 'cgroup'].map((n) => [n, readlinkSync(`/proc/${pid}/ns/${n}`)]));

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11'); // brings rootfs@1
  const root = join(home.root, 'probe-root');
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  copyFileSync(probePath, join(root, 'usr/bin/reg-probe'));
  writeFileSync(join(home.root, 'probe.yaml'), 'name: probe\nversion: "1"\nfiles:\n  bin: /usr/bin/reg-probe\nrequires: [rootfs@1]\n');
  await addRet(home, join(home.root, 'probe.yaml'), { root });
});

after(async () => {
  // Whatever a failed test left parked in this home (a safety net: the assertions below say if it was needed).
  const leftover = spawnSync('pgrep', ['-f', `reg-launch park --control ${home.root}/`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  for (const p of leftover) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  try {
    if (engine) {
      for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
      await engine.pool?.close();
      await engine.disposeCgroupParent();
      assert.ok(!existsSync(memoryCg()) || parkCgroups().length === 0, 'no parked cgroup left behind');
      assert.deepEqual(leftover, [], 'no parked launcher left behind');
    }
  } finally {
    home.cleanup();
  }
});

test('a start takes a parked member; the next container sees nothing of the previous one (files, env, limits, uid, hostname, namespaces)', { skip }, async () => {
  await engine.pool!.fill('isolated', 2);
  const before = await engine.pool!.status();
  assert.equal(before.byKey.isolated.ready, 2);
  const [m1, m2] = before.members;
  const parkedNs = new Map([m1!, m2!].map((m) => [m.pid, ns(m.pid)]));

  // X: small limits, a secret in its env, writes a file into /tmp and its writable layer, then sleeps.
  const x = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '30'], limits: { memoryBytes: 64 << 20, pids: 50 }, env: { SECRET: 'from-x' } });
  const cx = capture();
  const startedX = await engine.start(x.id, cx.spawn);
  assert.equal(startedX.state.status, 'running');
  const xInit = startedX.state.initPid!;
  // X runs in a member (its outer launcher is one of the parked pids) whose cgroup is now X's, with X's limits.
  const xLauncher = Number(readFileSync(`/proc/${xInit}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  assert.ok([m1!.pid, m2!.pid].includes(xLauncher), 'X was started by a parked launcher');
  const xMember = before.members.find((m) => m.pid === xLauncher)!;
  assert.ok(!existsSync(join(memoryCg(), xMember.cgroup)), 'the member\'s cgroup was renamed');
  assert.equal(readFileSync(join(memoryCg(), x.id, 'memory.limit_in_bytes'), 'utf8').trim(), String(64 << 20));
  assert.equal(readFileSync(join(pidsCg(), x.id, 'pids.max'), 'utf8').trim(), '50');
  assert.ok(readFileSync(join(memoryCg(), x.id, 'cgroup.procs'), 'utf8').split('\n').map(Number).includes(xLauncher));
  // The namespaces were made at park time (pid ns: pid 1 is the first child of the parked launcher).
  const xNs = ns(xInit);
  for (const n of ['ipc', 'uts', 'net', 'cgroup'] as const) assert.equal(xNs[n], parkedNs.get(xLauncher)![n], n);
  const xOut = capture();
  const xs = await engine.exec(x.id, ['reg-probe', 'env', 'SECRET'], xOut.spawn);
  await xs.exited;
  const wx = await engine.exec(x.id, ['reg-probe', 'write', '/tmp/from-x'], xOut.spawn);
  await wx.exited;
  const wx2 = await engine.exec(x.id, ['reg-probe', 'write', '/work/from-x'], xOut.spawn);
  await wx2.exited;
  assert.match(xOut.output().trim(), /^from-x\nok\nok$/);
  // X keeps running while Y starts: namespace inode numbers of a freed namespace are reused, so
  // comparing them is only meaningful while both exist.

  // Y: the other member; default limits; must see none of X.
  const y = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '30'] });
  const startedY = await engine.start(y.id, capture().spawn);
  const yInit = startedY.state.initPid!;
  const yLauncher = Number(readFileSync(`/proc/${yInit}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  assert.ok([m1!.pid, m2!.pid].includes(yLauncher) && yLauncher !== xLauncher, 'Y was started by the other parked launcher');
  const yNs = ns(yInit);
  for (const n of Object.keys(yNs)) assert.notEqual(yNs[n], xNs[n], `Y shares X's ${n} namespace`);
  assert.equal(readFileSync(join(memoryCg(), y.id, 'memory.limit_in_bytes'), 'utf8').trim(), String(512 << 20), 'Y has its own (default) memory limit');
  assert.equal(readFileSync(join(pidsCg(), y.id, 'pids.max'), 'utf8').trim(), '256');
  const ask = async (q: string[]) => {
    const c = capture();
    const h = await engine.exec(y.id, q, c.spawn);
    await h.exited;
    return c.output().trim();
  };
  assert.equal(await ask(['reg-probe', 'ls', '/tmp']), '', 'X\'s /tmp file is not in Y');
  assert.equal(await ask(['reg-probe', 'stat', '/work/from-x']), 'ENOENT');
  assert.equal(await ask(['reg-probe', 'env', 'SECRET']), '(unset)');
  assert.equal(await ask(['reg-probe', 'hostname']), startedY.state.hostname);
  assert.notEqual(startedY.state.hostname, startedX.state.hostname);
  assert.match(await ask(['reg-probe', 'uid']), new RegExp(`^uid=${startedY.state.uid} `));
  assert.notEqual(startedY.state.uid, startedX.state.uid);
  await engine.stop(y.id, { graceMs: 0 });
  await engine.stop(x.id, { graceMs: 0 });
  for (const id of [x.id, y.id]) await engine.remove(id, { force: true });
  assert.equal((await engine.pool!.status()).members.length, 0, 'both members were used once');
});

test('the escape probes answer the same from a parked member as from a cold start (a pooled member weakens no step)', { skip }, async () => {
  const { launcherPath } = await import('@reg/native');
  const { dirname } = await import('node:path');
  const ask = async (warm: boolean) => {
    if (warm) await engine.pool!.fill('isolated', 1);
    const c = capture();
    const secrets = [home.root, dirname(launcherPath), poolRoot(home), 'park-', '--control', '--deny-syscalls'];
    const r = await engine.run({ ret: 'probe', rm: true, spawn: c.spawn, command: ['reg-probe', 'escapes', ...secrets.flatMap((x) => ['--secret', x])] });
    assert.deepEqual(r.outcome, { outcome: 'exited', code: 0 }, c.output());
    if (warm) assert.equal((await engine.pool!.status()).members.length, 0, 'the member was used');
    return c.output().trim().split('\n').map((l) => JSON.parse(l) as { probe: string; escaped: boolean; detail: string });
  };
  const cold = await ask(false);
  const warm = await ask(true);
  assert.ok(warm.length >= 30, 'every probe ran');
  assert.deepEqual(warm.map((l) => l.probe), cold.map((l) => l.probe));
  // The only escapes allowed are the cold start's own pinned ones (the /work bind naming REG_HOME in mountinfo).
  assert.deepEqual(warm.filter((l) => l.escaped).map((l) => l.probe), cold.filter((l) => l.escaped).map((l) => l.probe));
  assert.ok(warm.filter((l) => l.escaped).every((l) => l.probe.endsWith('mountinfo')), JSON.stringify(warm.filter((l) => l.escaped)));
});

test('engine.run (what `reg run` uses) goes through attach: output and exit code come back; no member → the usual path', { skip }, async () => {
  await engine.pool!.fill('isolated', 1);
  const c = capture();
  const r = await engine.run({ ret: 'probe', command: ['reg-probe', 'exit', '7'], rm: true, spawn: c.spawn });
  assert.deepEqual(r.outcome, { outcome: 'exited', code: 7 });
  assert.equal((await engine.pool!.status()).members.length, 0, 'the member was taken');
  const c2 = capture();
  const r2 = await engine.run({ ret: 'probe', command: ['reg-probe', 'hostname'], rm: true, spawn: c2.spawn });
  assert.deepEqual(r2.outcome, { outcome: 'exited', code: 0 });
  assert.match(c2.output(), /^reg-/);
});

test('setMin is a floor refilled after every take; reserve grows above it and idle shrink lets go of the excess only', { skip }, async () => {
  const pool = engine.pool!;
  await pool.setMin('shared-net', 1);
  assert.deepEqual((await pool.status()).byKey['shared-net'], { ready: 1, starting: 0, min: 1 });
  const m = await pool.take('shared-net');
  assert.ok(m);
  await releaseTaken(m);
  await until(async () => (await pool.status()).byKey['shared-net'].ready === 1, 'the floor to be refilled after the take');
  await pool.reserve(3, 'shared-net');
  assert.equal((await pool.status()).byKey['shared-net'].ready, 3);
  assert.equal(await pool.shrink(Date.now() + 60 * 60_000), 2, 'the two above the floor are let go once idle');
  await until(async () => (await pool.status()).members.length === 1, 'the shrunk members to go');
  await pool.setMin('shared-net', 0);
  assert.equal(await pool.drain(), 1);
  await until(() => parkCgroups().length === 0, 'their cgroups to be recycled');
});

test('a shared member nobody takes exits by itself (--idle-timeout); whoever looks next recycles its cgroup', { skip }, async () => {
  const cli = await Engine.open({ home, pool: { idleTimeoutSeconds: 1 } });
  await cli.pool!.fill('isolated', 1);
  const [m] = (await cli.pool!.status()).members;
  assert.ok(m);
  // Another process (here: another engine) sees it, until it times out.
  assert.equal((await engine.pool!.status()).members.length, 1);
  await until(() => !alive(m.pid), 'the idle member to exit', 10_000);
  await until(async () => (await engine.pool!.status()).members.length === 0 && parkCgroups().length === 0, 'its record and cgroup to go');
  await cli.pool!.close();
});

/** Lets a taken member go unused (closing the connection before a plan ends it with 0). */
async function releaseTaken(m: PoolMember): Promise<void> {
  const { createConnection } = await import('node:net');
  await new Promise<void>((resolve) => {
    const c = createConnection(m.control, () => c.end());
    c.on('close', () => resolve());
    c.on('error', () => resolve());
  });
  await m.discard();
}

test('a member that died, or whose cgroup was removed behind our back, is dropped; the start still works and nothing leaks', { skip }, async () => {
  await engine.pool!.fill('isolated', 2);
  const [a, b] = (await engine.pool!.status()).members;
  process.kill(a!.pid, 'SIGKILL');
  await until(() => !alive(a!.pid), 'the member to die');
  // Removing a member's cgroup behind the pool's back: everything in it is killed, the directory goes.
  spawnSync('sh', ['-c', `kill -9 ${b!.pid}; sleep 0.1; for d in /sys/fs/cgroup/*/${cgroupParentFor(home)}/${b!.cgroup}; do rmdir $d; done`]);
  const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'pid'] });
  const started = await engine.start(s.id, capture().spawn);
  assert.ok(['running', 'stopped'].includes(started.state.status));
  const done = started.state.status === 'stopped' ? started.state : await engine.wait(started);
  assert.deepEqual(done.outcome, { outcome: 'exited', code: 0 });
  await engine.remove(s.id, { force: true });
  await until(async () => (await engine.pool!.status()).members.length === 0, 'the broken members to be forgotten');
  await until(() => parkCgroups().length === 0, 'the members\' cgroups to go');
});

test('a member that goes bad between its take and the plan (its socket broken): the start is made again the usual way, the member is killed', { skip }, async () => {
  await engine.pool!.fill('isolated', 1);
  const [m] = (await engine.pool!.status()).members;
  const sock = join(engine.pool!.dir, `${m!.id}.sock`);
  rmSync(sock);
  writeFileSync(sock, 'not a socket'); // still "ready" to a lister: the take succeeds, the connect fails
  const c = capture();
  const r = await engine.run({ ret: 'probe', command: ['reg-probe', 'exit', '3'], rm: true, spawn: c.spawn });
  assert.deepEqual(r.outcome, { outcome: 'exited', code: 3 }, c.output());
  await until(() => !alive(m!.pid), 'the broken member to be killed with the first attempt\'s cgroup');
  assert.deepEqual(parkCgroups(), []);
  assert.equal((await engine.pool!.status()).members.length, 0);
});

test('a member parked under a pty (the host\'s terminals): startWithMember sends the plan from Node and the command gets that pty as its controlling terminal', { skip }, async () => {
  let out = '';
  // python's pty.spawn stands in for the host's node-pty: the parked launcher leads a session on a pty.
  const ptySpawn: SpawnLauncher = (file, args) => {
    const c = spawn('python3', ['-c', 'import pty, sys; pty.spawn(sys.argv[1:])', file, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return { pid: c.pid!, exited: new Promise((r) => c.on('close', (code, signal) => r({ code, signal }))) };
  };
  const hostEngine = await Engine.open({ home, pool: { spawn: ptySpawn } });
  try {
    await hostEngine.pool!.fill('isolated', 1);
    assert.ok(hostEngine.pool!.dir.endsWith(`host-${process.pid}`), 'pty members are private to their process');
    const m = await hostEngine.pool!.take('isolated');
    assert.ok(m);
    const s = await hostEngine.generate({ ret: 'python@3.11', tty: true, command: ['python3', '-c', "import os; t = open('/dev/tty', 'w'); print('ctty', os.isatty(0), os.getsid(0) == os.getpgid(0) or 'same-session', file=t, flush=True)"] });
    const started = await hostEngine.startWithMember(s.id, m);
    const done = started.state.status === 'stopped' ? started.state : await hostEngine.wait(started);
    assert.deepEqual(done.outcome, { outcome: 'exited', code: 0 });
    await until(() => out.includes('ctty True'), `the command's output on the pty (got ${JSON.stringify(out)})`);
    await hostEngine.remove(s.id, { force: true });
  } finally {
    await hostEngine.pool!.close();
  }
  assert.ok(!existsSync(join(poolRoot(home), `host-${process.pid}`)), 'a private pool removes its directory on close');
});

test('a plan that contradicts the member (host network into an isolated member) fails LAUNCH_FAILED naming --share-net; nothing is left', { skip }, async () => {
  await engine.pool!.fill('isolated', 1);
  const member = await engine.pool!.take('isolated');
  assert.ok(member);
  const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'pid'], network: 'host' });
  await assert.rejects(engine.startWithMember(s.id, member), (e: unknown) => e instanceof RegError && e.code === 'LAUNCH_FAILED' && /--share-net/.test(e.message));
  await until(() => !alive(member.pid), 'the member to exit');
  assert.equal((await engine.inspect(s.id)).status, 'stopped');
  assert.ok(!existsSync(join(memoryCg(), s.id)), 'the container\'s cgroup is gone');
  assert.deepEqual(parkCgroups(), []);
  await engine.remove(s.id, { force: true });
});

test('a host killed with its pool full: the next reconcile kills its parked launchers and removes their cgroups', { skip }, async () => {
  // A "host": another process whose pool has its own spawner (members private to it), killed with SIGKILL.
  const script = `
    import { Engine, childProcessSpawner } from ${JSON.stringify(new URL('../index.ts', import.meta.url).pathname)};
    const e = await Engine.open({ home: ${JSON.stringify(home.root)} });
    await e.pool.setSpawner(childProcessSpawner({ detached: true, stdio: 'ignore' }));
    await e.pool.fill('isolated', 2);
    console.log(JSON.stringify((await e.pool.status()).members.map((m) => m.pid)));
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' });
  const pids = JSON.parse(r.stdout.trim().split('\n').pop()!) as number[];
  assert.equal(pids.length, 2, r.stderr);
  for (const p of pids) assert.ok(alive(p), 'detached members outlive their host');
  assert.equal(parkCgroups().length, 2);
  const dirs = readdirSync(poolRoot(home)).filter((d) => d.startsWith('host-'));
  assert.equal(dirs.length, 1);
  const rec = await engine.reconcile();
  assert.equal(rec.parked?.killed, 2);
  for (const p of pids) assert.ok(!(await isSameProcess(p, undefined)), `parked launcher ${p} was killed`);
  assert.deepEqual(parkCgroups(), []);
  assert.deepEqual(readdirSync(poolRoot(home)).filter((d) => d.startsWith('host-')), []);
  rmSync(join(poolRoot(home), 'shared'), { recursive: true, force: true });
});
