// The escape-probe suite: real containers from RETs built on this host, and the static reg-probe
// inside them trying every way out an attacker or a careless student has (packages/native/test/
// escapes.c: mount, namespaces through clone/clone3/unshare, io_uring, ptrace, TIOCSTI, the store's
// files, another container, the host's loopback and abstract sockets, /proc and mountinfo leaks,
// setuid and capabilities). It fails on any escape. Then the resource tests (one container's fork
// bomb, memory hog, disk filler and pty hog leave a second container's program unharmed) and the
// crash tests (SIGKILL of what spawned a container, per the supervision policy). Needs root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launcherPath, probePath } from '@reg/native';
import { detectCgroupDriver } from '../cgroup/detect.js';
import { cgroupName } from '../container/context.js';
import { cgroupParentFor, Engine } from '../container/engine.js';
import type { ContainerState } from '../container/state.js';
import type { SpawnLauncher } from '../launch/launcher.js';
import { materialise } from '../resolve/materialise.js';
import { addRet } from '../ret/add.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { tempHome } from '../test-support/temp-home.js';

const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root: namespaces, overlay mounts and cgroups';
const home = tempHome('reg-escapes-');
let engine: Engine;

interface ProbeLine {
  probe: string;
  escaped: boolean;
  detail: string;
}

/** Every probe the suite expects reg-probe to report (a probe that silently stops running is a failure too). */
const EXPECTED_PROBES = [
  'mount', 'fsopen', 'chroot', 'clone-namespace-flags', 'clone-newuser-newnet', 'clone3-newuser', 'clone3-plain',
  'unshare', 'setns-pid1', 'io_uring', 'ptrace-pid1', 'kill-pid1', 'ptrace-own-child', 'other-container-process', 'other-container-file',
  'tiocsti', 'line-discipline', 'store-write', 'store-metadata', 'host-loopback-port', 'host-abstract-socket', 'vsock', 'raw-socket',
  'leak:/proc/1/cmdline', 'leak:/proc/self/mountinfo', 'leak:/proc/1/mountinfo', 'leak:/proc/1/environ',
  'leak:/proc/self/cgroup', 'leak:/proc/1/cgroup', 'leak:/proc/1/comm', 'leak:/proc/1/status',
  'setuid-0', 'capabilities', 'mknod', 'sethostname', 'proc-sys-write', 'sysrq', 'kernel-log', 'bpf', 'keyctl', 'userfaultfd',
];

/** A spawner that captures the container's output (stdout and stderr). */
function capture(): { spawn: SpawnLauncher; output: () => string } {
  let out = '';
  return {
    output: () => out,
    spawn: (file, args) => {
      const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { pid: c.pid!, exited: new Promise((r) => c.on('close', (code, signal) => r({ code, signal }))) };
    },
  };
}

/**
 * A spawner whose launcher is the child of a process the test can SIGKILL: `sh` (plain) or python's
 * pty.spawn (a terminal, like the host's node-pty: the launcher leads a session on a pty).
 */
