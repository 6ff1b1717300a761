// RETs from Debian packages: numpy (with OpenBLAS), pandas and pytest built without installing
// anything on the host, used in real containers beside the host-built python, inserted into a
// running interpreter, and the bad inputs (unknown package, a conflict with a RET in the store, a
// truncated .deb in the cache). Needs root and apt; downloads are cached in $REG_CACHE/debs or
// /var/cache/reg-debs and shared by runs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Engine } from '../container/engine.js';
import { containerPaths } from '../container/state.js';
import { RegError } from '../errors.js';
import { snapshot, tempHome } from '../test-support/temp-home.js';
import { addRet } from './add.js';
import { buildFromDeb, retVersionOf } from './build-from-deb.js';
import { buildFromHost } from './build-from-host.js';
import { composeRet } from './compose.js';
import { readMaintainerScript } from './deb-unpack.js';
import { listVersions, loadRet } from './repository.js';

const skip = process.getuid?.() !== 0 ? 'needs root: overlay mounts, namespaces, cgroups' : !existsSync('/usr/bin/apt-get') ? 'needs apt-get (a Debian host)' : false;
const home = tempHome('reg-deb-');
let engine: Engine;
let python = '3.11';

async function run(ret: string, command: string[]): Promise<{ code: number | undefined; output: string }> {
  let out = '';
  const r = await engine.run({
    ret,
    command,
    rm: true,
    spawn: (file, args) => {
      const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { pid: c.pid!, exited: new Promise((res) => c.on('close', (code, signal) => res({ code, signal }))) };
    },
  });
  return { code: r.outcome.code, output: out };
}

