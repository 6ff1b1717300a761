// A REG_HOME's cgroup parent goes with its last container, and `reg cgroup prune` removes the
// parents of homes that no longer exist (on a stand-in tree: real parents belong to other runs).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cgroupParentFor, Engine } from '../container/engine.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { readdir } from 'node:fs/promises';
import { parentDirs, PARENT_MARKS, pruneCgroupParents, removeCgroupParent } from './parents.js';
import { isPoolMember } from './pool.js';

const isRoot = process.getuid?.() === 0;
const home = tempHome('reg-parents-');
const scratch = mkdtempSync(join(tmpdir(), 'reg-prune-'));
after(() => {
  home.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

test('the parent is marked with its home; after its last container it holds only idle pool members, and dispose removes it', { skip: !isRoot && 'needs root (cgroups)' }, async () => {
  const engine = await Engine.open({ home });
  const parent = cgroupParentFor(home);
  assert.equal(readFileSync(join(PARENT_MARKS, parent), 'utf8'), home.root);
  await buildFromHost(home, '/usr/bin/python3.11');
  const r = await engine.run({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', 'pass'], rm: true, spawn: (file, args) => {
    const c = spawn(file, args, { stdio: 'ignore' });
    return { pid: c.pid!, exited: new Promise((res) => c.on('close', (code, signal) => res({ code, signal }))) };
  } });
  assert.equal(r.outcome.outcome, 'exited');
  // The deferred removal after a run settles within a moment: the container's cgroup went back into the pool.
  const children = async () => (await Promise.all((await parentDirs(parent)).map((d) => readdir(d, { withFileTypes: true }).catch(() => [])))).flat().filter((e) => e.isDirectory()).map((e) => e.name);
  for (let i = 0; i < 100 && (await children()).some((n) => !isPoolMember(n)); i++) await new Promise((res) => setTimeout(res, 20));
  const left = await children();
  assert.ok(left.length > 0 && left.every(isPoolMember), `only idle pool members are left: ${left.join(', ')}`);
  await engine.disposeCgroupParent();
  assert.deepEqual((await parentDirs(parent)).filter(existsSync), [], 'no parent left in any hierarchy');
});

test('prune removes parents whose home is gone, keeps live homes and parents with busy cgroups', async () => {
  const root = join(scratch, 'cgroup');
  const marks = join(scratch, 'marks');
  mkdirSync(marks, { recursive: true });
  const alive = mkdtempSync(join(scratch, 'home-'));
  const parents = { alive: 'reg-aaaaaaaaaaaa', gone: 'reg-bbbbbbbbbbbb', unmarked: 'reg-cccccccccccc', busy: 'reg-dddddddddddd' };
  for (const h of ['memory', 'pids']) for (const p of Object.values(parents)) mkdirSync(join(root, h, p, 'child0'), { recursive: true });
  mkdirSync(join(root, 'memory', 'unrelated'), { recursive: true });
  // A "cgroup with processes": rmdir fails on it (here: a non-empty directory).
  writeFileSync(join(root, 'pids', parents.busy, 'child0', 'cgroup.procs'), '123\n');
  writeFileSync(join(marks, parents.alive), alive);
  writeFileSync(join(marks, parents.gone), join(scratch, 'deleted-home'));
  writeFileSync(join(marks, parents.busy), join(scratch, 'deleted-home-2'));
  const dry = await pruneCgroupParents({ root, marks, names: join(scratch, 'names'), dryRun: true });
  assert.ok(existsSync(join(root, 'memory', parents.gone)), 'a dry run removes nothing');
  assert.equal(dry.removed.length + dry.busy.length, 3);
  const names = join(scratch, 'names');
  mkdirSync(join(names, parents.gone), { recursive: true });
  writeFileSync(join(names, parents.gone, 'c1'), 'pool-00000001');
  const r = await pruneCgroupParents({ root, marks, names });
  assert.ok(!existsSync(join(names, parents.gone)), "the v2 rename records go with their parent");
  assert.deepEqual(r.removed.map((x) => x.parent).sort(), [parents.gone, parents.unmarked]);
  assert.deepEqual(r.busy.map((x) => x.parent), [parents.busy]);
  for (const h of ['memory', 'pids']) {
    assert.ok(existsSync(join(root, h, parents.alive)), 'a live home keeps its parent');
    assert.ok(!existsSync(join(root, h, parents.gone)));
    assert.ok(!existsSync(join(root, h, parents.unmarked)));
  }
  assert.ok(existsSync(join(root, 'pids', parents.busy, 'child0')), 'a busy cgroup is never removed');
  assert.ok(existsSync(join(root, 'memory', 'unrelated')));
  assert.ok(!existsSync(join(marks, parents.gone)), 'the mark goes with its parent');
});

test('removeCgroupParent (a deleted home): empty children (idle pool members, a killed host\'s parked launchers) go with the parent; a cgroup with a live process is kept and reported, its process untouched', { skip: !isRoot && 'needs root (cgroups)' }, async () => {
  const gone = mkdtempSync(join(tmpdir(), 'reg-parent-gone-'));
  rmSync(gone, { recursive: true, force: true });
  const parent = cgroupParentFor({ root: gone } as Parameters<typeof cgroupParentFor>[0]);
  // Real hierarchies only: the v1 controllers here (/sys/fs/cgroup is a tmpfs), /sys/fs/cgroup itself on v2.
  const dirs = (await parentDirs(parent)).filter((d) => existsSync(join(d, '..', 'cgroup.procs')));
  assert.ok(dirs.length > 0);
  for (const d of dirs) for (const c of ['park-0000aaaa', 'pool-0000bbbb', 'busy']) mkdirSync(join(d, c), { recursive: true });
  mkdirSync(PARENT_MARKS, { recursive: true });
  writeFileSync(join(PARENT_MARKS, parent), gone);
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pidsDir = dirs.find((d) => d.includes('/pids/'))!;
  writeFileSync(join(pidsDir, 'busy', 'cgroup.procs'), String(sleeper.pid));
  try {
    const busy = await removeCgroupParent(parent, { waitMs: 300 });
    assert.deepEqual(busy, ['busy']);
    assert.ok(!existsSync(join(pidsDir, 'park-0000aaaa')) && !existsSync(join(pidsDir, 'pool-0000bbbb')), 'the empty children are gone');
    assert.equal(sleeper.exitCode, null, 'a process is never killed here');
  } finally {
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.once('exit', r));
  }
  assert.deepEqual(await removeCgroupParent(parent), [], 'once its process is gone, the rest goes');
  assert.deepEqual(dirs.filter(existsSync), [], 'no parent left in any hierarchy');
  assert.ok(!existsSync(join(PARENT_MARKS, parent)), 'its mark is gone');
});
