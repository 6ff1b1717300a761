import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { accountContainers, accountProcesses, readHostUsedBytes } from './accounting.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `python3` sleeping and resolves once it has printed, i.e. is fully loaded. */
function startPython(): Promise<number> {
  const child = spawn('python3', ['-c', "import time; print('ready', flush=True); time.sleep(60)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child.pid!));
    child.once('exit', (code) => reject(new Error(`python3 exited with ${code}`)));
  });
}

async function startSleeps(n: number): Promise<number[]> {
  const kids = Array.from({ length: n }, () => spawn('sleep', ['60'], { stdio: 'ignore' }));
  children.push(...kids);
  await Promise.all(kids.map((k) => new Promise((r) => k.once('spawn', r))));
  await new Promise((r) => setTimeout(r, 200)); // let every exec finish
  return kids.map((k) => k.pid!);
}

describe('accountContainers', () => {
  it('two processes of the same binary share pages and save memory', async () => {
    const [a, b] = await Promise.all([startPython(), startPython()]);
    const host = await accountContainers([
      { id: 'a', pids: [a] },
      { id: 'b', pids: [b, 2 ** 22 + 1] }, // a vanished pid is skipped, not fatal
    ]);
    assert.deepEqual(host.containers.map((c) => [c.id, c.pids]), [['a', 1], ['b', 1]]);
    for (const c of host.containers) {
      assert.ok(c.figures.shared > 0, JSON.stringify(c));
      assert.ok(c.figures.rss >= c.figures.pss && c.figures.pss > 0, JSON.stringify(c));
    }
    assert.equal(host.total.rss, host.containers[0]!.figures.rss + host.containers[1]!.figures.rss);
    assert.equal(host.savedBySharing, host.total.rss - host.total.pss);
    assert.ok(host.savedBySharing > 0);
    assert.ok(host.hostUsedBytes > 0);
  });

  it('sums processes; an empty list is all zeros', async () => {
    const pid = await startPython();
    const f = await accountProcesses([pid, pid]);
    const one = await accountProcesses([pid]);
    assert.ok(Math.abs(f.rss - 2 * one.rss) < 1 << 20);
    assert.deepEqual(await accountProcesses([]), { rss: 0, pss: 0, uss: 0, shared: 0, swap: 0 });
    assert.deepEqual((await accountContainers([])).containers, []);
  });

  it('is cheap enough to sample often: 300 sleeping processes', async (t) => {
    const pids = await startSleeps(300);
    const containers = Array.from({ length: 100 }, (_, i) => ({ id: `c${i}`, pids: pids.slice(i * 3, i * 3 + 3) }));
    await accountContainers(containers); // warm-up
    const runs = 5;
    const start = performance.now();
    let host;
    for (let i = 0; i < runs; i++) host = await accountContainers(containers);
    const ms = (performance.now() - start) / runs;
    t.diagnostic(`accounting 300 processes in 100 containers: ${ms.toFixed(1)} ms per sample`);
    assert.equal(host!.containers.reduce((n, c) => n + c.pids, 0), 300);
    assert.ok(ms < 1000, `${ms} ms`);
  });

  it('reads MemTotal - MemAvailable', async () => {
    const used = await readHostUsedBytes();
    assert.ok(used > 0 && Number.isSafeInteger(used));
  });
});
