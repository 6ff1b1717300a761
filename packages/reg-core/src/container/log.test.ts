// The bounded, rotated log of detached containers: rotation keeps at most (files + 1) × maxBytes,
// --tail reads backwards across rotated files, follow survives a rotation; and for real: a
// detached container flooding its output, read by `reg logs` in a separate CLI process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempHome } from '../test-support/temp-home.js';
import { readLog } from './log-reader.js';
import { RotatingLog } from './log-writer.js';
import { Engine } from './engine.js';
import { buildFromHost } from '../ret/build-from-host.js';

const home = tempHome('reg-logs-');
const isRoot = process.getuid?.() === 0;
let engine: Engine | undefined;
after(async () => {
  if (engine) for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
  await engine?.disposeCgroupParent();
  home.cleanup();
});

async function collect(it: AsyncIterable<Buffer>): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out).toString();
}

const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');

test('rotation keeps the log within (files + 1) × maxBytes and the newest lines whole', async () => {
  const path = join(home.root, 'a.log');
  const log = new RotatingLog(path, { maxBytes: 1000, files: 2 });
  for (let i = 0; i < 2000; i++) log.write(Buffer.from(`line ${i}\n`));
  log.close();
  const names = readdirSync(home.root).filter((n) => n.startsWith('a.log')).sort();
  assert.deepEqual(names, ['a.log', 'a.log.1', 'a.log.2']);
  for (const n of names) assert.ok(statSync(join(home.root, n)).size <= 1000);
  const all = await collect(readLog(path, { files: 2 }));
  assert.ok(all.endsWith('line 1999\n'));
  assert.match(all, /^line \d+\n/, 'files split at line ends');
  assert.ok(all.length <= 3000);
});

test('--tail reads only the last lines, across rotated files', async () => {
  const path = join(home.root, 'b.log');
  const log = new RotatingLog(path, { maxBytes: 100, files: 3 });
  log.write(Buffer.from(lines(0, 30)));
  log.close();
  assert.equal(await collect(readLog(path, { files: 3, tail: 3 })), lines(27, 30));
  assert.equal(await collect(readLog(path, { files: 3, tail: 20 })), lines(10, 30), 'spans three files');
  assert.equal(await collect(readLog(path, { files: 3, tail: 0 })), '');
  assert.equal(await collect(readLog(join(home.root, 'none.log'), { tail: 5 })), '', 'no log yet: nothing');
});

test('follow streams new output and continues through a rotation, ending when the writer is gone', async () => {
  const path = join(home.root, 'c.log');
  const log = new RotatingLog(path, { maxBytes: 60, files: 1 });
  log.write(Buffer.from('first\n'));
  let running = true;
  const got = collect(readLog(path, { files: 1, follow: true, pollMs: 10, stillRunning: async () => running }));
  for (let i = 0; i < 20; i++) {
    log.write(Buffer.from(`more ${i}\n`));
    await new Promise((r) => setTimeout(r, 5));
  }
  log.close();
  running = false;
  const text = await got;
  assert.ok(text.startsWith('first\n'));
  for (let i = 0; i < 20; i++) assert.ok(text.includes(`more ${i}\n`), `more ${i} was followed`);
});

test('a detached container that floods its output keeps a bounded log; reg logs --tail streams its end', { skip: !isRoot && 'needs root' }, async () => {
  engine = await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
  process.env.REG_LOG_MAX_BYTES = String(256 * 1024);
  process.env.REG_LOG_FILES = '2';
  const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', "import sys\nfor i in range(400000): sys.stdout.write(f'line {i}\\n')\nsys.stdout.flush()"] });
  const started = await engine.start(s.id);
  await engine.wait(started);
  delete process.env.REG_LOG_MAX_BYTES;
  delete process.env.REG_LOG_FILES;
  const dir = join(home.containers, s.id);
  let total = 0;
  for (const n of ['output.log', 'output.log.1', 'output.log.2', 'output.log.3']) if (existsSync(join(dir, n))) total += statSync(join(dir, n)).size;
  assert.ok(!existsSync(join(dir, 'output.log.3')));
  assert.ok(total <= 3 * 256 * 1024, `bounded: ${total} bytes for ~5 MB of output`);
  // The CLI in its own process: the last three lines.
  const bin = fileURLToPath(new URL('../../bin/reg.js', import.meta.url));
  const r = spawnSync(process.execPath, [bin, 'logs', '--tail', '3', s.id], { env: { ...process.env, REG_HOME: home.root }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'line 399997\nline 399998\nline 399999\n');
  // -f on a stopped container prints and returns.
  const f = spawnSync(process.execPath, [bin, 'logs', '-f', '-n', '1', s.id], { env: { ...process.env, REG_HOME: home.root }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(f.stdout, 'line 399999\n');
});
