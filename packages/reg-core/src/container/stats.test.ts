// engine.stats() at scale keeps each container's smaps figures until its cgroup says something
// changed; listStates keeps parsed state files until they change. Real containers need root
// (skipped with the reason otherwise); the state cache test runs anywhere.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { Engine } from './engine.js';
import { containerPaths, listStates, saveState, type ContainerState } from './state.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: namespaces, overlay mounts and cgroups';
if (skip) console.log(`# skipping engine.stats() tests: ${skip}`);
const home = tempHome('reg-stats-');
let engine: Engine;
let python = '';

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  const r = await buildFromHost(home, '/usr/bin/python3.11');
  python = `${r.runtime.name}@${r.runtime.version}`;
});

after(async () => {
  if (engine) {
    await engine.removeMany((await engine.list({ all: true })).map((s) => s.id), { force: true });
    await engine.disposeCgroupParent();
  }
  home.cleanup();
});

test('stats() sees a container grow (its cgroup changed), and drops a stopped one', { skip }, async () => {
  // Waits for /work/go, then holds 60 MiB of its own.
  const script = 'import os, time\nwhile not os.path.exists("/work/go"): time.sleep(0.05)\nb = b"x" * (60 << 20)\ntime.sleep(600)';
  const a = await engine.generate({ ret: python, command: ['/usr/bin/python3.11', '-c', script] });
  const b = await engine.generate({ ret: python, command: ['/usr/bin/python3.11', '-c', 'import time; time.sleep(600)'] });
  await engine.start(a.id);
  await engine.start(b.id);
  await new Promise((r) => setTimeout(r, 500));
  const first = await engine.stats();
  const ofA = (s: typeof first) => s.containers.find((c) => c.id === a.id)!;
  assert.deepEqual(first.containers.map((c) => c.id).sort(), [a.id, b.id].sort());
  assert.ok(ofA(first).pss > 1 << 20 && ofA(first).pss < 40 << 20, `idle python: ${ofA(first).pss}`);
  assert.ok(ofA(first).pids >= 1);

  writeFileSync(join(containerPaths(home, a.id).project, 'go'), '');
  let grown = first;
  for (let i = 0; i < 100 && ofA(grown).uss < 60 << 20; i++) {
    await new Promise((r) => setTimeout(r, 50));
    grown = await engine.stats();
  }
  assert.ok(ofA(grown).uss >= 60 << 20, `after allocating: ${JSON.stringify(ofA(grown))} ${JSON.stringify(await engine.inspect(a.id))}`);
  assert.ok(ofA(grown).cgroupMemoryBytes >= 60 << 20);
  assert.equal(grown.total.uss >= ofA(grown).uss, true);

  await engine.stop(b.id, { graceMs: 0 });
  const after = await engine.stats();
  assert.deepEqual(after.containers.map((c) => c.id), [a.id]);
});

test('listStates returns a state changed on disk, not the cached copy', async () => {
  const t = tempHome('reg-states-cache-');
  try {
    const s: ContainerState = {
      id: 'aaaaaaaaaaaa', ret: 'x@1', rets: [], inserted: [], lowerdirs: [], command: ['true'], env: {}, workdir: '/', projectDir: '', ownsProject: false,
      uid: 200000, gid: 200000, network: 'none', hostname: 'x', limits: {}, tty: false, status: 'generated', createdAt: new Date().toISOString(),
    };
    await saveState(t, s);
    assert.equal((await listStates(t))[0]!.status, 'generated');
    await saveState(t, { ...s, status: 'stopped' });
    assert.equal((await listStates(t))[0]!.status, 'stopped');
    // A caller changing what it got does not change the next caller's copy.
    const got = await listStates(t);
    got[0]!.status = 'running';
    assert.equal((await listStates(t, { trustCached: true }))[0]!.status, 'stopped');
  } finally {
    t.cleanup();
  }
});
