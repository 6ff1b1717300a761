// Tests of the native launcher: real namespaces, real overlays, real processes.
// The static reg-probe answers questions from inside each container; the tests
// compare its answers (and the launcher's events and exit codes) with what a
// user of Reg must see. They need root and the build output of `node-gyp rebuild`.
import { after, afterEach, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync, chownSync, closeSync, copyFileSync, existsSync, openSync, lstatSync, mkdirSync, mkdtempSync, readFileSync,
  readdirSync, readlinkSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { launcherPath, probePath } from '../index.js';

const isRoot = process.getuid?.() === 0;
const ROOT_REASON = 'needs root: the launcher creates namespaces, mounts overlays and joins cgroups';
const UID = 1000;
const GID = 1000;
const TIOCSTI = 0x5412;
const NR_MOUNT = 165; // x86_64
const PIDS_CGROUP_V1 = '/sys/fs/cgroup/pids';
const NR_IO_URING = [425, 426, 427]; // x86_64 and arm64
const NR_CLONE3 = 435;
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

type LaunchEvent = { event: string; [key: string]: unknown };

interface Launch {
  child: ChildProcess;
  events: LaunchEvent[];
  stdout: () => string;
  /** Resolves with the first event named `name` (rejects if the launcher ends first). */
  waitEvent: (name: string) => Promise<LaunchEvent>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; events: LaunchEvent[] }>;
}

let tmp = '';
let probeLower = '';
let shellLower = '';
let containerCount = 0;
const cgroupsMade: string[] = [];
// Host pids and pid namespaces seen during the current test, for the leftover check.
let seenPids: number[] = [];
let seenPidNamespaces = new Set<string>();

