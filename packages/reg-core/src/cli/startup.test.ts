// How the `reg` command starts: bin/reg.js runs the bundled CLI (dist/reg-cli.cjs) with V8's code
// cache, falls back to the compiled modules when the bundle is stale, survives a corrupt cache,
// and each verb loads only its own modules. Plus `reg pool` over a real cgroup hierarchy, and a
// real `reg run --rm` through the bundle (exit code, output, nothing left behind).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cgroupParentFor, Engine } from '../container/engine.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';
import { REG_VERSION } from './version.js';

const pkgRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(pkgRoot, 'bin', 'reg.js');
const bundle = join(pkgRoot, 'dist', 'reg-cli.cjs');
const isRoot = process.getuid?.() === 0;
const skipRoot = !isRoot && 'needs root: namespaces, cgroups';
const skipBundle = !existsSync(bundle) && 'dist/reg-cli.cjs is not built (npm run build -w @reg/core)';
const home = tempHome('reg-cli-startup-');
const scratch = mkdtempSync(join(tmpdir(), 'reg-cli-loader-'));

function reg(args: string[], env: NodeJS.ProcessEnv = {}, file = bin) {
  const r = spawnSync(process.execPath, [file, ...args], { env: { ...process.env, REG_HOME: home.root, REG_HOST: '', ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let engine: Engine | undefined;
before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
});

after(async () => {
  if (isRoot) {
    reg(['pool', 'drain']);
    for (const pid of parkedLaunchers()) process.kill(pid, 'SIGKILL');
  }
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

test('reg --version prints the package version, bundled or not', { skip: skipBundle }, () => {
  const pkg = JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8')) as { version: string };
  assert.equal(REG_VERSION, pkg.version, 'cli/version.ts must follow package.json');
  for (const env of [{}, { REG_CLI_BUNDLE: '0' }]) {
    const r = reg(['--version'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `reg ${pkg.version} (node ${process.version})`);
  }
});

test('the bundled and the unbundled CLI answer alike: help, usage errors, unknown commands', { skip: skipBundle }, () => {
  for (const args of [['help'], ['nosuch'], ['--home'], ['pool', 'fill', 'x'], ['run'], ['ret', 'nosuch']]) {
    const a = reg(args);
    const b = reg(args, { REG_CLI_BUNDLE: '0' });
    assert.deepEqual(a, b, `reg ${args.join(' ')}`);
  }
  const unknown = reg(['nosuch']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /reg: error\[USAGE\]: unknown command "nosuch"/);
  assert.doesNotMatch(unknown.stderr, /\n\s+at /, 'no stack trace');
});

/**
 * A copy of the loader in a tree of its own, so its choice can be seen: a marker main.js stands
 * for the unbundled CLI, the real bundle for the bundled one.
 */
function loaderTree(name: string): { root: string; run: (args: string[]) => ReturnType<typeof reg>; info: string } {
  const root = join(scratch, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
  copyFileSync(bin, join(root, 'bin', 'reg.js'));
  copyFileSync(join(pkgRoot, 'bin', 'package.json'), join(root, 'bin', 'package.json'));
  copyFileSync(bundle, join(root, 'dist', 'reg-cli.cjs'));
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(root, 'dist', 'cli', 'main.js'), "export async function main() { console.log('unbundled'); return 0; }\n");
  const info = join(root, 'tsconfig.build.tsbuildinfo');
  writeFileSync(info, '{}');
  utimesSync(info, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  return { root, info, run: (args) => reg(args, {}, join(root, 'bin', 'reg.js')) };
}

test('the loader runs the bundle, keeps a code cache per verb, and survives a corrupt cache', { skip: skipBundle }, () => {
  const t = loaderTree('fresh');
  const first = t.run(['--version']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^reg \S+ \(node /, 'the bundle answered, not the unbundled marker');
  const caches = () => readdirSync(join(t.root, 'dist')).filter((f) => f.endsWith('.v8cache')).sort();
  const [name] = caches();
  assert.match(name ?? '', /^reg-cli\.other\.\d+-\d+\.v8cache$/, 'the first run of a verb writes its code cache, named after the bundle');
  const cache = join(t.root, 'dist', name!);
  assert.ok(t.run(['help']).stdout.includes('usage: reg'));
  assert.equal(caches().filter((f) => f.startsWith('reg-cli.help.')).length, 1, 'one cache per verb');

  // Garbage where the cache was: V8 rejects it, the command still works and the cache is rewritten.
  writeFileSync(cache, Buffer.alloc(4096, 0x5a));
  const again = t.run(['--version']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, first.stdout);
  assert.notDeepEqual(readFileSync(cache), Buffer.alloc(4096, 0x5a), 'the rejected cache was replaced');

  // Another bundle of the very same length (V8 checks only the length): its own cache, not this one.
  const text = readFileSync(join(t.root, 'dist', 'reg-cli.cjs'), 'utf8');
  writeFileSync(join(t.root, 'dist', 'reg-cli.cjs'), text.replace('ultra-lightweight', 'ULTRA-lightweight'));
  utimesSync(join(t.root, 'dist', 'reg-cli.cjs'), new Date(), new Date(Date.now() + 5_000));
  assert.match(t.run(['help']).stdout, /ULTRA-lightweight/, 'the new bundle ran');
  assert.equal(caches().filter((f) => f.startsWith('reg-cli.help.')).length, 2, 'a cache of its own');
  assert.deepEqual(readdirSync(join(t.root, 'dist')).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
});

test('a bundle older than the last tsc build is not used: the compiled modules run instead', { skip: skipBundle }, () => {
  const t = loaderTree('stale');
  utimesSync(t.info, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
  const r = t.run(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'unbundled');
  rmSync(join(t.root, 'dist', 'reg-cli.cjs'));
  utimesSync(t.info, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  assert.equal(t.run(['--version']).stdout.trim(), 'unbundled', 'no bundle at all: the compiled modules');
});

/** The modules (under dist/ and node_modules/) an unbundled `reg ARGS` loads, recorded by a resolve hook. */
function modulesLoadedBy(args: string[]): string[] {
  const log = join(scratch, `modules-${args.join('-')}.log`);
  const hooks = join(scratch, 'record-hooks.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`);
  const register = join(scratch, 'register-hooks.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
  rmSync(log, { force: true });
  const r = spawnSync(process.execPath, ['--import', register, bin, ...args], { env: { ...process.env, REG_HOME: home.root, REG_HOST: '', REG_CLI_BUNDLE: '0' }, encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 2, `reg ${args.join(' ')}: ${r.stderr}`);
  return readFileSync(log, 'utf8').split('\n').filter((u) => u.includes('/dist/') || u.includes('/node_modules/')).map((u) => u.replace(/^.*\/(dist|node_modules)\//, '$1/'));
}

test('each verb loads only what it needs', () => {
  const version = modulesLoadedBy(['--version']);
  assert.ok(version.includes('dist/cli/main.js'));
  assert.deepEqual(version.filter((m) => !['dist/cli/main.js', 'dist/errors.js', 'dist/home.js', 'dist/cli/output.js', 'dist/cli/version.js'].includes(m)), [], '--version loads nothing else');
  const ps = modulesLoadedBy(['ps']);
  assert.ok(ps.includes('dist/container/engine.js'));
  for (const heavy of ['dist/cli/registry.js', 'dist/cli/ret.js', 'dist/cli/store.js', 'dist/ret/build-from-deb.js', 'dist/ret/build-from-npm.js', 'dist/store/gc.js', 'dist/limits/policy-file.js']) {
    assert.ok(!ps.includes(heavy), `reg ps does not load ${heavy}`);
  }
  assert.deepEqual(ps.filter((m) => m.startsWith('node_modules/zod/') || m.startsWith('node_modules/js-yaml/')), [], 'reg ps evaluates neither zod nor YAML');
  const rets = modulesLoadedBy(['ret', 'ls']);
  assert.ok(!rets.includes('dist/container/engine.js'), 'reg ret ls does not open the engine');
});

test('reg run --rm through the bundle: output, exit code, nothing left behind', { skip: skipRoot || skipBundle }, async () => {
  const r = reg(['run', '--rm', '-t', 'python@3.11', '--', 'python3', '-c', 'import sys; print(6*7); sys.exit(3)']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '42\n');
  assert.deepEqual(await engine!.list({ all: true }), [], 'the container is removed');
  const killed = reg(['run', '--rm', '-t', 'python@3.11', '--', 'python3', '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGTERM)']);
  assert.equal(killed.code, 128 + 15, killed.stderr);
  assert.match(killed.stderr, /killed by signal/);
  // Without a limits.json the policy is the defaults within this host: no zod, no YAML at all.
  const loaded = modulesLoadedBy(['run', '--rm', '-t', 'python@3.11', '--', 'python3', '-c', 'pass']);
  assert.ok(loaded.includes('dist/limits/limits.js'));
  assert.deepEqual(loaded.filter((m) => m.startsWith('node_modules/zod/') || m.startsWith('node_modules/js-yaml/')), [], 'reg run of a local RET evaluates neither zod nor YAML');
  // A limits.json is checked (zod), and a bad one is named, field and all, before anything starts.
  writeFileSync(join(home.root, 'limits.json'), '{"defaults": {"pids": "many"}}\n');
  try {
    const bad = reg(['run', '--rm', '-t', 'python@3.11', '--', 'python3', '-c', 'pass']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /limits\.json: defaults\.pids: /);
    writeFileSync(join(home.root, 'limits.json'), '{"defaults": {"pids": 48}}\n');
    const id = reg(['run', '-d', '-t', 'python@3.11', '--', 'python3', '-c', 'import time; time.sleep(30)']).stdout.trim();
    const inspected = JSON.parse(reg(['inspect', id]).stdout) as { limits?: { pids?: number } };
    assert.equal(inspected.limits?.pids, 48, 'the file\'s default applies');
    assert.equal(reg(['rm', '-f', id]).code, 0);
  } finally {
    rmSync(join(home.root, 'limits.json'), { force: true });
  }
  const missing = reg(['run', '--rm', '-t', 'nosuch@1', '--', 'true']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /reg: error\[RET_NOT_FOUND\]/);
  assert.deepEqual(await engine!.list({ all: true }), []);
});

/** Child cgroups of the test home's parent, as the kernel lists them (memory hierarchy on v1). */
function childCgroups(): string[] {
  const parent = cgroupParentFor(home);
  for (const dir of [join('/sys/fs/cgroup/memory', parent), join('/sys/fs/cgroup', parent)]) {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      // not this hierarchy
    }
  }
  return [];
}
const idleCgroups = () => childCgroups().filter((n) => /^pool-[0-9a-f]{8}$/.test(n));

test('reg pool: fill makes idle cgroups, a run takes and returns one, drain removes them all', { skip: skipRoot || skipBundle }, () => {
  const drained = reg(['pool', 'drain']);
  assert.equal(drained.code, 0, drained.stderr);
  assert.equal(idleCgroups().length, 0);
  const filled = reg(['pool', 'fill', '3', '--cgroups-only']);
  assert.equal(filled.code, 0, filled.stderr);
  assert.equal(idleCgroups().length, 3, 'three idle members on the cgroupfs');
  const status = JSON.parse(reg(['pool', '--json']).stdout) as PoolJson;
  assert.deepEqual({ enabled: status.cgroups.enabled, idle: status.cgroups.idle }, { enabled: true, idle: 3 });
  assert.equal(reg(['run', '--rm', '-t', 'python@3.11', '--', 'python3', '-c', 'pass'], { REG_LAUNCHER_POOL: '0' }).code, 0);
  assert.equal(idleCgroups().length, 3, 'the run took a member and its removal returned it');

  for (const bad of [['pool', 'fill', '-1'], ['pool', 'fill', '1.5'], ['pool', 'fill', '10001'], ['pool', 'fill'], ['pool', 'fill', '2', '3'], ['pool', 'shrink'], ['pool', 'fill', '2', '--net', 'bogus'], ['pool', 'fill', '2', '--net', 'host', '--cgroups-only'], ['pool', 'drain', '--net', 'host']]) {
    const r = reg(bad);
    assert.equal(r.code, 2, `reg ${bad.join(' ')}`);
    assert.match(r.stderr, /reg: error\[USAGE\]/);
  }
  assert.equal(idleCgroups().length, 3, 'bad input changed nothing');
  assert.match(reg(['pool', 'fill', '2', '--cgroups-only']).stdout, /already at least 2/);
  const remote = reg(['pool'], { REG_HOST: 'unix:/nonexistent.sock' });
  assert.equal(remote.code, 2);
  assert.match(remote.stderr, /embedded mode only/);

  const gone = reg(['pool', 'drain']);
  assert.match(gone.stdout, /removed 3 idle/);
  assert.equal(idleCgroups().length, 0);
  const off = reg(['pool', 'fill', '2'], { REG_CGROUP_POOL: '0', REG_LAUNCHER_POOL: '0' });
  assert.equal(off.code, 2);
  assert.match(off.stderr, /pools are off/);
  assert.equal(idleCgroups().length, 0);
});

interface PoolJson {
  launchers: { enabled: boolean; isolated: number; sharedNet: number; starting: number };
  cgroups: { enabled: boolean; idle: number };
}

/** Parked launchers of the test home, as the processes say (their command line names the home's pool). */
function parkedLaunchers(): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('\0park\0') && cmd.includes(join(home.root, 'run', 'pool'))) out.push(Number(p));
  }
  return out;
}

test('reg pool: parked launchers — fill parks N, a run uses one, drain ends the rest and their cgroups', { skip: skipRoot || skipBundle }, (t) => {
  const status = JSON.parse(reg(['pool', '--json']).stdout) as PoolJson;
  if (!status.launchers.enabled) {
    t.skip('this build has no parked launchers (engine.pool): launcher pooling not tested');
    return;
  }
  const filled = reg(['pool', 'fill', '2']);
  assert.equal(filled.code, 0, filled.stderr);
  const after = JSON.parse(reg(['pool', '--json']).stdout) as PoolJson;
  assert.equal(after.launchers.isolated, 2, filled.stdout);
  assert.equal(parkedLaunchers().length, 2, 'two parked reg-launch processes');
  const run = reg(['run', '--rm', '-t', 'python@3.11', '--', 'python3', '-c', 'print(6*7)']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, '42\n');
  assert.equal((JSON.parse(reg(['pool', '--json']).stdout) as PoolJson).launchers.isolated, 1, 'the run took one parked launcher');
  const drained = reg(['pool', 'drain']);
  assert.equal(drained.code, 0, drained.stderr);
  assert.match(drained.stdout, /ended 1 parked/);
  assert.deepEqual(parkedLaunchers(), [], 'no parked launcher left');
  assert.deepEqual(childCgroups(), [], 'no park-* or pool-* cgroup left');
});
