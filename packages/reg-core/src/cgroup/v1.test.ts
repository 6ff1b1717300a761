// The v1 driver against the real /sys/fs/cgroup with real processes. Needs root and a v1 (or
// hybrid) host; skipped with the reason printed otherwise. Every cgroup and child is cleaned up in
// `after`, even when a test fails.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isRegError } from '../errors.js';
import { sleep } from './cgroupfs.js';
import { detectCgroupVersion } from './detect.js';
import { CgroupV1Driver } from './v1.js';

const ROOT = '/sys/fs/cgroup';
const version = await detectCgroupVersion().catch(() => undefined);
const skip =
  process.getuid?.() !== 0 ? 'needs root to create real cgroups' : version !== 1 ? `host is not cgroup v1 (detected ${version ?? 'nothing'})` : false;
if (skip) console.log(`# skipping cgroup v1 tests: ${skip}`);

const driver = new CgroupV1Driver();
const created: string[] = [];
const children: ChildProcess[] = [];
// The driver's default parent is the default REG_HOME's (`reg`): leave it as it was found.
const CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'];
const parentExisted = CONTROLLERS.map((c) => existsSync(join(ROOT, c, 'reg')));
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const name of created) await driver.remove(name).catch((e) => console.error(`cleanup of ${name} failed:`, e));
  CONTROLLERS.forEach((c, i) => {
    if (!parentExisted[i]) spawnSync('rmdir', [join(ROOT, c, 'reg')]);
  });
});

function newName(): string {
  const name = `reg-test-${randomBytes(4).toString('hex')}`;
  created.push(name);
  return name;
}

/** The real interpreter, not a pyenv shim script that would fork helpers outside the cgroup. */
function python(): string {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  return r.stdout.trim() || 'python3';
}

/**
 * Starts a command that first waits for a line on stdin, joins it to the cgroup, then releases
 * it, so nothing it does happens outside the cgroup.
 */
async function startIn(procsFiles: string[], cmd: string, args: string[]): Promise<ChildProcess & { output: () => string }> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  for (const f of procsFiles) await writeFile(f, String(child.pid));
  child.stdin!.write('go\n');
  return Object.assign(child, { output: () => out });
}

