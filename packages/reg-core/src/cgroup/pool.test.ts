// The cgroup pool on the real cgroupfs (v1 here; skipped with the reason on other hosts) and on
// the fake v2 tree (aliases instead of rename). Each real test uses its own parent, removed in
// `after` with everything under it, even when a test fails.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isRegError } from '../errors.js';
import { regHome } from '../home.js';
import { reconcile } from '../container/refresh.js';
import { sleep } from './cgroupfs.js';
import { detectCgroupVersion } from './detect.js';
import { FakeCgroupFs } from './fake-cgroupfs.js';
import { PooledCgroupDriver, isPoolMember, poolOptionsFromEnv } from './pool.js';
import { CgroupV1Driver } from './v1.js';
import { CgroupV2Driver } from './v2.js';

const ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'];
const version = await detectCgroupVersion().catch(() => undefined);
const skipV1 = process.getuid?.() !== 0 ? 'needs root to create real cgroups' : version !== 1 ? `host is not cgroup v1 (detected ${version ?? 'nothing'})` : false;
if (skipV1) console.log(`# skipping the real-cgroupfs pool tests: ${skipV1}`);

const parents: string[] = [];
const children: ChildProcess[] = [];
const temps: string[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sleep(50);
  for (const parent of parents) {
    for (const c of CONTROLLERS) {
      const dir = join(ROOT, c, parent);
      for (const sub of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (sub.isDirectory()) await rmdir(join(dir, sub.name)).catch((e) => console.error(`cleanup: ${e}`));
      await rmdir(dir).catch(() => undefined);
    }
  }
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

function realPool(parent?: string) {
  const p = parent ?? `reg-test-pool-${randomBytes(3).toString('hex')}`;
  if (!parents.includes(p)) parents.push(p);
  const base = new CgroupV1Driver({ parent: p });
  return { parent: p, base, pool: new PooledCgroupDriver(base, { idleMs: 0 }) };
}

const read = (parent: string, c: string, name: string, f: string) => readFileSync(join(ROOT, c, parent, name, f), 'utf8').trim();

function python(): string {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return r.stdout.trim() || 'python3';
}

/** A process that joins the cgroup (every procs file) before doing anything, then runs `script`. */
async function startIn(procsFiles: string[], args: string[]): Promise<ChildProcess> {
  const child = spawn(args[0]!, args.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] });
  children.push(child);
  for (const f of procsFiles) await writeFile(f, String(child.pid));
  child.stdin!.write('go\n');
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('cgroup pool (real cgroupfs v1)', { skip: skipV1 }, () => {
  it('recycles a removed cgroup: same directory, new limits, zeroed counters, no new memcg', async () => {
    const { parent, pool } = realPool();
    const { procsFiles } = await pool.create('c1', { memoryBytes: 256 << 20, pids: 5, cpuMillicores: 500 });
    // Touch 40 MiB so the peak is well above zero, and leave 16 MiB of page cache charged to it
    // (a file that outlives the process): what a reset must reclaim.
    const scratch = await mkdtemp(join(tmpdir(), 'reg-pool-cache-'));
    temps.push(scratch);
    const script = `import os, sys; sys.stdin.readline(); b = b'x' * (40 << 20)\nwith open(${JSON.stringify(join(scratch, 'f'))}, 'wb') as f:\n  f.write(b[:16 << 20]); f.flush(); os.fsync(f.fileno())`;
    const child = await startIn(procsFiles, [python(), '-c', script]);
    await exited(child);
    assert.equal(child.exitCode, 0);
    assert.ok(Number(read(parent, 'memory', 'c1', 'memory.usage_in_bytes')) > 16 << 20, 'the page cache is charged to it');
    assert.ok(Number(read(parent, 'memory', 'c1', 'memory.max_usage_in_bytes')) > 40 << 20);
    const inode = statSync(join(ROOT, 'memory', parent, 'c1')).ino;
    await pool.remove('c1');
    assert.equal(await pool.exists('c1'), false);
    assert.equal(pool.poolStats().idle, 1);
    assert.equal(pool.poolStats().recycled, 1);
    assert.deepEqual(await pool.list(), [], 'idle members are not containers');

    const { procsFiles: files2 } = await pool.create('c2', { memoryBytes: 64 << 20, pids: 7 });
    // (Not /proc/cgroups: other runs on this host create cgroups meanwhile.)
    assert.equal(statSync(join(ROOT, 'memory', parent, 'c2')).ino, inode, 'the same cgroup, renamed: none was created');
    assert.deepEqual(files2, CONTROLLERS.map((c) => join(ROOT, c, parent, 'c2', 'cgroup.procs')));
    assert.equal(read(parent, 'memory', 'c2', 'memory.limit_in_bytes'), String(64 << 20));
    assert.equal(read(parent, 'pids', 'c2', 'pids.max'), '7');
    assert.equal(read(parent, 'cpu', 'c2', 'cpu.cfs_quota_us'), '-1', "the last container's CPU limit is gone");
    assert.equal(read(parent, 'memory', 'c2', 'memory.failcnt'), '0');
    const stats = await pool.stats('c2');
    assert.ok((stats.memoryPeakBytes ?? 0) < 4 << 20, `peak reset: ${JSON.stringify(stats)}`);
    assert.ok(stats.memoryBytes < 4 << 20, `charge reclaimed: ${JSON.stringify(stats)}`);
    assert.equal(stats.oomKills, 0);
    await pool.remove('c2');
    await pool.drainPool();
    for (const c of CONTROLLERS) assert.deepEqual(await readdir(join(ROOT, c, parent)).then((e) => e.filter((n) => isPoolMember(n))), [], c);
  });

  it('renames a cgroup while its processes run; they stay in it', async () => {
    const { parent, pool } = realPool();
    const { procsFiles } = await pool.create('c3', { pids: 10 });
    const child = await startIn(procsFiles, ['sh', '-c', 'read x; exec sleep 30']);
    await pool.rename('c3', 'c4');
    const lines = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
    for (const c of CONTROLLERS) assert.match(lines, new RegExp(`:${c}:/${parent}/c4$`, 'm'), c);
    assert.deepEqual(await pool.pids('c4'), [child.pid]);
    assert.equal(read(parent, 'pids', 'c4', 'pids.max'), '10');
    assert.equal(await pool.exists('c3'), false);
    await assert.rejects(pool.rename('c3', 'c5'), (e) => isRegError(e, 'CGROUP_FAILED') && /does not exist/.test(e.message));
    await pool.create('c6', {});
    await assert.rejects(pool.rename('c6', 'c4'), (e) => isRegError(e, 'CGROUP_FAILED') && /already exists/.test(e.message));
    assert.deepEqual(await pool.pids('c4'), [child.pid], 'a refused rename moved nothing');
    await pool.remove('c4');
    await exited(child);
    assert.equal(child.signalCode, 'SIGKILL');
    await pool.remove('c6');
  });

  it('drops members removed or populated behind its back, and never hands them out', async () => {
    const { parent, pool } = realPool();
    await pool.reserve(3);
    assert.equal(pool.poolStats().idle, 3);
    const members = (await readdir(join(ROOT, 'memory', parent))).filter(isPoolMember);
    assert.equal(members.length, 3);
    // One removed by someone else, one with a process put into it.
    for (const c of CONTROLLERS) await rmdir(join(ROOT, c, parent, members[0]!));
    const intruder = spawn('sleep', ['30']);
    children.push(intruder);
    await writeFile(join(ROOT, 'memory', parent, members[1]!, 'cgroup.procs'), String(intruder.pid));
    for (const name of ['d1', 'd2', 'd3']) {
      await pool.create(name, { pids: 4 });
      assert.deepEqual(await pool.pids(name), [], `${name} is empty`);
      assert.equal(read(parent, 'pids', name, 'pids.max'), '4');
    }
    assert.equal(pool.poolStats().dropped, 2, JSON.stringify(pool.poolStats()));
    await exited(intruder);
    assert.equal(existsSync(join(ROOT, 'memory', parent, members[1]!)), false, 'the populated member was removed');
    for (const name of ['d1', 'd2', 'd3']) await pool.remove(name);
    assert.equal(pool.poolStats().idle, 3);
    await pool.drainPool();
  });

  it('a member that lost one controller directory is completed on hand-out', async () => {
    const { parent, pool } = realPool();
    await pool.reserve(1);
    const [member] = (await readdir(join(ROOT, 'memory', parent))).filter(isPoolMember);
    await rmdir(join(ROOT, 'pids', parent, member!));
    const { procsFiles } = await pool.create('p1', { pids: 3 });
    for (const f of procsFiles) assert.ok(existsSync(f), f);
    assert.equal(read(parent, 'pids', 'p1', 'pids.max'), '3');
    assert.equal(pool.poolStats().handedOut, 1);
    await pool.remove('p1');
    await pool.drainPool();
  });

  it('does not recycle a cgroup that recorded an OOM kill', async () => {
    const { parent, pool } = realPool();
    const { procsFiles } = await pool.create('o1', { memoryBytes: 32 << 20, swapBytes: 0 });
    const child = await startIn(procsFiles, [python(), '-c', "import sys; sys.stdin.readline(); b = b'x' * (200 << 20)"]);
    await exited(child);
    assert.equal(child.signalCode, 'SIGKILL');
    await pool.remove('o1');
    assert.equal(pool.poolStats().idle, 0);
    assert.equal(pool.poolStats().removed, 1);
    assert.equal(existsSync(join(ROOT, 'memory', parent, 'o1')), false);
  });

  it('a new driver over the same parent (the host killed) adopts the pool, and reconcile recycles stray cgroups', async () => {
    const { parent, pool } = realPool();
    await pool.reserve(2);
    // A container cgroup of a "killed host", with its process still running and no state for it.
    const { procsFiles } = await pool.create('a1b2c3d4e5f6', {});
    const orphan = await startIn(procsFiles, ['sh', '-c', 'read x; exec sleep 30']);

    const next = realPool(parent).pool;
    const home = await mkdtemp(join(tmpdir(), 'reg-pool-home-'));
    temps.push(home);
    const result = await reconcile({ home: regHome(home), cgroups: next });
    assert.deepEqual(result.strayCgroups, ['a1b2c3d4e5f6']);
    await exited(orphan);
    assert.equal(next.poolStats().recycled, 1, 'the stray cgroup went into the pool');
    // reserve(2) made two; the container took one: one adopted, one recycled.
    assert.equal(next.poolStats().idle, 2, 'the adopted member and the recycled one');
    assert.deepEqual(await next.list(), []);
    const members = (await readdir(join(ROOT, 'memory', parent))).filter(isPoolMember);
    assert.equal(members.length, 2);
    await next.create('e1', {});
    assert.equal(next.poolStats().handedOut, 1);
    await next.remove('e1');
    await next.drainPool();
  });
});

describe('cgroup pool (fake cgroupfs v2: aliases instead of rename)', () => {
  async function fakePool() {
    const root = await mkdtemp(join(tmpdir(), 'reg-pool-v2-'));
    temps.push(root);
    const fs = await FakeCgroupFs.create(root);
    const base = new CgroupV2Driver({ root, fs });
    return { root, fs, base, pool: new PooledCgroupDriver(base, { idleMs: 0 }) };
  }

  it('hands out a reset member under the container name; limits from the hand-out only', async () => {
    const { root, fs, pool, base } = await fakePool();
    await pool.create('c1', { memoryBytes: 64 << 20, pids: 5, cpuMillicores: 500 });
    await writeFile(join(root, 'reg', 'c1', 'memory.current'), '5000000\n');
    await pool.remove('c1');
    assert.equal(pool.poolStats().recycled, 1);
    const [member] = (await base.list()).filter(isPoolMember);
    assert.ok(member, 'an idle member (on v2: an alias of the directory c1 was)');
    assert.ok(fs.writes.some((w) => w.path === join(root, 'reg', 'c1', 'memory.reclaim') && w.value === '5000000'), 'memory reclaimed');
    const { procsFiles } = await pool.create('c2', { pids: 9 });
    assert.deepEqual(procsFiles, [join(root, 'reg', 'c1', 'cgroup.procs')], 'the same directory, reached by alias');
    const text = (f: string) => readFileSync(join(root, 'reg', 'c1', f), 'utf8').trim();
    assert.equal(text('pids.max'), '9');
    assert.equal(text('memory.max'), 'max');
    assert.equal(text('cpu.max'), 'max 100000');
    assert.deepEqual(await pool.list(), ['c2']);
    assert.deepEqual(await base.list(), ['c2'], 'the member is hidden under its own name');
    assert.equal(await pool.exists('c2'), true);
    // A recycled cgroup's peak may be the last container's: not reported.
    assert.equal((await pool.stats('c2')).memoryPeakBytes, undefined);
    await fs.write(procsFiles[0]!, '501');
    assert.deepEqual(await pool.pids('c2'), [501]);
    await pool.remove('c2');
    assert.equal(await pool.exists('c2'), false);
    assert.deepEqual(await pool.list(), []);
    assert.equal(pool.poolStats().idle, 1);
  });

  it('rename: two takers of one member, one wins; a taken name refuses; stale aliases are cleared', async () => {
    const { root, base } = await fakePool();
    await base.create('pool-0000000a', {});
    await base.create('x', {});
    const results = await Promise.allSettled([base.rename('pool-0000000a', 'c1'), base.rename('pool-0000000a', 'c2')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const winner = (await base.list()).filter((n) => n !== 'x');
    assert.equal(winner.length, 1);
    await assert.rejects(base.rename('x', winner[0]!), (e) => isRegError(e, 'CGROUP_FAILED') && /already exists/.test(e.message));
    // Renaming the alias again, then back to its own name.
    await base.rename(winner[0]!, 'c3');
    assert.deepEqual(await base.list(), ['c3', 'x']);
    await base.rename('c3', 'pool-0000000a');
    assert.deepEqual(await base.list(), ['pool-0000000a', 'x']);
    // The directory removed behind our back: the alias goes with it.
    await base.rename('pool-0000000a', 'c4');
    await rm(join(root, 'reg', 'pool-0000000a'), { recursive: true });
    assert.deepEqual(await base.list(), ['x']);
    assert.equal(await base.exists('c4'), false);
  });

  it('a populated or OOM-marked cgroup is not reset for reuse', async () => {
    const { root, fs, base } = await fakePool();
    const { procsFiles } = await base.create('c1', {});
    await fs.write(procsFiles[0]!, '77');
    assert.equal(await base.resetForReuse('c1'), false);
    await base.create('c2', {});
    await writeFile(join(root, 'reg', 'c2', 'memory.events'), 'oom 1\noom_kill 1\n');
    assert.equal(await base.resetForReuse('c2'), false);
  });
});

describe('pool options from the environment', () => {
  it('is on by default, off with REG_CGROUP_POOL=0, and names a bad value', () => {
    assert.deepEqual(poolOptionsFromEnv({}), {});
    assert.equal(poolOptionsFromEnv({ REG_CGROUP_POOL: '0' }), false);
    assert.deepEqual(poolOptionsFromEnv({ REG_CGROUP_POOL_MAX: '10', REG_CGROUP_POOL_MIN: '2' }), { maxIdle: 10, minIdle: 2 });
    assert.throws(() => poolOptionsFromEnv({ REG_CGROUP_POOL: 'yes' }), (e) => isRegError(e, 'USAGE') && e.field === 'REG_CGROUP_POOL');
    assert.throws(() => poolOptionsFromEnv({ REG_CGROUP_POOL_MAX: '-1' }), (e) => isRegError(e, 'USAGE') && e.field === 'REG_CGROUP_POOL_MAX');
  });
});
