// The closure includes what glibc dlopens at run time: libgcc_s.so.1 for pthread_exit and thread
// cancellation. Proven from inside a python container: a thread that calls pthread_exit (and one
// that is cancelled) no longer aborts the interpreter.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { Engine } from '../container/engine.js';
import { resolveGraph } from '../resolve/resolve.js';
import { tempHome } from '../test-support/temp-home.js';
import { buildFromHost } from './build-from-host.js';
import { readLoaderConfig, resolveDependencies } from './loader-search.js';

const isRoot = process.getuid?.() === 0;
const home = tempHome('reg-dlopen-');
let engine: Engine | undefined;
after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

test('with runtimeDlopens the closure of python adds libgcc_s.so.1, as needed by libc', async () => {
  const config = await readLoaderConfig('/');
  const plain = await resolveDependencies(['/usr/bin/python3.11'], config);
  assert.ok(!plain.libraries.some((l) => l.soname === 'libgcc_s.so.1'), 'ld.so alone does not load it (what ldd shows)');
  const full = await resolveDependencies(['/usr/bin/python3.11'], config, { runtimeDlopens: true });
  const gcc = full.libraries.find((l) => l.soname === 'libgcc_s.so.1');
  assert.ok(gcc, 'libgcc_s is in the closure');
  assert.ok(gcc.neededBy.some((p) => p.endsWith('/libc.so.6')));
});

test('python and node RETs require libgcc; a python thread calling pthread_exit or cancelled works', { skip: !isRoot && 'needs root (containers)' }, async () => {
  await buildFromHost(home, '/usr/bin/python3.11');
  await buildFromHost(home, '/usr/bin/node');
  for (const ref of ['python@3.11', 'node']) {
    const g = await resolveGraph(home, ref);
    assert.ok(g.rets.some((m) => m.name.startsWith('libgcc')), `${ref} closure has libgcc_s: ${g.rets.map((m) => m.name).join(' ')}`);
  }
  engine = await Engine.open({ home });
  // Python's own bookkeeping never learns that such a thread ended (join() would wait for ever),
  // so the threads are daemons and the check is the kernel's: only the main thread is left, and
  // the interpreter did not abort ("libgcc_s.so.1 must be installed for pthread_exit to work").
  const code = [
    'import ctypes, os, threading, time',
    "libc = ctypes.CDLL('libc.so.6')",
    'threading.Thread(target=lambda: libc.pthread_exit(None), daemon=True).start()',
    // A cancelled thread, blocked in sleep(3) (a cancellation point): unwinding it needs libgcc_s too.
    'libc.pthread_cancel.argtypes = [ctypes.c_ulong]',
    'u = threading.Thread(target=lambda: libc.sleep(30), daemon=True); u.start()',
    'time.sleep(0.3); libc.pthread_cancel(u.ident)',
    'for _ in range(100):',
    "    if len(os.listdir('/proc/self/task')) == 1: break",
    '    time.sleep(0.05)',
    "print('threads ok' if len(os.listdir('/proc/self/task')) == 1 else 'threads left', flush=True)",
    'os._exit(0)',
  ].join('\n');
  let out = '';
  const r = await engine.run({
    ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', code], rm: true, timeoutMs: 60_000,
    spawn: (file, args) => {
      const c = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.on('data', (d: Buffer) => (out += d));
      c.stderr.on('data', (d: Buffer) => (out += d));
      return { pid: c.pid!, exited: new Promise((res) => c.on('close', (code2, signal) => res({ code: code2, signal }))) };
    },
  });
  assert.deepEqual(r.outcome, { outcome: 'exited', code: 0 }, out);
  assert.equal(out.trim(), 'threads ok');
});