function wrapped(kind: 'sh' | 'pty'): { spawn: SpawnLauncher; holder: () => ChildProcess } {
  let holder: ChildProcess | undefined;
  return {
    holder: () => holder!,
    spawn: (file, args) => {
      holder = kind === 'sh'
        ? spawn('/bin/sh', ['-c', '"$@" & wait', 'sh', file, ...args], { stdio: 'ignore' })
        : spawn('python3', ['-c', 'import pty, sys; pty.spawn(sys.argv[1:])', file, ...args], { stdio: 'ignore' });
      const h = holder;
      return { pid: h.pid!, exited: new Promise((r) => h.on('close', (code, signal) => r({ code, signal }))) };
    },
  };
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Host pids of every process whose mount namespace is ns. */
function processesInMountNs(ns: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/mnt`) === ns && alive(Number(e))) out.push(Number(e));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

function listen(server: Server, where: number | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'number') server.listen(where, '127.0.0.1', resolve);
    else server.listen(where, resolve);
  });
}

function fileDigest(path: string): string {
  const st = statSync(path);
  return `${st.ino} ${st.size} ${st.mode.toString(8)} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

before(async () => {
  if (!isRoot) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
  const root = join(home.root, 'probe-root');
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  copyFileSync(probePath, join(root, 'usr/bin/reg-probe'));
  writeFileSync(join(home.root, 'probe.yaml'), 'name: probe\nversion: "1"\nfiles:\n  bin: /usr/bin/reg-probe\nrequires: [rootfs@1]\n');
  await addRet(home, join(home.root, 'probe.yaml'), { root });
  const tool = join(home.root, 'tool-root');
  mkdirSync(join(tool, 'usr/local/bin'), { recursive: true });
  copyFileSync(probePath, join(tool, 'usr/local/bin/reg-tool'));
  writeFileSync(join(home.root, 'tool.yaml'), 'name: tool\nversion: "1"\nfiles:\n  bin: /usr/local/bin/reg-tool\nrequires: [rootfs@1]\n');
  await addRet(home, join(home.root, 'tool.yaml'), { root: tool });
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

describe('escape probes', () => {
  test('no probe escapes from a container, and each probe ran', { skip }, async () => {
    // Bait on the host: a TCP listener on its loopback and an abstract unix socket (both per netns).
    const tcp = createServer((c) => c.end('host\n'));
    await listen(tcp, 0);
    const abstract = `reg-escape-probe-${process.pid}`;
    const unix = createServer((c) => c.end('host\n'));
    await listen(unix, `\0${abstract}`);
    const other = capture();
    const otherState = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '60'] });
    const otherStarted = await engine.start(otherState.id, other.spawn);
    const otherFile = join(otherState.projectDir, 'secret.txt');
    writeFileSync(otherFile, 'another student\'s work\n');
    const blob = join((await materialise(home, 'probe@1')).lowerdirs[0]!, 'usr/bin/reg-probe');
    const blobBefore = fileDigest(blob);
    try {
      const port = (tcp.address() as { port: number }).port;
      const secrets = [home.root, dirname(launcherPath), '--deny-syscalls', '--uid', '--lower', otherState.id];
      const r = capture();
      const { outcome } = await engine.run({
        ret: 'probe', rm: true, spawn: r.spawn,
        command: ['reg-probe', 'escapes', ...secrets.flatMap((s) => ['--secret', s]), '--port', String(port), '--abstract', abstract,
          '--store-file', '/usr/bin/reg-probe', '--other-pid', String(otherStarted.state.initPid), '--other-file', otherFile],
      });
      assert.deepEqual(outcome, { outcome: 'exited', code: 0 }, r.output());
      const lines = r.output().trim().split('\n').map((l) => JSON.parse(l) as ProbeLine);
      for (const l of lines) console.log(`  ${l.escaped ? 'ESCAPED' : 'held   '} ${l.probe}: ${l.detail}`);
      // Known and pinned: a bind mount's root field in mountinfo is its path on the host filesystem,
      // so /work (the project directory) names REG_HOME unless it lives on a filesystem of its own
      // (a quota volume). Any other line naming the host fails; the next test shows the fix.
      const known = new Set(['leak:/proc/self/mountinfo', 'leak:/proc/1/mountinfo']);
      const mountinfo = capture();
      await engine.run({ ret: 'probe', rm: true, spawn: mountinfo.spawn, command: ['reg-probe', 'cat', '/proc/self/mountinfo'] });
      const naming = mountinfo.output().split('\n').filter((l) => l.includes(home.root));
      assert.ok(naming.every((l) => l.split(' ')[4] === '/work'), `only the /work bind may name the host: ${naming.join('\n')}`);
      if (naming.length === 0) known.clear(); // /work is on a filesystem of its own: no leak at all
      assert.deepEqual(lines.filter((l) => l.escaped && !known.has(l.probe)), [], 'escaped');
      assert.deepEqual(lines.map((l) => l.probe).sort(), [...EXPECTED_PROBES].sort(), 'every probe ran');
      // The filter, not luck, stopped the namespace calls; clone3 is refused as "not implemented".
      const by = new Map(lines.map((l) => [l.probe, l.detail]));
      assert.match(by.get('clone-newuser-newnet')!, /EPERM$/);
      assert.match(by.get('clone3-newuser')!, /ENOSYS$/);
      assert.match(by.get('io_uring')!, /EPERM$/);
      assert.match(by.get('host-loopback-port')!, /ECONNREFUSED$/, 'the container has its own loopback');
      assert.equal(fileDigest(blob), blobBefore, 'the store blob under the layer is unchanged');
    } finally {
      tcp.close();
      unix.close();
      await engine.stop(otherState.id, { graceMs: 0 }).catch(() => {});
    }
  });

  test('with /work on a filesystem of its own, nothing in /proc names the host', { skip }, async (t) => {
    const project = join(home.root, 'own-fs-project');
    mkdirSync(project);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,uid=1000,gid=1000,mode=0755', 'reg-project', project]);
    t.after(() => execFileSync('umount', ['-l', project]));
    const r = capture();
    const { outcome } = await engine.run({
      ret: 'probe', rm: true, spawn: r.spawn, projectDir: project,
      command: ['reg-probe', 'escapes', '--secret', home.root, '--secret', dirname(launcherPath), '--secret', '--deny-syscalls'],
    });
    assert.deepEqual(outcome, { outcome: 'exited', code: 0 }, r.output());
    const lines = r.output().trim().split('\n').map((l) => JSON.parse(l) as ProbeLine);
    assert.deepEqual(lines.filter((l) => l.escaped), []);
  });

  test('after `reg install` (an inserted layer) and in `reg exec`, nothing new names the host', { skip }, async () => {
    const box = capture();
    const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '60'] });
    await engine.start(s.id, box.spawn);
    try {
      await engine.insert(s.id, 'tool');
      const ex = capture();
      const launcher = await engine.exec(s.id, ['reg-tool', 'escapes', '--secret', home.root, '--secret', dirname(launcherPath), '--secret', '--target-pid'], ex.spawn);
      assert.equal((await launcher.exited).code, 0, ex.output());
      const lines = ex.output().trim().split('\n').map((l) => JSON.parse(l) as ProbeLine);
      const mi = capture();
      await (await engine.exec(s.id, ['reg-tool', 'cat', '/proc/self/mountinfo'], mi.spawn)).exited;
      const naming = mi.output().split('\n').filter((l) => l.includes(home.root));
      assert.match(mi.output(), / \/usr ro,\S* - overlay reg-insert /, 'the inserted overlay is mounted');
      assert.ok(naming.every((l) => l.split(' ')[4] === '/work'), `only the /work bind may name the host: ${naming.join('\n')}`);
      const known = new Set(naming.length ? ['leak:/proc/self/mountinfo', 'leak:/proc/1/mountinfo'] : []);
      assert.deepEqual(lines.filter((l) => l.escaped && !known.has(l.probe)), [], 'escaped');
    } finally {
      await engine.stop(s.id, { graceMs: 0 }).catch(() => {});
    }
  });

  test('threads, fork and python\'s threading, subprocess and pty still work under the filter', { skip }, async () => {
    const t = capture();
    await engine.run({ ret: 'probe', rm: true, spawn: t.spawn, command: ['reg-probe', 'threads'] });
    assert.deepEqual(JSON.parse(t.output()), { pthread: 'ok', value: 42, fork: 7, clone3: 'ENOSYS' });
    const py = capture();
    const program = [
      'import concurrent.futures, os, pty, subprocess, threading',
      'r = []; t = threading.Thread(target=lambda: r.append(1)); t.start(); t.join()',
      "out = subprocess.run(['python3', '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout.strip()",
      'pid = os.fork()',
      'if pid == 0: os._exit(3)',
      '_, st = os.waitpid(pid, 0)',
      'm, s = pty.openpty()',
      'with concurrent.futures.ThreadPoolExecutor(4) as ex: n = sum(ex.map(lambda x: x, range(10)))',
      'print(r, out, os.waitstatus_to_exitcode(st), n, os.ttyname(s))',
    ].join('\n');
    const { outcome } = await engine.run({ ret: 'python@3.11', rm: true, spawn: py.spawn, command: ['python3', '-c', program] });
    assert.deepEqual(outcome, { outcome: 'exited', code: 0 }, py.output());
    assert.equal(py.output().trim(), '[1] 42 3 45 /dev/pts/0');
  });
});

