// What linking host files into the store is for: a container's python shares the very pages of
// the host's own python (page cache and mapped text), as a second bare process would, while a
// container of a copied store maps pages of its own. Evidence from the kernel: the Shared_Clean
// pages of the python binary's text mapping in the container's process (pages mapped by more
// than one process), with a bare python running on the host beside it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, test } from 'node:test';
import { Engine } from '../container/engine.js';
import { tempHome } from '../test-support/temp-home.js';
import { buildFromHost } from './build-from-host.js';
import { mayLinkHostFile, storeLinkModeFromEnv } from './host-import.js';
import { RegError } from '../errors.js';

const PYTHON = '/usr/bin/python3.11';
const isRoot = process.getuid?.() === 0;
const homes: Array<ReturnType<typeof tempHome>> = [];
const engines: Engine[] = [];
after(async () => {
  for (const e of engines) {
    for (const s of await e.list({ all: true })) await e.remove(s.id, { force: true }).catch(() => {});
    await e.disposeCgroupParent();
  }
  for (const h of homes) h.cleanup();
});

test('the policy: files under /usr are linked, /etc, /usr/local and /opt are copied; REG_STORE_LINK is auto or copy', () => {
  assert.ok(mayLinkHostFile('/usr/lib/x86_64-linux-gnu/libc.so.6'));
  assert.ok(mayLinkHostFile('/usr/lib/python3.11/__pycache__/os.cpython-311.pyc'));
  for (const p of ['/etc/ssl/openssl.cnf', '/usr/local/lib/libx.so', '/opt/tool/bin/tool', '/usrx/lib/a']) assert.equal(mayLinkHostFile(p), false, p);
  assert.equal(storeLinkModeFromEnv({}), 'auto');
  assert.equal(storeLinkModeFromEnv({ REG_STORE_LINK: 'copy' }), 'copy');
  assert.throws(() => storeLinkModeFromEnv({ REG_STORE_LINK: 'hardlink' }), (e: RegError) => e.code === 'USAGE' && e.field === 'REG_STORE_LINK' && e.message.includes('hardlink'));
});

/** The pid of the first python3.11 below pid (the container's init → the command). */
function pythonBelow(pid: number): number | undefined {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  for (const k of kids) {
    if (readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'python3.11') return k;
    const deeper = pythonBelow(k);
    if (deeper) return deeper;
  }
  return undefined;
}

/** Shared_Clean (bytes) of the executable mapping of the python binary in pid. */
function sharedTextBytes(pid: number): number {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const blocks = smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  const text = blocks.find((b) => / r-xp .*\/usr\/bin\/python3\.11\n/.test(b));
  assert.ok(text, 'the python binary is mapped executable');
  return Number(/^Shared_Clean:\s+(\d+) kB/m.exec(text)![1]) * 1024;
}

async function containerPythonSharedText(link: 'auto' | 'copy'): Promise<number> {
  const home = tempHome(`reg-import-${link}-`);
  homes.push(home);
  await buildFromHost(home, PYTHON, { link });
  const engine = await Engine.open({ home });
  engines.push(engine);
  const s = await engine.generate({ ret: 'python@3.11', command: [PYTHON, '-c', "import time\nprint('ready', flush=True)\ntime.sleep(120)"] });
  const started = await engine.start(s.id);
  for await (const c of engine.readLogs(s.id, { follow: true, signal: AbortSignal.timeout(30_000) })) if (c.toString().includes('ready')) break;
  const py = pythonBelow(started.state.initPid!);
  assert.ok(py, 'found the container python');
  const shared = sharedTextBytes(py);
  await engine.remove(s.id, { force: true });
  return shared;
}

test('a container of a linked python shares the host python\'s text pages; one of a copied store does not', { skip: !isRoot && 'needs root' }, async (t) => {
  if (statSync(tmpdir()).dev !== statSync('/usr/bin').dev) return t.skip(`${tmpdir()} is not on the filesystem of /usr: every host file would be copied`);
  const bare = spawn(PYTHON, ['-c', "import time\nprint('ready', flush=True)\ntime.sleep(300)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.after(() => bare.kill('SIGKILL'));
  await new Promise<void>((resolve) => bare.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
  const linked = await containerPythonSharedText('auto');
  const copied = await containerPythonSharedText('copy');
  assert.ok(linked >= 256 * 1024, `linked: ${linked} bytes of python's text shared with the host's python`);
  assert.equal(copied, 0, 'copied: the container maps a copy nobody else maps');
});
