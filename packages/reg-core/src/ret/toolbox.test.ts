// The toolbox RET from Debian packages, in a real container beside python: a shell, git that
// commits, nano and vim that open on a terminal (driven through a pty from inside the
// container) and terminfo for xterm-256color. Needs root and apt (downloads are cached in
// $REG_CACHE/debs or /var/cache/reg-debs and shared by runs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Engine } from '../container/engine.js';
import { tempHome } from '../test-support/temp-home.js';
import { buildFromHost } from './build-from-host.js';
import { listVersions, loadRet } from './repository.js';
import { ensureToolbox, ensureToolboxEnvironment, TOOLBOX } from './toolbox.js';
import { buildFromDeb } from './build-from-deb.js';

const skip = process.getuid?.() !== 0 ? 'needs root: overlay mounts, namespaces, cgroups' : !existsSync('/usr/bin/apt-get') ? 'needs apt-get (a Debian host)' : false;
const home = tempHome('reg-toolbox-');
let engine: Engine;
let env: string;

async function sh(script: string): Promise<{ code: number | null; output: string }> {
  let out = '';
  const r = await engine.run({
    ret: env,
    command: ['/bin/bash', '-c', script],
    rm: true,
    env: { TERM: 'xterm-256color', HOME: '/work' },
    spawn: (file, args) => {
      const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return { pid: c.pid!, exited: new Promise((res) => c.on('close', (code, signal) => res({ code, signal }))) };
    },
  });
  return { code: r.outcome.code ?? null, output: out };
}

before(async () => {
  if (skip) return;
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
  // node's host build carries the host's bash, dash and env: the toolbox must agree with them.
  if (existsSync('/usr/bin/node')) await buildFromHost(home, '/usr/bin/node');
  const report = await ensureToolbox(home, () => {});
  assert.ok(report, 'the toolbox was built');
  env = await ensureToolboxEnvironment(home, { name: 'python', version: (await listVersions(home, 'python'))[0]! });
});

after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

test('the toolbox records where each RET came from and reuses the store\'s libc', { skip }, async () => {
  const bash = await loadRet(home, 'bash', (await listVersions(home, 'bash'))[0]!);
  assert.equal(bash.kind, 'package');
  assert.equal(bash.source?.deb?.package, 'bash');
  const nano = await loadRet(home, 'nano', (await listVersions(home, 'nano'))[0]!);
  assert.match(nano.source?.deb?.sha256 ?? '', /^sha256:[0-9a-f]{64}$/, 'a package from the archive records its .deb digest');
  assert.ok(bash.libs?.includes('libc@6'), `bash links the store's libc@6: ${bash.libs}`);
  assert.ok(bash.libs?.some((l) => l.startsWith('libtinfo@')), 'and libtinfo from the python closure');
  const tools = await loadRet(home, TOOLBOX.name, TOOLBOX.version);
  for (const p of ['bash', 'git', 'nano', 'vim-tiny']) assert.ok(tools.requires?.some((r) => r.startsWith(`${p}@`)), `tools requires ${p}`);
  assert.equal(tools.env?.EDITOR, 'nano');
  // libc6 came from the store (the host-built libc@6), not from a download
  await assert.rejects(loadRet(home, 'libc6', '2.36'));
});

test('a shell with coreutils, /bin/sh, git init && git commit in the workspace', { skip }, async () => {
  const r = await sh(
    'set -e; cd /work; git init -q; git config --global user.email s@example.edu; git config --global user.name Student; ' +
      'printf "print(6*7)\\n" > hello.py; git add hello.py; git commit -qm "first"; git log --format=%s; python3 hello.py; ' +
      '/bin/sh -c "echo sh-ok"; ls /usr/bin | grep -c . >/dev/null; grep -c . hello.py; echo "$EDITOR"; ' +
      'infocmp xterm-256color >/dev/null && tput colors; ps -o comm= -p $$; less --version | head -1',
  );
  assert.equal(r.code, 0, r.output);
  const lines = r.output.trim().split('\n');
  assert.deepEqual(lines.slice(0, 5), ['first', '42', 'sh-ok', '1', 'nano'], r.output);
  assert.equal(lines[5], '256', 'terminfo knows xterm-256color');
  assert.equal(lines[6], 'bash');
  assert.match(lines[7]!, /^less \d+/);
});

test('nano and vim open on a terminal and save what is typed', { skip }, async () => {
  // A pty from inside the container (python's pty module): the editors see a real terminal.
  const driver = `
import os, pty, select, sys, time
def drive(argv, keys):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ['TERM'] = 'xterm-256color'
        os.execvp(argv[0], argv)
    out = b''
    def pump(seconds):
        nonlocal out
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    return
    pump(1.0)
    for k in keys:
        os.write(fd, k)
        pump(0.3)
    pump(0.5)
    _, status = os.waitpid(pid, 0)
    return out, status
out, st = drive(['nano', '/work/n.txt'], [b'hello from nano', b'\\x18', b'y', b'\\r'])
print('nano', st, b'GNU nano' in out)
out, st = drive(['vim', '/work/v.txt'], [b'ihello from vim', b'\\x1b', b':wq\\r'])
print('vim', st, b'\\x1b[' in out)
`;
  const r = await sh(`cat > /tmp/drive.py <<'EOF'\n${driver}\nEOF\npython3 /tmp/drive.py && cat /work/n.txt /work/v.txt`);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /nano 0 True/);
  assert.match(r.output, /vim 0 True/);
  assert.match(r.output, /hello from nano\nhello from vim/);
});

test('building the toolbox again adds nothing: every RET is unchanged', { skip }, async () => {
  const report = await buildFromDeb(home, TOOLBOX.packages, { name: TOOLBOX.name, version: TOOLBOX.version, skip: TOOLBOX.skip, links: TOOLBOX.links, env: TOOLBOX.env });
  assert.equal(report.newBlobs, 0);
  const changed = report.rets.filter((r) => r.status !== 'unchanged');
  assert.deepEqual(changed.map((r) => `${r.name}@${r.version} ${r.status}`), []);
  assert.ok(readFileSync(`${home.rets}/tools/1.yaml`, 'utf8').includes('builder: reg ret build --from-deb'));
});

test('node pairs with the toolbox too: the host copies node carries are the toolbox\'s', { skip: skip || (!existsSync('/usr/bin/node') && 'needs /usr/bin/node') }, async () => {
  const bash = await loadRet(home, 'bash', (await listVersions(home, 'bash'))[0]!);
  assert.match(bash.description ?? '', /this host's installed copy/);
  const node = await ensureToolboxEnvironment(home, { name: 'node', version: (await listVersions(home, 'node'))[0]! });
  const saved = env;
  env = node;
  try {
    const r = await sh('readlink /bin/sh; sh -c "echo sh-ok"; node -e "console.log(6*7)"; git --version | cut -d" " -f1-2');
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(r.output.trim().split('\n'), ['dash', 'sh-ok', '42', 'git version']);
  } finally {
    env = saved;
  }
});
