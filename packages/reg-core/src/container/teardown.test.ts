// Batch teardown (stopMany / removeMany) with real containers, and the pool they recycle into.
// Needs root (CI is root); skipped with the reason otherwise.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPoolMember } from '../cgroup/pool.js';
import { isRegError } from '../errors.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { cgroupParentFor, Engine } from './engine.js';
import { isSameProcess } from './proc.js';
import { trashEmptied } from './remove.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: namespaces, overlay mounts and cgroups';
if (skip) console.log(`# skipping batch teardown tests: ${skip}`);
const home = tempHome('reg-teardown-');
let engine: Engine;
let python = '';

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  const r = await buildFromHost(home, '/usr/bin/python3.11');
  python = `${r.runtime.name}@${r.runtime.version}`;
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  assert.ok(!existsSync(`/sys/fs/cgroup/memory/${cgroupParentFor(home)}`), 'no cgroup left behind');
  home.cleanup();
});

const memoryParent = () => `/sys/fs/cgroup/memory/${cgroupParentFor(home)}`;

test('removeMany(force) stops and removes running containers at once, recycling their cgroups', { skip }, async () => {
  const ids: string[] = [];
  const pids: Array<[number, string | undefined]> = [];
  // A SIGTERM-ignoring process and a forking one among plain sleepers.
  const commands = [
    ['/usr/bin/python3.11', '-c', 'import time; time.sleep(600)'],
    ['/usr/bin/python3.11', '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'],
    ['/usr/bin/python3.11', '-c', 'import os, time\nfor _ in range(5):\n  if os.fork() == 0: break\ntime.sleep(600)'],
    ['/usr/bin/python3.11', '-c', 'import time; time.sleep(600)'],
  ];
  for (const command of commands) {
    const s = await engine.generate({ ret: python, command, limits: { pids: 32 } });
    const started = await engine.start(s.id);
    assert.equal(started.state.status, 'running');
    ids.push(s.id);
    pids.push([started.state.initPid!, started.state.initStartTime]);
  }
  const poolBefore = readdirSync(memoryParent()).filter(isPoolMember).length;
  const r = await engine.removeMany(ids, { force: true });
  assert.deepEqual(r.failed, []);
  assert.deepEqual(r.done.map((s) => s.status), ids.map(() => 'removed'));
  for (const [pid, t] of pids) assert.equal(await isSameProcess(pid, t), false, `pid ${pid} is gone`);
  for (const id of ids) {
    assert.equal(existsSync(join(home.containers, id)), false, `container dir ${id}`);
    assert.equal(existsSync(join(memoryParent(), id)), false, `cgroup ${id}`);
  }
  assert.equal(readdirSync(memoryParent()).filter(isPoolMember).length, poolBefore + ids.length, 'every cgroup went back into the pool');
  assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(home.root)).length, 0, 'no mount left');
  // Their directories went to .trash and are deleted in the background.
  await trashEmptied();
  assert.deepEqual(readdirSync(join(home.containers, '.trash')), []);
});

test('stopMany reports what it cannot stop and still stops the rest', { skip }, async () => {
  const a = await engine.generate({ ret: python, command: ['/usr/bin/python3.11', '-c', 'import time; time.sleep(600)'] });
  const b = await engine.generate({ ret: python, command: ['/usr/bin/python3.11', '-c', 'import time; time.sleep(600)'] });
  await engine.start(a.id);
  const r = await engine.stopMany([a.id, b.id, 'no-such-container'], { graceMs: 100 });
  assert.deepEqual(r.done.map((s) => [s.id, s.status]), [[a.id, 'stopped']]);
  assert.equal(r.failed.length, 2);
  assert.ok(r.failed.some((f) => f.id === b.id && isRegError(f.error, 'ILLEGAL_TRANSITION')));
  assert.ok(r.failed.some((f) => f.id === 'no-such-container' && isRegError(f.error, 'CONTAINER_NOT_FOUND')));
  await engine.removeMany([a.id, b.id]);
});