describe('resource isolation', () => {
  test('a fork bomb, a memory hog, a disk filler and a pty hog in one container leave another container\'s program unharmed', { skip }, async () => {
    const hog = [
      'import errno, os, pty, sys, time',
      'def say(*a): print(*a, flush=True)',
      'def name(e): return errno.errorcode.get(e.errno, str(e.errno))',
      'def in_child(fn):',
      '    pid = os.fork()',
      '    if pid == 0:',
      "        open('/proc/self/oom_score_adj', 'w').write('1000')  # the OOM killer takes the child, not us",
      '        try: fn()',
      '        except OSError as e: say("  error", name(e))',
      '        except MemoryError: say("  error MemoryError")',
      '        os._exit(0)',
      '    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])',
      'ptys = []',
      'try:',
      '    while True: ptys.append(os.openpty())',
      'except OSError as e: say("pty", name(e), len(ptys))',
      'def fill(path):',
      "    with open(path, 'wb') as f:",
      "        while True: f.write(b'x' * (1 << 20))",
      "say('tmp', in_child(lambda: fill('/tmp/fill')))",
      "os.remove('/tmp/fill')",
      'for d in ["/", "/usr", "/var", "/etc", "/home"]:',
      '    try: open(d + "/fill", "wb"); say("upper", d, "ok")',
      '    except OSError as e: say("upper", d, name(e))',
      'def eat():',
      '    b = []',
      '    while True: b.append(bytearray(16 << 20))',
      "say('memory', in_child(eat))",
      'n = 0',
      'try:',
      '    while True:',
      '        if os.fork() == 0:',
      '            time.sleep(600); os._exit(0)',
      '        n += 1',
      'except OSError as e: say("fork", name(e), n)',
      "say('held')",
      'time.sleep(600)',
    ].join('\n');
    const a = capture();
    const aState = await engine.generate({ ret: 'python@3.11', command: ['python3', '-c', hog], limits: { memoryBytes: 128 * 1024 * 1024, pids: 48 } });
    await engine.start(aState.id, a.spawn);
    try {
      await until(() => a.output().includes('held') || a.output().includes('Traceback'), 'the hogs to hold their resources', 60_000);
      const out = a.output();
      assert.match(out, /^pty ENOSPC 64$/m, `the devpts instance's max=64: ${out}`);
      assert.match(out, /^tmp (-9|0)$/m, `the tmp filler was stopped (killed or refused): ${out}`);
      for (const d of ['/', '/usr', '/var', '/etc', '/home']) assert.match(out, new RegExp(`^upper ${d} (EACCES|EROFS)$`, 'm'), out);
      assert.match(out, /^memory (-9|0)$/m, out);
      const fork = /^fork EAGAIN (\d+)$/m.exec(out);
      assert.ok(fork && Number(fork[1]) < 48, out);

      // Meanwhile a second container runs a program that needs processes, memory, a pty and /tmp.
      const b = capture();
      const program = [
        'import os, pty, subprocess',
        'm, s = pty.openpty()',
        "open('/tmp/scratch', 'wb').write(b'x' * (8 << 20))",
        "r = subprocess.run(['python3', '-c', 'print(sum(range(1000)))'], capture_output=True, text=True)",
        'print(r.stdout.strip(), os.ttyname(s), len(bytearray(64 << 20)))',
      ].join('\n');
      const { outcome } = await engine.run({ ret: 'python@3.11', rm: true, spawn: b.spawn, command: ['python3', '-c', program] });
      assert.deepEqual(outcome, { outcome: 'exited', code: 0 }, b.output());
      assert.equal(b.output().trim(), `499500 /dev/pts/0 ${64 << 20}`);
    } finally {
      await engine.stop(aState.id, { graceMs: 0 }).catch(() => {});
    }
  });
});

