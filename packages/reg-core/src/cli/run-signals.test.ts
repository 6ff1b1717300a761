// `reg run --rm --timeout N` is the owner of its container: killed by SIGTERM, SIGHUP or a
// non-terminal SIGINT it stops and removes the container before exiting 128+signal; killed by
// SIGKILL (no chance to clean up) the launcher dies with it, so the program does not run on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cgroupParentFor, Engine } from '../container/engine.js';
import { isSameProcess } from '../container/proc.js';
import { listStates } from '../container/state.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: namespaces, cgroups, loop mounts';
const home = tempHome('reg-run-signals-');
const bin = fileURLToPath(new URL('../../bin/reg.js', import.meta.url));
let engine: Engine;

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

async function runningCli(extra: string[] = ['--rm']) {
  const child = spawn(process.execPath, [bin, 'run', ...extra, '--timeout', '60', '-t', 'python@3.11', '--', '/usr/bin/python3.11', '-c', 'import time; time.sleep(120)'], {
    env: { ...process.env, REG_HOME: home.root },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  // Wait until its container runs.
  for (let i = 0; i < 200; i++) {
    const s = (await listStates(home)).find((x) => x.status === 'running' && x.initPid);
    if (s) return { child, exited, state: s, stderr: () => stderr };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`the container never ran: ${stderr}`);
}

for (const [sig, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const) {
  test(`reg run --rm killed by ${sig}: the container is stopped and removed, exit ${code}`, { skip }, async () => {
    const { child, exited, state, stderr } = await runningCli();
    child.kill(sig);
    const r = await exited;
    assert.equal(r.code, code, stderr());
    assert.match(stderr(), new RegExp(`${sig} received: the container was stopped and removed`));
    assert.equal(await isSameProcess(state.initPid, state.initStartTime), false, 'the program is gone');
    assert.ok(!existsSync(join(home.containers, state.id)), 'the container is removed');
    assert.ok(!existsSync(`/sys/fs/cgroup/pids/${cgroupParentFor(home)}/${state.id}`), 'its cgroup is removed');
  });
}

test('reg run killed by SIGKILL: the program dies with it (die-with-parent); the next look finalises the container', { skip }, async () => {
  const { child, exited, state } = await runningCli([]);
  child.kill('SIGKILL');
  await exited;
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = !(await isSameProcess(state.initPid, state.initStartTime));
    if (!gone) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(gone, 'pid 1 of the container died with the CLI');
  const after = await engine.inspect(state.id);
  assert.equal(after.status, 'stopped');
  await engine.remove(state.id);
});