before(async () => {
  if (skip) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
  python = (await listVersions(home, 'python'))[0]!;
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

test('Debian versions become RET versions', () => {
  assert.equal(retVersionOf('1:1.24.2-1+deb12u1'), '1.24.2');
  assert.equal(retVersionOf('2:9.0.1378-2+deb12u2'), '9.0.1378');
  assert.equal(retVersionOf('590-2.1~deb12u2'), '590');
  assert.equal(retVersionOf('3.6.1+dfsg+~3.5.14-1'), '3.6.1+dfsg+3.5.14');
  assert.equal(retVersionOf('20230311'), '20230311');
});

test('maintainer scripts are read, not run: alternatives and plain links are recreated, the rest reported', () => {
  const r = readMaintainerScript('x', '#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n  update-alternatives --install /usr/bin/editor editor /bin/nano 40 \\\n    --slave /usr/share/man/man1/editor.1.gz editor.1.gz /usr/share/man/man1/nano.1.gz\n  ln -s bash /bin/sh\n  add-shell /bin/bash\nfi\n');
  assert.deepEqual(r.alternatives.map((a) => [a.link, a.target, a.priority]), [['/usr/bin/editor', '/bin/nano', 40], ['/bin/sh', '/bin/bash', 0]]);
  assert.deepEqual(r.notDone, ['add-shell /bin/bash']);
});

test('numpy with OpenBLAS: libraries as shared library RETs, the package requires python', { skip }, async () => {
  const report = await buildFromDeb(home, ['python3-numpy', 'libopenblas0-pthread']);
  assert.deepEqual(report.runtime, { name: 'python3-numpy', version: '1.24.2' });
  const numpy = await loadRet(home, 'python3-numpy', '1.24.2');
  assert.equal(numpy.kind, 'package');
  assert.equal(numpy.source?.deb?.package, 'python3-numpy');
  assert.match(numpy.source!.deb!.version, /^1:1\.24\.2-/);
  assert.ok(numpy.requires?.includes(`python@${python.split('.').slice(0, 2).join('.')}`), `requires the runtime it extends: ${numpy.requires}`);
  assert.ok(numpy.libs?.includes('libc@6'), 'the host-built libc is reused');
  for (const lib of ['libopenblas', 'libgfortran', 'libblas', 'liblapack']) {
    const versions = await listVersions(home, lib);
    assert.equal(versions.length, 1, `${lib} is one library RET`);
    assert.equal((await loadRet(home, lib, versions[0]!)).kind, 'library');
  }
  assert.ok(!numpy.lock.files.some((f) => f.path.startsWith('usr/share/doc/')), 'docs are left out');
  // Building the same version again stores nothing new.
  const again = await buildFromDeb(home, ['python3-numpy', 'libopenblas0-pthread']);
  assert.equal(again.newBlobs, 0);
  assert.deepEqual(again.rets.filter((r) => r.status !== 'unchanged'), []);
});

test('pandas and pytest reuse the numpy RET; solve, group-by and a numpy test module run in a container', { skip }, async () => {
  const report = await buildFromDeb(home, ['python3-pandas', 'python3-pytest', 'python3-hypothesis']);
  assert.ok(!report.rets.some((r) => r.name === 'python3-numpy'), 'numpy came from the store');
  assert.ok(report.reused.includes('python3-numpy'));
  const pandas = await loadRet(home, 'python3-pandas', (await listVersions(home, 'python3-pandas'))[0]!);
  assert.ok(pandas.requires?.includes('python3-numpy@1.24.2'), `${pandas.requires}`);
  await composeRet(home, { name: 'sci', version: '1', members: [`python@${python}`, 'python3-pandas@1.5', 'python3-pytest@7', 'python3-hypothesis'] });
  const r = await run('sci@1', ['python3', '-c', [
    'import numpy as np, pandas as pd',
    'print(np.linalg.solve(np.array([[3., 1.], [1., 2.]]), np.array([9., 8.])).tolist())',
    "df = pd.DataFrame({'g': ['a', 'b', 'a', 'b', 'c'], 'v': [1, 2, 3, 4, 5]})",
    "print(df.groupby('g')['v'].sum().to_dict())",
    "print(any('openblas' in l for l in open('/proc/self/maps')))",
    "print(sorted({l.split()[4] for l in open('/proc/self/maps') if '_multiarray_umath' in l}))",
  ].join('\n')]);
  assert.equal(r.code, 0, r.output);
  const lines = r.output.trim().split('\n');
  assert.deepEqual(lines.slice(0, 3), ['[2.0, 3.0]', "{'a': 4, 'b': 6, 'c': 5}", 'True']);
  // The container maps the store's own inode of numpy's core extension (shared by every container).
  const layer = readdirSync(home.layers).find((d) => d.startsWith('python3-numpy@1.24.2-'))!;
  const core = join(home.layers, layer, 'usr/lib/python3/dist-packages/numpy/core');
  const so = readdirSync(core).find((f) => f.startsWith('_multiarray_umath.') && f.endsWith('.so'))!;
  assert.equal(lines[3], `['${statSync(join(core, so)).ino}']`);
  // No failure allowed: the same module passes on a Debian host with these packages installed.
  const t = await run('sci@1', ['python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '/usr/lib/python3/dist-packages/numpy/linalg/tests/test_linalg.py']);
  assert.equal(t.code, 0, t.output.slice(-3000));
  assert.match(t.output, /\d+ passed/);
  assert.doesNotMatch(t.output, /\d+ failed/);
});

test('reg install: numpy is inserted into a running python, imported without a restart, uninstalled again', { skip }, async (t) => {
  const script = [
    'import os, time',
    'try:',
    '    import numpy',
    "    open('/work/before', 'w').write('had numpy')",
    'except ImportError:',
    "    open('/work/before', 'w').write('no numpy')",
    "while not os.path.exists('/usr/lib/python3/dist-packages/numpy/__init__.py'): time.sleep(0.02)",
    'import numpy',
    "open('/work/after', 'w').write(str(numpy.linalg.solve([[3, 1], [1, 2]], [9, 8]).tolist()))",
    "while os.path.exists('/usr/lib/python3/dist-packages/numpy/__init__.py'): time.sleep(0.02)",
    "open('/work/gone', 'w').write('gone')",
  ].join('\n');
  // A detached start leaves no handle of ours: keep the loop alive while the engine's event tail
  // (whose backstop timer is unref'd) waits for the launcher (seen: the runner's "promise still
  // pending but the event loop has already resolved" otherwise).
  const keepAlive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(keepAlive));
  const s = await engine.generate({ ret: `python@${python}`, command: ['python3', '-c', script] });
  const started = await engine.start(s.id);
  const p = containerPaths(home, s.id);
  for (let i = 0; i < 400 && !existsSync(join(p.project, 'before')); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(readFileSync(join(p.project, 'before'), 'utf8'), 'no numpy');
  const ins = await engine.insert(s.id, 'python3-numpy@1.24');
  assert.ok(ins.inserted[0]!.rets.includes('python3-numpy@1.24.2'));
  assert.ok(ins.inserted[0]!.rets.some((r) => r.startsWith('libopenblas@')), 'and what it requires that the container lacked');
  assert.ok(!ins.inserted[0]!.lowerdirs.some((l) => basename(l).startsWith('python@')), 'but not what it already had');
  for (let i = 0; i < 400 && !existsSync(join(p.project, 'after')); i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(readFileSync(join(p.project, 'after'), 'utf8'), '[2.0, 3.0]');
  assert.equal((await engine.inspect(s.id)).initPid, started.state.initPid, 'the same process, not a restart');
  await engine.uninstall(s.id, 'python3-numpy@1.24');
  const done = await engine.wait(started, 60_000);
  assert.deepEqual(done.outcome, { outcome: 'exited', code: 0 });
  assert.equal(readFileSync(join(p.project, 'gone'), 'utf8'), 'gone');
  await engine.remove(s.id);
});

test('a package that does not exist is named; the store is unchanged', { skip }, async () => {
  const before = snapshot(home.root);
  await assert.rejects(buildFromDeb(home, ['python3-numpy', 'no-such-package-for-reg']), (e: unknown) => {
    assert.ok(e instanceof RegError);
    assert.equal(e.code, 'RET_NOT_FOUND');
    assert.match(e.message, /"no-such-package-for-reg" does not exist/);
    return true;
  });
  await assert.rejects(buildFromDeb(home, ['Bad Name']), /is not a Debian package name/);
  const afterwards = snapshot(home.root);
  const changed = [...new Set([...before.keys(), ...afterwards.keys()])].filter((k) => before.get(k) !== afterwards.get(k));
  assert.deepEqual(changed, []);
});

test('a package whose files conflict with a RET it requires: both are named, the store is unchanged', { skip }, async () => {
  const h = tempHome('reg-deb-conflict-');
  try {
    // A python@3.11 that already has a different six.py where python3-six puts its own.
    const root = mkdtempSync(join(tmpdir(), 'reg-fake-python-'));
    mkdirSync(join(root, 'usr/lib/python3/dist-packages'), { recursive: true });
    writeFileSync(join(root, 'usr/lib/python3/dist-packages/six.py'), '# not six\n');
    writeFileSync(join(h.root, 'python.yaml'), 'name: python\nversion: "3.11.99"\nfiles:\n  six: /usr/lib/python3/dist-packages/six.py\n');
    await addRet(h, join(h.root, 'python.yaml'), { root });
    rmSync(root, { recursive: true, force: true });
    const before = snapshot(h.root);
    await assert.rejects(buildFromDeb(h, ['python3-six']), (e: unknown) => {
      assert.ok(e instanceof RegError);
      assert.equal(e.code, 'PATH_CONFLICT');
      assert.match(e.message, /python3-six@1\.16\.0/);
      assert.match(e.message, /python@3\.11\.99/);
      assert.match(e.message, /six\.py/);
      return true;
    });
    assert.deepEqual(snapshot(h.root), before);
  } finally {
    h.cleanup();
  }
});

test('a truncated .deb in the cache is detected by its hash and fetched again', { skip }, async () => {
  const cache = mkdtempSync(join(tmpdir(), 'reg-deb-cache-'));
  try {
    await buildFromDeb(home, ['python3-six'], { cacheDir: cache });
    const deb = readdirSync(cache).find((f) => f.startsWith('python3-six_'))!;
    const size = statSync(join(cache, deb)).size;
    truncateSync(join(cache, deb), Math.floor(size / 2));
    const lines: string[] = [];
    const report = await buildFromDeb(home, ['python3-six'], { cacheDir: cache, log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => l.includes(`cached ${deb} is truncated`)), lines.join('\n'));
    assert.equal(statSync(join(cache, deb)).size, size);
    assert.deepEqual(report.rets.map((r) => `${r.name} ${r.status}`), ['python3-six unchanged']);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