describe('crashes', () => {
  /** Starts a probe container through spawner, then checks what survives a SIGKILL of its holder. */
  async function killHolder(kind: 'sh' | 'pty', opts: { tty?: boolean; detached?: boolean }): Promise<{ state: ContainerState; survived: boolean }> {
    const w = wrapped(kind);
    const s = await engine.generate({ ret: 'probe', command: ['reg-probe', 'sleep', '60'], ...(opts.tty && { tty: true }) });
    const started = await engine.start(s.id, w.spawn, { detached: opts.detached ?? false });
    const pid1 = started.state.initPid!;
    const mntNs = readlinkSync(`/proc/${pid1}/ns/mnt`);
    const cgroups = await detectCgroupDriver({ parent: cgroupParentFor(home) });
    assert.ok((await cgroups.pids(cgroupName(s.id))).length >= 2, 'the container runs in its cgroup');
    w.holder().kill('SIGKILL');
    if (opts.detached) {
      await new Promise((r) => setTimeout(r, 300));
      const survived = alive(pid1) && (await engine.inspect(s.id)).status === 'running';
      await engine.stop(s.id, { graceMs: 0 });
      return { state: await engine.inspect(s.id), survived };
    }
    await until(() => !alive(pid1), 'pid 1 to die with the holder');
    await until(async () => (await cgroups.pids(cgroupName(s.id)).catch(() => [])).length === 0, 'the cgroup to empty');
    assert.deepEqual(processesInMountNs(mntNs), [], 'no process is left in the container\'s mount namespace (its mounts are gone)');
    const state = await engine.inspect(s.id);
    assert.equal(state.status, 'stopped', 'refresh observes the container as stopped');
    assert.deepEqual(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(home.root)).filter((l) => !/ - (ext4|xfs) \/dev\/loop/.test(l)), [], 'no mount on the host');
    return { state, survived: false };
  }

  test('SIGKILL of the process that spawned an attached container ends it', { skip }, async () => {
    const { survived } = await killHolder('sh', {});
    assert.equal(survived, false);
  });

  test('SIGKILL of the process holding a terminal container\'s pty ends it', { skip }, async () => {
    const { survived } = await killHolder('pty', { tty: true });
    assert.equal(survived, false);
  });

  test('a detached container survives the death of the process that started it (the host reconciles it)', { skip }, async () => {
    const { survived, state } = await killHolder('sh', { detached: true });
    assert.equal(survived, true);
    assert.equal(state.status, 'stopped');
  });

  test('SIGKILL of `reg run --rm --timeout` mid-run ends its container', { skip }, async () => {
    const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
    const cli = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(process.argv.slice(1));`,
      'run', '-t', 'probe', '--rm', '--timeout', '30', '--', 'reg-probe', 'sleep', '60'],
    { stdio: 'ignore', env: { ...process.env, REG_HOME: home.root } });
    let running: ContainerState | undefined;
    try {
      await until(async () => {
        running = (await engine.list()).find((s) => s.status === 'running' && s.command.includes('sleep'));
        return running !== undefined;
      }, 'the CLI to start its container', 30_000);
    } finally {
      cli.kill('SIGKILL');
    }
    await until(() => !alive(running!.initPid), 'the container to die with the CLI');
    assert.equal((await engine.inspect(running!.id)).status, 'stopped');
  });
});