/** Builds a layer containing only the static probe and the mount points the launcher needs. */
function buildProbeLower(dir: string): void {
  for (const d of ['bin', 'proc', 'dev', 'tmp', 'work', 'etc', 'opt', 'data']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(probePath, join(dir, 'bin', 'reg-probe'));
  chmodSync(join(dir, 'bin', 'reg-probe'), 0o755);
  writeFileSync(join(dir, 'etc', 'data.txt'), 'from the lower layer\n');
  chownSync(join(dir, 'etc', 'data.txt'), UID, GID);
  chownSync(join(dir, 'work'), UID, GID);
}

/** Builds a layer with dash as /bin/sh plus the shared libraries ldd lists for it. */
function buildShellLower(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync('/usr/bin/dash', join(dir, 'bin', 'sh'));
  chmodSync(join(dir, 'bin', 'sh'), 0o755);
  const libs = execFileSync('ldd', ['/usr/bin/dash'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  assert.ok(libs.length > 0, 'ldd found no libraries for dash');
  for (const lib of libs) {
    mkdirSync(join(dir, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(dir, lib));
  }
}

/** Fresh upper, work and mount-point dirs for one container. */
function newContainer(): { upper: string; work: string; rootfs: string } {
  const base = join(tmp, `c${containerCount++}`);
  const c = { upper: join(base, 'upper'), work: join(base, 'work'), rootfs: join(base, 'rootfs') };
  for (const d of Object.values(c)) mkdirSync(d, { recursive: true });
  return c;
}

/** The usual flags of a container running as UID with the probe (and optionally the shell) layer. */
function runArgs(opts: { shell?: boolean; extra?: string[] } = {}): string[] {
  const c = newContainer();
  const lowers = opts.shell ? [shellLower, probeLower] : [probeLower];
  return [
    'run', '--status-fd', '3',
    ...lowers.flatMap((l) => ['--lower', l]),
    '--upper', c.upper, '--work', c.work, '--rootfs-mount', c.rootfs,
    '--proc', '--dev', '--tmpfs', '/tmp:1048576', '--hostname', 'reg-box',
    '--uid', String(UID), '--gid', String(GID),
    '--deny-syscalls', [NR_MOUNT, ...NR_IO_URING].join(','), '--deny-ioctl', String(TIOCSTI),
    '--enosys-syscalls', String(NR_CLONE3), '--deny-clone-flags', String(CLONE_NAMESPACE_FLAGS),
    ...(opts.extra ?? []),
  ];
}

function recordPid(pid: unknown): void {
  if (typeof pid !== 'number') return;
  seenPids.push(pid);
  try {
    seenPidNamespaces.add(readlinkSync(`/proc/${pid}/ns/pid`));
  } catch {
    // already gone: nothing can be left over from it
  }
}

function launch(args: string[]): Launch {
  const child = spawn(launcherPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const events: LaunchEvent[] = [];
  const waiters: { name: string; resolve: (e: LaunchEvent) => void; reject: (e: Error) => void }[] = [];
  let out = '';
  let err = '';
  let partial = '';
  let ended = false;
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const statusPipe = child.stdio[3] as NodeJS.ReadableStream;
  statusPipe.setEncoding('utf8');
  statusPipe.on('data', (s: string) => {
    partial += s;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const e = JSON.parse(partial.slice(0, nl)) as LaunchEvent;
      partial = partial.slice(nl + 1);
      events.push(e);
      if (e.event === 'pid' || e.event === 'started') recordPid(e.pid);
      for (const w of waiters.filter((x) => x.name === e.event)) w.resolve(e);
    }
  });
  const statusClosed = new Promise<void>((resolve) => statusPipe.on('end', resolve));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  ).then(async (r) => {
    await statusClosed;
    ended = true;
    for (const w of waiters) w.reject(new Error(`launcher ended before "${w.name}"; stderr: ${err}`));
    return { ...r, stdout: out, stderr: err, events };
  });
  return {
    child, events, done,
    stdout: () => out,
    waitEvent: (name) => {
      const seen = events.find((e) => e.event === name);
      if (seen) return Promise.resolve(seen);
      if (ended) return Promise.reject(new Error(`launcher ended before "${name}"`));
      return new Promise((resolve, reject) => waiters.push({ name, resolve, reject }));
    },
  };
}

async function probe(question: string[], opts: { shell?: boolean; extra?: string[] } = {}): Promise<string> {
  const r = await launch([...runArgs(opts), '--', '/bin/reg-probe', ...question]).done;
  assert.equal(r.code, 0, `probe ${question.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function skipUnlessRoot(t: TestContext): boolean {
  if (isRoot) return false;
  console.log(`skipping: ${ROOT_REASON}`);
  t.skip(ROOT_REASON);
  return true;
}

function processesInNamespaces(namespaces: Set<string>): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (namespaces.has(readlinkSync(`/proc/${entry}/ns/pid`)) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('reg-launch', { concurrency: 1 }, () => {
  before(() => {
    if (!isRoot) return;
    assert.ok(existsSync(launcherPath), `build first: cd packages/native && npx node-gyp rebuild (${launcherPath})`);
    tmp = mkdtempSync(join(tmpdir(), 'reg-launcher-test-'));
    chmodSync(tmp, 0o755);
    probeLower = join(tmp, 'lower-probe');
    shellLower = join(tmp, 'lower-shell');
    buildProbeLower(probeLower);
    buildShellLower(shellLower);
  });

  afterEach(async () => {
    if (!isRoot) return;
    // No mount under our temp dir may be visible on the host...
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(tmp));
    assert.deepEqual(mounts, [], 'leftover mounts');
    // ...and no launcher or container process may survive its test.
    await until(() => seenPids.every((p) => !alive(p)) && processesInNamespaces(seenPidNamespaces).length === 0,
      'launched processes to exit', 3000).catch(() => {});
    assert.deepEqual(seenPids.filter(alive), [], 'leftover launcher/container processes');
    assert.deepEqual(processesInNamespaces(seenPidNamespaces), [], 'leftover processes in container pid namespaces');
    seenPids = [];
    seenPidNamespaces = new Set();
  });

  after(() => {
    for (const cg of cgroupsMade) {
      try { rmdirSync(cg); } catch { /* removed by its test */ }
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('isolates processes: the command is pid 2 and sees only its namespace', async (t) => {
    if (skipUnlessRoot(t)) return;
    assert.equal(await probe(['pid']), '2');
    const pids = (await probe(['ls', '/proc'])).split(' ').filter((e) => /^\d+$/.test(e));
    assert.deepEqual(pids, ['1', '2']);
  });

  test('sets hostname, uid/gid/groups and leaves no capability', async (t) => {
    if (skipUnlessRoot(t)) return;
    assert.equal(await probe(['hostname']), 'reg-box');
    assert.equal(await probe(['uid']), `uid=${UID} euid=${UID} gid=${GID} groups=${GID}`);
    assert.equal(
      await probe(['caps']),
      'CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000',
    );
    assert.equal(await probe(['nnp']), '1');
    assert.equal(await probe(['seccomp']), '2');
  });

  test('denies mount(2) and TIOCSTI; the ioctl denial comes from the seccomp filter', async (t) => {
    if (skipUnlessRoot(t)) return;
    assert.equal(await probe(['mount']), 'EPERM');
    assert.equal(await probe(['tiocsti']), 'EPERM');
    // Without --deny-ioctl the same ioctl on /dev/null reaches the driver and fails differently.
    const c = newContainer();
    const r = await launch([
      'run', '--status-fd', '3', '--lower', probeLower, '--upper', c.upper, '--work', c.work,
      '--rootfs-mount', c.rootfs, '--uid', String(UID), '--gid', String(GID), '--', '/bin/reg-probe', 'tiocsti',
    ]).done;
    assert.equal(r.stdout.trim(), 'ENOTTY');
  });

  test('a new network namespace has only lo, and it is up', async (t) => {
    if (skipUnlessRoot(t)) return;
    assert.equal(await probe(['net']), 'lo');
    assert.equal(await probe(['lo']), 'up');
    const shared = await probe(['net'], { extra: ['--share-net'] });
    assert.notEqual(shared, 'lo', 'with --share-net the host interfaces are visible');
  });

  test('writes land in the upper dir; the lower file keeps its inode and content', async (t) => {
    if (skipUnlessRoot(t)) return;
    const lowerFile = join(probeLower, 'etc', 'data.txt');
    const before = statSync(lowerFile);
    const args = runArgs();
    const upper = args[args.indexOf('--upper') + 1]!;
    const r = await launch([...args, '--', '/bin/reg-probe', 'write', '/etc/data.txt', 'changed\n']).done;
    assert.equal(r.stdout.trim(), 'ok');
    assert.equal(readFileSync(join(upper, 'etc', 'data.txt'), 'utf8'), 'changed\n');
    assert.equal(readFileSync(lowerFile, 'utf8'), 'from the lower layer\n');
    assert.equal(statSync(lowerFile).ino, before.ino);
    assert.equal(statSync(lowerFile).mtimeMs, before.mtimeMs);
  });

  test('--upper-tmpfs: the writable layer is a tmpfs of that size and inode count made inside; nothing reaches the host; --owned-dir makes a user-owned dir in it', async (t) => {
    if (skipUnlessRoot(t)) return;
    /** runArgs with the layer as a tmpfs instead of host upper/work dirs. */
    const tmpfsArgs = (size: string, extra: string[] = []) => {
      const args = runArgs({ shell: true, extra: ['--upper-tmpfs', size, ...extra] });
      const i = args.indexOf('--upper');
      const base = dirname(args[i + 1]!);
      args.splice(i, 4);
      return { args, base };
    };
    const bytes = tmpfsArgs(`${4 * 1024 * 1024},64`, ['--owned-dir', '/scratch:1000:1000']);
    const fill = await launch([...bytes.args, '--', '/bin/reg-probe', 'fill', '/scratch']).done;
    assert.equal(fill.code, 0, fill.stderr);
    assert.match(fill.stdout.trim(), /^ENOSPC after [34]$/, 'a 4 MiB layer holds 3-4 MiB and then refuses');
    for (const d of ['upper', 'work']) assert.equal(readdirSync(join(bytes.base, d)).length, 0, `nothing written to the host's ${d} dir`);
    const files = tmpfsArgs('16777216,40', ['--owned-dir', '/scratch:1000:1000']);
    const made = await launch([...files.args, '--', '/bin/sh', '-c', 'i=0; while true 2>/dev/null > /scratch/f$i; do i=$((i+1)); done; echo $i']).done;
    const n = Number(made.stdout.trim());
    assert.ok(n >= 30 && n <= 40, `the inode count holds (${made.stdout.trim()} files, ${made.code} ${made.stderr} ${JSON.stringify(made.events)})`);
    const info = await launch([...tmpfsArgs('16777216,100').args, '--', '/bin/reg-probe', 'cat', '/proc/self/mountinfo']).done;
    const root = info.stdout.split('\n').find((l) => l.split(' ')[4] === '/')!;
    assert.match(root, / - overlay reg /, root);
    assert.ok(!root.includes(tmp), `the root's options name no host path: ${root}`);
    // With --upper as well: a usage error, not a guess.
    const both = await launch([...runArgs({ extra: ['--upper-tmpfs', '1048576,64'] }), '--', '/bin/reg-probe', 'uid']).done;
    assert.equal(both.code, 125);
    assert.match(String(both.events[0]?.error), /--upper-tmpfs replaces --upper/);
  });

  test('without --upper the root is read-only', async (t) => {
    if (skipUnlessRoot(t)) return;
    const c = newContainer();
    const r = await launch([
      'run', '--status-fd', '3', '--lower', shellLower, '--lower', probeLower, '--rootfs-mount', c.rootfs,
      '--uid', String(UID), '--gid', String(GID), '--', '/bin/reg-probe', 'write', '/work/x',
    ]).done;
    assert.equal(r.stdout.trim(), 'EROFS');
  });

  test('binds, read-only binds and tmpfs mounts', async (t) => {
    if (skipUnlessRoot(t)) return;
    const shared = join(tmp, 'shared-rw');
    const readonly = join(tmp, 'shared-ro');
    mkdirSync(shared);
    mkdirSync(readonly);
    chownSync(shared, UID, GID);
    chownSync(readonly, UID, GID);
    const extra = ['--bind', `${shared}:/data/rw`, '--ro-bind', `${readonly}:/data/ro`];
    assert.equal(await probe(['write', '/data/rw/f', 'hi\n'], { extra }), 'ok');
    assert.equal(readFileSync(join(shared, 'f'), 'utf8'), 'hi\n');
    assert.equal(await probe(['write', '/data/ro/f'], { extra }), 'EROFS');
    assert.equal(await probe(['write', '/tmp/f']), 'ok');
    assert.equal(await probe(['ls', '/dev']), 'fd full null ptmx pts random shm stderr stdin stdout tty urandom zero');
  });

  test('mount destinations resolve inside the root even through a planted symlink', async (t) => {
    if (skipUnlessRoot(t)) return;
    // What untrusted code could leave in its upper dir: a symlink aiming at a host directory.
    // Not under /tmp: the container's /tmp is a tmpfs that would hide the inside twin.
    const outside = mkdtempSync('/var/tmp/reg-launcher-escape-');
    t.after(() => rmSync(outside, { recursive: true, force: true }));
    const plant = () => {
      const args = runArgs({ extra: ['--tmpfs', '/escape:65536'] });
      const upper = args[args.indexOf('--upper') + 1]!;
      symlinkSync(`/../../../../../../..${outside}`, join(upper, 'escape'));
      return { args, upper };
    };
    // The target does not exist inside the root: setup fails, nothing happens on the host.
    const dangling = plant();
    const r1 = await launch([...dangling.args, '--', '/bin/reg-probe', 'write', '/escape/f']).done;
    assert.equal(r1.code, 125);
    assert.equal(r1.events.at(-1)!.step, 'tmpfs');
    // The same path exists inside the root: the tmpfs goes there, not on the host dir.
    const inside = plant();
    mkdirSync(join(inside.upper, outside), { recursive: true });
    const r3 = await launch([...inside.args, '--', '/bin/reg-probe', 'write', '/escape/f']).done;
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(r3.stdout.trim(), 'ok');
    assert.deepEqual(readdirSync(outside), [], 'the tmpfs landed on the host directory');
    assert.deepEqual(readdirSync(join(inside.upper, outside)), [], 'tmpfs content must not reach the upper dir');
  });

  test('environment, PATH lookup, cwd and rlimits', async (t) => {
    if (skipUnlessRoot(t)) return;
    const env = ['--clearenv', '--setenv', 'PATH=/bin', '--setenv', 'GREETING=hello there'];
    const r = await launch([...runArgs({ extra: env }), '--', 'reg-probe', 'env', 'GREETING']).done;
    assert.equal(r.stdout.trim(), 'hello there');
    assert.equal(await probe(['env', 'HOME'], { extra: env }), '(unset)');
    assert.equal(await probe(['cwd'], { extra: ['--cwd', '/work'] }), '/work');
    const sh = await launch([
      ...runArgs({ shell: true, extra: ['--rlimit', 'NOFILE=64:128'] }), '--', '/bin/sh', '-c', 'ulimit -n; ulimit -Hn',
    ]).done;
    assert.equal(sh.stdout.trim(), '64\n128');
  });

  test('exit codes and signals propagate, with events', async (t) => {
    if (skipUnlessRoot(t)) return;
    const exit = await launch([...runArgs(), '--', '/bin/reg-probe', 'exit', '7']).done;
    assert.equal(exit.code, 7);
    assert.deepEqual(exit.events.map((e) => e.event), ['pid', 'started', 'exit']);
    assert.deepEqual(exit.events[2], { event: 'exit', code: 7 });
    assert.equal(typeof exit.events[1]!.pid, 'number');
    assert.notEqual(exit.events[1]!.pid, exit.events[0]!.pid);

    const sig = await launch([...runArgs({ shell: true }), '--', '/bin/sh', '-c', 'kill -TERM $$']).done;
    assert.equal(sig.code, 128 + 15);
    assert.deepEqual(sig.events.at(-1), { event: 'signaled', signal: 15 });

    const shExit = await launch([...runArgs({ shell: true }), '--', '/bin/sh', '-c', 'exit 3']).done;
    assert.equal(shExit.code, 3);
  });

  test('SIGTERM to the launcher reaches the command; SIGKILL of pid 1 ends everything', async (t) => {
    if (skipUnlessRoot(t)) return;
    const sleeper = launch([...runArgs(), '--', '/bin/reg-probe', 'sleep', '30']);
    await sleeper.waitEvent('started');
    sleeper.child.kill('SIGTERM');
    const r = await sleeper.done;
    assert.equal(r.code, 143);
    assert.deepEqual(r.events.at(-1), { event: 'signaled', signal: 15 });

    const stubborn = launch([...runArgs(), '--', '/bin/reg-probe', 'ignore-term']);
    const pid1 = (await stubborn.waitEvent('pid')).pid as number;
    await until(() => stubborn.stdout().includes('ignoring'), 'the probe to ignore SIGTERM');
    stubborn.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(stubborn.child.exitCode, null, 'SIGTERM was ignored by the command');
    process.kill(pid1, 'SIGKILL');
    const k = await stubborn.done;
    assert.equal(k.code, 137);
    assert.deepEqual(k.events.at(-1), { event: 'signaled', signal: 9 });
  });

  test('a missing command exits 127 with exec-failed', async (t) => {
    if (skipUnlessRoot(t)) return;
    const r = await launch([...runArgs(), '--', '/bin/does-not-exist']).done;
    assert.equal(r.code, 127);
    assert.deepEqual(r.events.map((e) => e.event), ['pid', 'exec-failed']);
    assert.equal(r.events[1]!.errno, 2);
    assert.equal(r.events[1]!.error, 'No such file or directory');
  });

  test('setup failures exit 125 with setup-failed and one stderr line', async (t) => {
    if (skipUnlessRoot(t)) return;
    const bogus = await launch([...runArgs(), '--no-such-flag', '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(bogus.code, 125);
    assert.equal(bogus.events.length, 1);
    assert.equal(bogus.events[0]!.event, 'setup-failed');
    assert.equal(bogus.events[0]!.step, 'args');
    assert.equal(bogus.stderr.trim().split('\n').length, 1);

    const root = await launch([...runArgs(), '--uid', '0', '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(root.code, 125);
    assert.equal(root.events[0]!.step, 'args');

    const bind = await launch([...runArgs({ extra: ['--bind', '/no/such/dir:/x'] }), '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(bind.code, 125);
    assert.deepEqual(bind.events.map((e) => e.event), ['pid', 'setup-failed']);
    assert.equal(bind.events[1]!.step, 'bind');
    assert.equal(bind.events[1]!.errno, 2);

    const cwd = await launch([...runArgs({ extra: ['--cwd', '/missing'] }), '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(cwd.code, 125);
    assert.equal(cwd.events.at(-1)!.step, 'cwd');
  });

  test('exec joins a running container: same /proc, hostname and filesystem', async (t) => {
    if (skipUnlessRoot(t)) return;
    const box = launch([...runArgs(), '--', '/bin/reg-probe', 'sleep', '30']);
    const pid1 = (await box.waitEvent('pid')).pid as number;
    await box.waitEvent('started');
    const exec = (q: string[], extra: string[] = []) =>
      launch(['exec', '--status-fd', '3', '--target-pid', String(pid1), '--uid', String(UID), '--gid', String(GID),
        '--deny-ioctl', String(TIOCSTI), ...extra, '--', '/bin/reg-probe', ...q]).done;

    assert.equal((await exec(['hostname'])).stdout.trim(), 'reg-box');
    const procs = (await exec(['ls', '/proc'])).stdout.trim().split(' ').filter((e) => /^\d+$/.test(e));
    assert.ok(procs.includes('1') && procs.includes('2'), `container /proc: ${procs.join(' ')}`);
    assert.ok(procs.length <= 4, `container /proc: ${procs.join(' ')}`);
    const pid = await exec(['pid']);
    assert.ok(Number(pid.stdout.trim()) > 2);
    assert.deepEqual(pid.events.map((e) => e.event), ['pid', 'started', 'exit']);
    assert.equal((await exec(['write', '/tmp/shared', 'x'])).stdout.trim(), 'ok');
    assert.equal((await exec(['ls', '/tmp'])).stdout.trim(), 'shared');
    assert.equal((await exec(['caps'])).stdout.trim().includes('CapEff=0000000000000000'), true);
    assert.equal((await exec(['tiocsti'])).stdout.trim(), 'EPERM');
    assert.equal((await exec(['cwd'], ['--cwd', '/work'])).stdout.trim(), '/work');
    const missing = await launch(['exec', '--status-fd', '3', '--target-pid', String(pid1), '--uid', String(UID),
      '--gid', String(GID), '--', '/nope']).done;
    assert.equal(missing.code, 127);

    box.child.kill('SIGTERM');
    assert.equal((await box.done).code, 143);
  });

  test('insert makes a new layer visible to a running container', async (t) => {
    if (skipUnlessRoot(t)) return;
    const layer1 = join(tmp, 'runtime-layer-1');
    const layer2 = join(tmp, 'runtime-layer-2');
    mkdirSync(join(layer1, 'opt', 'pkg'), { recursive: true });
    writeFileSync(join(layer1, 'opt', 'pkg', 'new.txt'), 'inserted\n');
    mkdirSync(join(layer2, 'opt'), { recursive: true });
    writeFileSync(join(layer2, 'opt', 'second.txt'), 'second\n');

    // The running shell polls for the file, then prints it: it must appear without a restart.
    const box = launch([...runArgs({ shell: true }), '--', '/bin/sh', '-c',
      'while [ ! -e /opt/pkg/new.txt ]; do /bin/reg-probe sleep 0.02; done; /bin/reg-probe cat /opt/pkg/new.txt; ' +
      'while [ ! -e /opt/second.txt ]; do /bin/reg-probe sleep 0.02; done; /bin/reg-probe ls /opt']);
    const pid1 = (await box.waitEvent('pid')).pid as number;
    await box.waitEvent('started');

    const first = await launch(['insert', '--status-fd', '3', '--target-pid', String(pid1), '--layer', layer1, '--dir', '/opt']).done;
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.events, [{ event: 'inserted', dir: '/opt' }]);
    // A second insert lists every runtime layer, topmost first; it covers the first.
    const second = await launch(['insert', '--status-fd', '3', '--target-pid', String(pid1),
      '--layer', layer2, '--layer', layer1, '--dir', '/opt']).done;
    assert.equal(second.code, 0, second.stderr);

    const r = await box.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'inserted\npkg second.txt\n');
  });

  test('insert fails cleanly when no layer has the directory', async (t) => {
    if (skipUnlessRoot(t)) return;
    const box = launch([...runArgs(), '--', '/bin/reg-probe', 'sleep', '30']);
    const pid1 = (await box.waitEvent('pid')).pid as number;
    const r = await launch(['insert', '--status-fd', '3', '--target-pid', String(pid1), '--layer', probeLower, '--dir', '/nothing']).done;
    assert.equal(r.code, 125);
    assert.equal(r.events[0]!.step, 'insert');
    box.child.kill('SIGTERM');
    await box.done;
  });

  test('a fork bomb is contained by a pids cgroup (v1) joined before unshare', async (t) => {
    if (skipUnlessRoot(t)) return;
    if (!existsSync(join(PIDS_CGROUP_V1, 'cgroup.procs'))) {
      t.skip(`no cgroup v1 pids hierarchy at ${PIDS_CGROUP_V1}`);
      return;
    }
    const cg = join(PIDS_CGROUP_V1, `reg-test-${process.pid}-${Date.now()}`);
    mkdirSync(cg);
    cgroupsMade.push(cg);
    writeFileSync(join(cg, 'pids.max'), '24');
    const r = await launch([...runArgs({ extra: ['--cgroup-procs', join(cg, 'cgroup.procs')] }), '--', '/bin/reg-probe', 'fork-bomb']).done;
    assert.equal(r.code, 0, r.stderr);
    const m = /^EAGAIN after (\d+)$/.exec(r.stdout.trim());
    assert.ok(m, `fork bomb output: ${r.stdout}`);
    assert.ok(Number(m[1]) < 24, r.stdout);
    // Everything was killed with pid 1; the cgroup empties and can be removed.
    await until(() => readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim() === '', 'the cgroup to empty');
    rmdirSync(cg);
  });

  test('--die-with-parent: killing the launcher kills the container', async (t) => {
    if (skipUnlessRoot(t)) return;
    const box = launch([...runArgs({ extra: ['--die-with-parent'] }), '--', '/bin/reg-probe', 'sleep', '30']);
    const pid1 = (await box.waitEvent('pid')).pid as number;
    const cmd = (await box.waitEvent('started')).pid as number;
    box.child.kill('SIGKILL');
    await box.done;
    await until(() => !alive(pid1) && !alive(cmd), 'pid 1 and the command to die with the launcher');
  });
  test('seccomp: clone with namespace flags and io_uring are refused, clone3 says ENOSYS; threads and fork work', async (t) => {
    if (skipUnlessRoot(t)) return;
    const lines = (await probe(['escapes'])).split('\n').map((l) => JSON.parse(l) as { probe: string; escaped: boolean; detail: string });
    const by = new Map(lines.map((l) => [l.probe, l]));
    assert.match(by.get('clone-namespace-flags')!.detail, /^clone\(CLONE_x\): NEWUSER=EPERM NEWNS=EPERM NEWPID=EPERM NEWNET=EPERM NEWUTS=EPERM NEWIPC=EPERM NEWCGROUP=EPERM$/);
    assert.match(by.get('clone3-newuser')!.detail, /ENOSYS$/);
    assert.match(by.get('io_uring')!.detail, /EPERM$/);
    assert.deepEqual(JSON.parse(await probe(['threads'])), { pthread: 'ok', value: 42, fork: 7, clone3: 'ENOSYS' });
    // Without the clone rule the same flags get past seccomp (and fail only for want of capabilities).
    const c = newContainer();
    const open = await launch(['run', '--status-fd', '3', '--lower', probeLower, '--upper', c.upper, '--work', c.work,
      '--rootfs-mount', c.rootfs, '--uid', String(UID), '--gid', String(GID), '--', '/bin/reg-probe', 'escapes']).done;
    const io = open.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { probe: string; detail: string }).find((l) => l.probe === 'clone3-plain')!;
    assert.match(io.detail, /^clone3\(\): ok/, 'without the filter clone3 works: the ENOSYS above is the filter');
  });

  test('every inherited fd but 0-2 and the status fd is closed before the container starts', async (t) => {
    if (skipUnlessRoot(t)) return;
    // What a host that leaks a pty master to the next launcher looks like: an extra open fd.
    const leaked = openSync('/dev/ptmx', 'r+');
    t.after(() => closeSync(leaked));
    const args = [...runArgs(), '--', '/bin/reg-probe', 'sleep', '30'];
    const child = spawn(launcherPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', leaked, leaked] });
    let status = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (status += d.toString()));
    await until(() => status.includes('"started"'), 'the container to start');
    const pid1 = Number(/"event":"pid","pid":(\d+)/.exec(status)![1]);
    recordPid(pid1);
    seenPids.push(child.pid!); // not recordPid: the launcher's pid ns is the host's
    const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
    assert.deepEqual(fds(child.pid!), [0, 1, 2, 3], 'the launcher');
    assert.deepEqual(fds(pid1), [0, 1, 2, 3], 'pid 1');
    const cmd = Number(/"event":"started","pid":(\d+)/.exec(status)![1]);
    assert.deepEqual(fds(cmd), [0, 1, 2], 'the command (the status fd is close-on-exec)');
    child.kill('SIGTERM');
    await new Promise((r) => child.on('close', r));
  });

  test('argv and host paths are hidden: /proc/1/cmdline and mountinfo name no host path, uid or policy', async (t) => {
    if (skipUnlessRoot(t)) return;
    const passwd = join(tmp, 'passwd-copy');
    writeFileSync(passwd, 'student:x:1000:1000::/work:/bin/sh\n');
    const extra = ['--ro-copy', `${passwd}:/etc/passwd`, '--tmpfs', '/var/tmp:65536'];
    const cmdline = await probe(['cat', '/proc/1/cmdline'], { extra });
    assert.equal(cmdline.replace(/\0+$/, ''), 'reg-init');
    const mountinfo = await probe(['cat', '/proc/self/mountinfo'], { extra });
    assert.ok(!mountinfo.includes(tmp), `mountinfo names the host: ${mountinfo}`);
    assert.match(mountinfo, / \/ rw,[^ ]* - overlay reg rw,lowerdir\+=\/lower-probe,upperdir=\/upper,workdir=\/work/);
    assert.match(mountinfo, /^\S+ \S+ \S+ \/passwd \/etc\/passwd ro,/m);
    assert.equal(await probe(['cat', '/etc/passwd'], { extra }), 'student:x:1000:1000::/work:/bin/sh');
    assert.equal(await probe(['write', '/etc/passwd'], { extra }), 'EROFS');
    assert.equal(await probe(['write', '/var/tmp/f'], { extra }), 'ok');
  });

  test('--devpts-max caps the ptys of one container', async (t) => {
    if (skipUnlessRoot(t)) return;
    assert.equal(await probe(['pty-hog'], { extra: ['--devpts-max', '8'] }), 'ENOSPC after 8');
    assert.match(await probe(['ls', '/dev/pts']), /ptmx/);
  });

  test('a pty hangup reaches the command: the launcher forwards the kernel\'s SIGHUP', async (t) => {
    if (skipUnlessRoot(t)) return;
    // python's pty.spawn gives the launcher a pty and a session (like the host's node-pty); killing
    // python closes the master, and the kernel sends SIGHUP to the session leader only.
    const args = [...runArgs(), '--', '/bin/reg-probe', 'sleep', '30'];
    const holder = spawn('python3', ['-c', 'import pty, sys; pty.spawn(sys.argv[1:])', launcherPath, ...args], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let status = '';
    (holder.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (status += d.toString()));
    await until(() => status.includes('"started"'), 'the container to start');
    const pid1 = Number(/"event":"pid","pid":(\d+)/.exec(status)![1]);
    const cmd = Number(/"event":"started","pid":(\d+)/.exec(status)![1]);
    recordPid(pid1);
    holder.kill('SIGKILL'); // no --die-with-parent: only the hangup can end it
    await until(() => !alive(pid1) && !alive(cmd), 'the hangup to end the container');
    assert.match(status, /"event":"signaled","signal":1/);
  });

  test('--die-with-parent: SIGKILL of the spawner ends the launcher, pid 1 and the command; without it they live', async (t) => {
    if (skipUnlessRoot(t)) return;
    const viaShell = (extra: string[]) => {
      // sh is the launcher's parent (it waits instead of exec-ing), as the CLI or the host would be.
      const sh = spawn('/bin/sh', ['-c', '"$@" & wait', 'sh', launcherPath, ...runArgs({ extra }), '--', '/bin/reg-probe', 'sleep', '30'],
        { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
      let status = '';
      (sh.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (status += d.toString()));
      return { sh, status: () => status };
    };
    for (const dieWithParent of [true, false]) {
      const { sh, status } = viaShell(dieWithParent ? ['--die-with-parent'] : []);
      await until(() => status().includes('"started"'), 'the container to start');
      const pid1 = Number(/"event":"pid","pid":(\d+)/.exec(status())![1]);
      const cmd = Number(/"event":"started","pid":(\d+)/.exec(status())![1]);
      const launcher = Number(readFileSync(`/proc/${pid1}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      recordPid(pid1);
      sh.kill('SIGKILL');
      if (dieWithParent) {
        await until(() => !alive(launcher) && !alive(pid1) && !alive(cmd), 'everything to die with the spawner');
      } else {
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(alive(launcher) && alive(pid1) && alive(cmd), 'a detached launcher outlives its spawner');
        process.kill(pid1, 'SIGKILL');
        await until(() => !alive(launcher) && !alive(cmd), 'the container to end');
      }
    }
  });


  // --- park / attach: a launcher started ahead of time, handed its plan over a control socket ---

  /** A parked launcher in a fresh pids cgroup (v1 here), events on its fd 3; its socket in tmp. */
  async function parkLauncher(extra: string[] = []): Promise<{ launch: Launch; control: string; cg: string }> {
    const cg = join(PIDS_CGROUP_V1, `reg-park-test-${process.pid}-${containerCount++}`);
    mkdirSync(cg);
    cgroupsMade.push(cg);
    const control = join(tmp, `park-${containerCount++}.sock`);
    const box = launch(['park', '--status-fd', '3', '--control', control, '--cgroup-procs', join(cg, 'cgroup.procs'), ...extra]);
    seenPids.push(box.child.pid!);
    await until(() => existsSync(control) || box.child.exitCode !== null, 'the parked launcher to listen');
    assert.ok(existsSync(control), `park did not listen: ${box.events.map((e) => JSON.stringify(e)).join(' ')}`);
    return { launch: box, control, cg };
  }

  /** `reg-launch attach` with the plan; its stdout is the container's. */
  function attach(control: string, plan: string[], opts: string[] = []): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
    const child = spawn(launcherPath, ['attach', '--control', control, ...opts, '--', ...plan], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    // 'close' waits for the stdio pipes, which a --detach'ed container still holds: 'exit' then.
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on(opts.includes('--detach') ? 'exit' : 'close', (code) => resolve({ code, stdout: out, stderr: err })));
    return { child, done };
  }

  async function parkedProbe(question: string[], extra: string[] = []): Promise<string> {
    const { control } = await parkLauncher();
    const r = await attach(control, [...runArgs({ extra }), '--', '/bin/reg-probe', ...question]).done;
    assert.equal(r.code, 0, `parked probe ${question.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  test('park: in its cgroup before any plan; attach runs the plan with the caller\'s stdio; every step as strict as run', async (t) => {
    if (skipUnlessRoot(t)) return;
    const { launch: parked, control, cg } = await parkLauncher();
    // Parked: already in the cgroup, in its own pid/ipc/uts/net/cgroup namespaces, not yet in a new mount namespace.
    const procs = readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
    assert.deepEqual(procs, [parked.child.pid]);
    const ns = (pid: number | string, n: string) => readlinkSync(`/proc/${pid}/ns/${n}`);
    for (const n of ['ipc', 'uts', 'net', 'cgroup']) assert.notEqual(ns(parked.child.pid!, n), ns('self', n), n);
    assert.equal(ns(parked.child.pid!, 'mnt'), ns('self', 'mnt'), 'the mount namespace waits for the plan');
    assert.equal(statSync(control).mode & 0o777, 0o600);
    const r = await attach(control, [...runArgs(), '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2');
    assert.ok(!existsSync(control), 'a taken launcher removes its socket');
    const end = await parked.done;
    assert.equal(end.code, 0);
    assert.deepEqual(end.events.map((e) => e.event), ['pid', 'started', 'exit']);
    // The same answers as a direct run.
    assert.equal(await parkedProbe(['hostname']), 'reg-box');
    assert.equal(await parkedProbe(['uid']), `uid=${UID} euid=${UID} gid=${GID} groups=${GID}`);
    assert.equal(await parkedProbe(['caps']), await probe(['caps']));
    assert.equal(await parkedProbe(['nnp']), '1');
    assert.equal(await parkedProbe(['seccomp']), '2');
    assert.equal(await parkedProbe(['mount']), 'EPERM');
    assert.equal(await parkedProbe(['tiocsti']), 'EPERM');
    assert.equal(await parkedProbe(['lo']), await probe(['lo']));
    assert.equal((await parkedProbe(['cat', '/proc/1/cmdline'])).replace(/\0+$/, ''), 'reg-init');
    // The escape probes (this test's small policy: the engine's full one is in reg-core's escape-probes test)
    // answer exactly as in a container from run.
    const answers = async (ask: (q: string[]) => Promise<string>) =>
      (await ask(['escapes'])).split('\n').map((l) => JSON.parse(l) as { probe: string; escaped: boolean; detail: string }).map((e) => `${e.probe} ${e.escaped} ${e.detail.replace(/\d+/g, 'N')}`);
    const parkedAnswers = await answers((q) => parkedProbe(q));
    assert.ok(parkedAnswers.length > 5);
    assert.deepEqual(parkedAnswers, await answers((q) => probe(q)));
  });

  test('park: a connection closed before a plan ends it quietly (exit 0, socket gone); so does --idle-timeout', async (t) => {
    if (skipUnlessRoot(t)) return;
    const { launch: parked, control } = await parkLauncher();
    const { createConnection } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const c = createConnection(control, () => c.end(resolve));
      c.on('error', reject);
    });
    const end = await parked.done;
    assert.equal(end.code, 0);
    assert.deepEqual(end.events, []);
    assert.ok(!existsSync(control));
    const idle = await parkLauncher(['--idle-timeout', '1']);
    assert.equal((await idle.launch.done).code, 0);
    assert.ok(!existsSync(idle.control));
  });

  test('park: a plan that contradicts the park (--share-net, --cgroup-procs) is refused with setup-failed naming the option', async (t) => {
    if (skipUnlessRoot(t)) return;
    for (const [extra, option] of [[['--share-net'], '--share-net'], [['--cgroup-procs', join(PIDS_CGROUP_V1, 'cgroup.procs')], '--cgroup-procs']] as const) {
      const { launch: parked, control } = await parkLauncher();
      const r = await attach(control, [...runArgs({ extra: [...extra] }), '--', '/bin/reg-probe', 'pid']).done;
      assert.equal(r.code, 125);
      const end = await parked.done;
      assert.equal(end.code, 125);
      const failed = end.events.find((e) => e.event === 'setup-failed');
      assert.equal(failed?.step, 'plan');
      assert.match(String(failed?.error), new RegExp(option));
    }
  });

  test('attach: exit codes come back; SIGTERM reaches the command; killing attach kills a --die-with-parent container', async (t) => {
    if (skipUnlessRoot(t)) return;
    {
      const { control } = await parkLauncher();
      assert.equal((await attach(control, [...runArgs(), '--', '/bin/reg-probe', 'exit', '7']).done).code, 7);
    }
    {
      const { launch: parked, control } = await parkLauncher();
      const a = attach(control, [...runArgs(), '--', '/bin/reg-probe', 'sleep', '30']);
      await parked.waitEvent('started');
      a.child.kill('SIGTERM');
      assert.equal((await a.done).code, 128 + 15);
      assert.match(JSON.stringify((await parked.done).events), /"signaled","signal":15/);
    }
    {
      const { launch: parked, control } = await parkLauncher();
      const a = attach(control, [...runArgs({ extra: ['--die-with-parent'] }), '--', '/bin/reg-probe', 'sleep', '30']);
      const pid1 = (await parked.waitEvent('pid')).pid as number;
      const cmd = (await parked.waitEvent('started')).pid as number;
      a.child.kill('SIGKILL');
      await until(() => !alive(pid1) && !alive(cmd) && !alive(parked.child.pid!), 'the container to die with its attach');
    }
    {
      // Without --die-with-parent the container outlives attach (a detached start).
      const { launch: parked, control } = await parkLauncher();
      const a = attach(control, [...runArgs(), '--', '/bin/reg-probe', 'sleep', '30'], ['--detach']);
      assert.equal((await a.done).code, 0);
      const pid1 = (await parked.waitEvent('pid')).pid as number;
      await parked.waitEvent('started');
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(alive(pid1));
      process.kill(pid1, 'SIGKILL');
      await parked.done;
    }
  });

  test('--cgroup-fd-dir (cgroup v2): pid 1 is cloned straight into the cgroup; the launcher stays outside', async (t) => {
    if (skipUnlessRoot(t)) return;
    const v2 = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => {
      try {
        return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === d && / - cgroup2 /.test(l));
      } catch {
        return false;
      }
    });
    if (!v2) {
      const reason = 'no cgroup v2 hierarchy mounted (CLONE_INTO_CGROUP needs one)';
      console.log(`skipping: ${reason}`);
      t.skip(reason);
      return;
    }
    const cg = join(v2, `reg-into-test-${process.pid}`);
    mkdirSync(cg);
    cgroupsMade.push(cg);
    const box = launch([...runArgs({ extra: ['--cgroup-fd-dir', cg] }), '--', '/bin/reg-probe', 'sleep', '30']);
    const pid1 = (await box.waitEvent('pid')).pid as number;
    const cmd = (await box.waitEvent('started')).pid as number;
    const procs = readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number).sort((a, b) => a - b);
    assert.deepEqual(procs, [pid1, cmd].sort((a, b) => a - b));
    assert.ok(!procs.includes(box.child.pid!), 'the launcher was not migrated');
    process.kill(pid1, 'SIGKILL');
    await box.done;
    await until(() => readFileSync(join(cg, 'cgroup.procs'), 'utf8').trim() === '', 'the cgroup to empty');
    // With --cgroup-procs as well it is refused; a plan for a parked launcher may not name it either.
    const both = await launch([...runArgs({ extra: ['--cgroup-fd-dir', cg, '--cgroup-procs', join(cg, 'cgroup.procs')] }), '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(both.code, 125);
    const { control } = await parkLauncher();
    const r = await attach(control, [...runArgs({ extra: ['--cgroup-fd-dir', cg] }), '--', '/bin/reg-probe', 'pid']).done;
    assert.equal(r.code, 125);
  });
});