function exited(child: ChildProcess, timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit in ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function cgroupDirs(name: string): string[] {
  return ['memory', 'pids', 'cpu', 'freezer'].map((c) => join(ROOT, c, 'reg', name));
}

describe('cgroup v1 driver (real cgroupfs)', { skip }, () => {
  it('creates the cgroup in every controller with the limits, idempotently', async () => {
    const name = newName();
    const { procsFiles } = await driver.create(name, { memoryBytes: 64 << 20, swapBytes: 0, pids: 5, cpuMillicores: 500 });
    assert.deepEqual(procsFiles, cgroupDirs(name).map((d) => join(d, 'cgroup.procs')));
    const read = (c: string, f: string) => readFileSync(join(ROOT, c, 'reg', name, f), 'utf8').trim();
    assert.equal(read('memory', 'memory.limit_in_bytes'), String(64 << 20));
    if (existsSync(join(ROOT, 'memory', 'reg', name, 'memory.memsw.limit_in_bytes'))) {
      assert.equal(read('memory', 'memory.memsw.limit_in_bytes'), String(64 << 20));
    }
    assert.equal(read('pids', 'pids.max'), '5');
    assert.equal(read('cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(read('cpu', 'cpu.cfs_period_us'), '100000');
    await driver.create(name, { memoryBytes: 128 << 20 }); // raising memory keeps "no extra swap"
    assert.equal(read('memory', 'memory.limit_in_bytes'), String(128 << 20));
    assert.ok((await driver.list()).includes(name));
    assert.equal(await driver.exists(name), true);
  });

  it('puts a real process in it and sees it in pids()', async () => {
    const name = newName();
    const { procsFiles } = await driver.create(name, {});
    const child = await startIn(procsFiles, 'sh', ['-c', 'read x; exec sleep 30']);
    assert.deepEqual(await driver.pids(name), [child.pid]);
    assert.equal((await driver.stats(name)).pids, 1);
    await driver.remove(name);
    assert.equal((await exited(child)).signal, 'SIGKILL');
  });

  it('a pids limit stops a fork loop', async () => {
    const name = newName();
    const { procsFiles } = await driver.create(name, { pids: 5 });
    const script = 'read x; i=0; while [ $i -lt 10 ]; do sleep 30 & i=$((i+1)); echo started $i; done; wait';
    const child = await startIn(procsFiles, 'sh', ['-c', script]);
    const { code } = await exited(child);
    assert.notEqual(code, 0);
    assert.match(child.output(), /fork/i);
    assert.ok(!child.output().includes('started 10'));
    const pids = await driver.pids(name);
    assert.ok(pids.length > 0 && pids.length <= 5, `pids: ${pids.join(',')}`);
    await driver.killAll(name);
    assert.deepEqual(await driver.pids(name), []);
  });

  it('a memory limit OOM-kills a process allocating beyond it', async () => {
    const name = newName();
    const { procsFiles } = await driver.create(name, { memoryBytes: 64 << 20, swapBytes: 0 });
    // b'x' * n writes every page (a zeroed bytearray would stay untouched calloc memory).
    const child = await startIn(procsFiles, python(), ['-c', "import sys; sys.stdin.readline(); b = b'x' * (300 << 20); print('survived')"]);
    const { signal } = await exited(child, 30_000);
    assert.equal(signal, 'SIGKILL', child.output());
    const stats = await driver.stats(name);
    assert.ok(stats.oomKills >= 1, JSON.stringify(stats));
    assert.ok((stats.memoryPeakBytes ?? 0) > 32 << 20, JSON.stringify(stats));
  });

  it('killAll kills a process that ignores SIGTERM, and a fork bomb', async () => {
    const name = newName();
    const { procsFiles } = await driver.create(name, { pids: 64 });
    const stubborn = await startIn(procsFiles, 'sh', ['-c', "trap '' TERM; read x; sleep 30"]);
    const bomb = await startIn(procsFiles, python(), [
      '-c',
      'import os, sys, time\nsys.stdin.readline()\nwhile True:\n  try: os.fork()\n  except OSError: time.sleep(0.001)',
    ]);
    await sleep(300);
    stubborn.kill('SIGTERM');
    await sleep(100);
    assert.equal(stubborn.exitCode, null);
    assert.ok((await driver.pids(name)).length > 10, 'the bomb forked');
    await driver.killAll(name, { timeoutMs: 5000 });
    assert.deepEqual(await driver.pids(name), []);
    assert.equal((await exited(stubborn)).signal, 'SIGKILL');
    assert.equal((await exited(bomb)).signal, 'SIGKILL');
    assert.equal(readFileSync(join(ROOT, 'freezer', 'reg', name, 'freezer.state'), 'utf8').trim(), 'THAWED');
  });

  it('remove leaves no directory behind and is idempotent', async () => {
    const name = newName();
    const { procsFiles } = await driver.create(name, { pids: 10 });
    await startIn(procsFiles, 'sh', ['-c', 'read x; sleep 30 & sleep 30']);
    await sleep(100);
    await driver.remove(name);
    for (const dir of cgroupDirs(name)) assert.equal(existsSync(dir), false, dir);
    assert.equal(await driver.exists(name), false);
    await driver.remove(name);
    assert.ok(!(await driver.list()).includes(name));
  });

  it('setLimits rejects bad values and a missing cgroup', async () => {
    const name = newName();
    await driver.create(name, {});
    await assert.rejects(driver.setLimits(name, { memoryBytes: -1 }), (e) => isRegError(e, 'USAGE') && e.field === 'memoryBytes');
    await assert.rejects(driver.setLimits('reg-test-missing', { pids: 1 }), (e) => isRegError(e, 'CGROUP_FAILED'));
  });
});
