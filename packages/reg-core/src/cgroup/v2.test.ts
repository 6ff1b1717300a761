// The v2 driver against a fake unified hierarchy in a temp dir (fake-cgroupfs.ts emulates the kernel).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRegError } from '../errors.js';
import { detectCgroupDriver } from './detect.js';
import { FakeCgroupFs, type FakeCgroupTreeOptions } from './fake-cgroupfs.js';
import { CgroupV2Driver } from './v2.js';

const temps: string[] = [];
after(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function fakeHost(opts: FakeCgroupTreeOptions = {}) {
  const root = await mkdtemp(join(tmpdir(), 'reg-cg2-'));
  temps.push(root);
  const fs = await FakeCgroupFs.create(root, opts);
  const driver = new CgroupV2Driver({ root, fs });
  const text = async (...p: string[]) => (await readFile(join(root, ...p), 'utf8')).trim();
  return { root, fs, driver, text };
}

describe('cgroup v2 driver (fake cgroupfs)', () => {
  it('is what detection picks for a tree with cgroup.controllers', async () => {
    const { root, fs } = await fakeHost();
    const driver = await detectCgroupDriver({ root, fs });
    assert.equal(driver.version, 2);
  });

  it('create enables controllers top-down and writes every limit', async () => {
    const { root, fs, driver, text } = await fakeHost();
    const { procsFiles } = await driver.create('c1', { memoryBytes: 64 << 20, swapBytes: 0, pids: 32, cpuMillicores: 1500 });
    assert.deepEqual(procsFiles, [join(root, 'reg', 'c1', 'cgroup.procs')]);
    assert.equal(await text('cgroup.subtree_control'), 'cpu memory pids');
    assert.equal(await text('reg', 'cgroup.subtree_control'), 'cpu memory pids');
    assert.equal(await text('reg', 'c1', 'memory.max'), String(64 << 20));
    assert.equal(await text('reg', 'c1', 'memory.swap.max'), '0');
    assert.equal(await text('reg', 'c1', 'pids.max'), '32');
    assert.equal(await text('reg', 'c1', 'cpu.max'), '150000 100000');
    assert.deepEqual(
      fs.writes.filter((w) => w.path.endsWith('subtree_control')).map((w) => w.value),
      ['+cpu +memory +pids', '+cpu +memory +pids'],
    );

    // Idempotent: a second create re-applies limits but does not re-enable controllers.
    const before = fs.writes.length;
    await driver.create('c1', { pids: 16 });
    assert.equal(await text('reg', 'c1', 'pids.max'), '16');
    assert.deepEqual(fs.writes.slice(before).map((w) => w.path), [join(root, 'reg', 'c1', 'pids.max')]);
    assert.equal(await driver.exists('c1'), true);
    assert.equal(await driver.exists('c2'), false);
  });

  it('enables only offered controllers and fails cleanly on a limit it cannot apply', async () => {
    const { root, driver, text } = await fakeHost({ controllers: ['memory', 'pids'], swap: false });
    await driver.create('c1', { memoryBytes: 64 << 20, swapBytes: 0 }); // no swap accounting: swap ignored
    assert.equal(await text('reg', 'cgroup.subtree_control'), 'memory pids');
    await assert.rejects(driver.create('c2', { cpuMillicores: 500 }), (e) => isRegError(e, 'CGROUP_FAILED') && /cpu\.max/.test(e.file ?? '') && !!e.hint);
    assert.equal(existsSync(join(root, 'reg', 'c2')), false, 'half-made cgroup removed');
  });

  it('rejects bad limits and names with the field, before touching the tree', async () => {
    const { root, driver } = await fakeHost();
    await assert.rejects(driver.create('c1', { memoryBytes: -1 }), (e) => isRegError(e, 'USAGE') && e.field === 'memoryBytes');
    await assert.rejects(driver.create('c1', { pids: 0 }), (e) => isRegError(e, 'USAGE') && e.field === 'pids');
    await assert.rejects(driver.create('c1', { cpuMillicores: 1 }), (e) => isRegError(e, 'USAGE') && e.field === 'cpuMillicores');
    await assert.rejects(driver.create('../etc', {}), (e) => isRegError(e, 'USAGE') && e.field === 'name');
    assert.equal(existsSync(join(root, 'reg')), false);
  });

  it('setLimits changes only the given limits and refuses a missing cgroup', async () => {
    const { driver, text } = await fakeHost();
    await driver.create('c1', { memoryBytes: 64 << 20, pids: 8 });
    await driver.setLimits('c1', { pids: 100 });
    assert.equal(await text('reg', 'c1', 'pids.max'), '100');
    assert.equal(await text('reg', 'c1', 'memory.max'), String(64 << 20));
    await assert.rejects(driver.setLimits('nope', { pids: 1 }), (e) => isRegError(e, 'CGROUP_FAILED'));
  });

  it('stats parse memory.current, memory.peak, memory.events and pids.current', async () => {
    const { root, driver } = await fakeHost();
    await driver.create('c1', {});
    const dir = join(root, 'reg', 'c1');
    await writeFile(join(dir, 'memory.current'), '1234\n');
    await writeFile(join(dir, 'memory.peak'), '5678\n');
    await writeFile(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 3\noom_kill 2\noom_group_kill 0\n');
    await writeFile(join(dir, 'pids.current'), '4\n');
    assert.deepEqual(await driver.stats('c1'), { memoryBytes: 1234, memoryPeakBytes: 5678, oomKills: 2, pids: 4 });
    await assert.rejects(driver.stats('nope'), (e) => isRegError(e, 'CGROUP_FAILED'));
  });

  it('stats omit memoryPeakBytes on kernels without memory.peak', async () => {
    const { driver } = await fakeHost({ memoryPeak: false });
    await driver.create('c1', {});
    assert.deepEqual(await driver.stats('c1'), { memoryBytes: 0, oomKills: 0, pids: 0 });
  });

  it('killAll uses cgroup.kill when present', async () => {
    const { fs, driver } = await fakeHost();
    const { procsFiles } = await driver.create('c1', {});
    for (const pid of [101, 102]) await fs.write(procsFiles[0]!, String(pid));
    assert.deepEqual(await driver.pids('c1'), [101, 102]);
    await driver.killAll('c1');
    assert.deepEqual(await driver.pids('c1'), []);
    assert.ok(fs.writes.some((w) => w.path.endsWith('cgroup.kill') && w.value === '1'));
    assert.deepEqual(fs.killed, []);
  });

  it('killAll without cgroup.kill freezes, kills every pid, then thaws', async () => {
    const { fs, driver } = await fakeHost({ cgroupKill: false });
    const { procsFiles } = await driver.create('c1', {});
    for (const pid of [201, 202, 203]) await fs.write(procsFiles[0]!, String(pid));
    await driver.killAll('c1');
    assert.deepEqual(fs.killed, [201, 202, 203]);
    assert.deepEqual(fs.writes.filter((w) => w.path.endsWith('cgroup.freeze')).map((w) => w.value), ['1', '0']);
    assert.deepEqual(await driver.pids('c1'), []);
  });

  it('killAll gives up with CGROUP_FAILED at the deadline, and still thaws', async () => {
    const { fs, driver, text } = await fakeHost({ cgroupKill: false });
    const { procsFiles } = await driver.create('c1', {});
    await fs.write(procsFiles[0]!, '301');
    fs.kill = () => undefined; // an unkillable process (D state)
    await assert.rejects(driver.killAll('c1', { timeoutMs: 100 }), (e) => isRegError(e, 'CGROUP_FAILED') && /301/.test(e.message));
    assert.equal(await text('reg', 'c1', 'cgroup.freeze'), '0');
  });

  it('remove kills, deletes the dir (and child cgroups), is idempotent; list follows', async () => {
    const { root, fs, driver } = await fakeHost();
    await driver.create('b', {});
    const { procsFiles } = await driver.create('a', {});
    await fs.write(procsFiles[0]!, '401');
    await fs.mkdir(join(root, 'reg', 'a', 'inner'));
    await writeFile(join(root, 'reg', 'not-a-cgroup'), '');
    assert.deepEqual(await driver.list(), ['a', 'b']);
    await driver.remove('a');
    assert.equal(existsSync(join(root, 'reg', 'a')), false);
    await driver.remove('a');
    assert.deepEqual(await driver.list(), ['b']);
    await driver.remove('b');
    assert.deepEqual(await driver.list(), []);
  });

  it('killMany kills every cgroup with cgroup.kill, one write each', async () => {
    const { fs, driver } = await fakeHost();
    for (const [name, pid] of [['k1', 601], ['k2', 602], ['k3', 603]] as const) {
      const { procsFiles } = await driver.create(name, {});
      await fs.write(procsFiles[0]!, String(pid));
    }
    await driver.killMany(['k1', 'k2', 'k3', 'gone']);
    for (const name of ['k1', 'k2', 'k3']) assert.deepEqual(await driver.pids(name), []);
    assert.equal(fs.writes.filter((w) => w.path.endsWith('cgroup.kill')).length, 3);
  });

  it('killMany without cgroup.kill freezes every cgroup before killing any, and thaws them all', async () => {
    const { fs, driver } = await fakeHost({ cgroupKill: false });
    for (const [name, pid] of [['f1', 701], ['f2', 702]] as const) {
      const { procsFiles } = await driver.create(name, {});
      await fs.write(procsFiles[0]!, String(pid));
    }
    const order: string[] = [];
    const write = fs.write.bind(fs);
    fs.write = async (path, value) => {
      if (path.endsWith('cgroup.freeze')) order.push(`${value === '1' ? 'freeze' : 'thaw'} ${path.split('/').at(-2)}`);
      return write(path, value);
    };
    const kill = fs.kill.bind(fs);
    fs.kill = (pid) => {
      order.push(`kill ${pid}`);
      kill(pid);
    };
    await driver.killMany(['f1', 'f2']);
    assert.deepEqual(order.slice(0, 2).sort(), ['freeze f1', 'freeze f2']);
    assert.deepEqual(order.slice(2, 4).sort(), ['kill 701', 'kill 702']);
    assert.deepEqual(order.slice(4).sort(), ['thaw f1', 'thaw f2']);
    assert.deepEqual(await driver.pids('f1'), []);
  });

  it('list is empty before anything was created', async () => {
    const { driver } = await fakeHost();
    assert.deepEqual(await driver.list(), []);
  });
});
