// The bounded, rotated log of detached containers, written by the native helper reg-log
// (packages/native/src/logger): rotation keeps at most (files + 1) × maxBytes, --tail reads
// backwards across rotated files, follow survives a rotation; and for real: a detached container
// flooding its output, read by `reg logs` in a separate CLI process, its helper a few hundred KiB.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { logWriterPath } from '@reg/native';
import { tempHome } from '../test-support/temp-home.js';
import { readLog } from './log-reader.js';
import { logLimitsFromEnv, spawnLogWriter, type LogLimits } from './log-writer.js';
import { Engine } from './engine.js';
import { buildFromHost } from '../ret/build-from-host.js';
import { RegError } from '../errors.js';

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

/** A running reg-log: write chunks to it (each one read by a separate read(2) where pacing allows), then end it. */
function logger(path: string, limits: LogLimits) {
  const p = spawnLogWriter(path, limits);
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return {
    write: (chunk: string) => new Promise<void>((resolve, reject) => p.stdin!.write(chunk, (e) => (e ? reject(e) : resolve()))),
    end: async () => {
      p.stdin!.end();
      return exited;
    },
  };
}

/** Writes each chunk and waits until reg-log has appended it (so chunks reach it as separate reads). */
async function writeAll(path: string, limits: LogLimits, chunks: string[]): Promise<void> {
  const l = logger(path, limits);
  for (const c of chunks) await l.write(c);
  assert.equal(await l.end(), 0, 'reg-log exits 0 when its stdin closes');
}

test('rotation keeps the log within (files + 1) × maxBytes and the newest lines whole', async () => {
  const path = join(home.root, 'a.log');
  await writeAll(path, { maxBytes: 1000, files: 2 }, Array.from({ length: 2000 }, (_, i) => `line ${i}\n`));
  const names = readdirSync(home.root).filter((n) => n.startsWith('a.log')).sort();
  assert.deepEqual(names, ['a.log', 'a.log.1', 'a.log.2']);
  for (const n of names) assert.ok(statSync(join(home.root, n)).size <= 1000);
  assert.equal(statSync(path).mode & 0o777, 0o600, 'only root reads a container\'s output');
  const all = await collect(readLog(path, { files: 2 }));
  assert.ok(all.endsWith('line 1999\n'));
  for (const n of names) assert.match(readFileSync(join(home.root, n), 'utf8'), /^(line \d+\n)+$/, `${n} holds whole lines only`);
  assert.ok(all.length <= 3000);
});

test('one big chunk is split at line ends across files; a line longer than a file is cut, not lost', async () => {
  const path = join(home.root, 'big.log');
  await writeAll(path, { maxBytes: 100, files: 3 }, [lines(0, 30)]);
  assert.equal(await collect(readLog(path, { files: 3 })), lines(0, 30), 'nothing lost: 230 bytes fit in three files of 100');
  assert.ok(!existsSync(`${path}.3`));
  for (const n of ['big.log', 'big.log.1', 'big.log.2']) assert.match(readFileSync(join(home.root, n), 'utf8'), /^(line \d+\n)+$/, `${n} holds whole lines only`);
  const long = join(home.root, 'long.log');
  await writeAll(long, { maxBytes: 10, files: 5 }, ['x'.repeat(25) + '\n']);
  assert.equal(await collect(readLog(long, { files: 5 })), 'x'.repeat(25) + '\n');
  assert.equal(statSync(long).size, 6, '10 + 10 + 6 bytes');
});

test('an existing log is appended to, and rotated first when already full; files=0 keeps only the current file', async () => {
  const path = join(home.root, 'e.log');
  writeFileSync(path, 'old 1\nold 2\n');
  await writeAll(path, { maxBytes: 20, files: 1 }, ['new 1\n']);
  assert.equal(readFileSync(path, 'utf8'), 'old 1\nold 2\nnew 1\n');
  await writeAll(path, { maxBytes: 10, files: 1 }, ['new 2\n']);
  assert.equal(readFileSync(`${path}.1`, 'utf8'), 'old 1\nold 2\nnew 1\n');
  assert.equal(readFileSync(path, 'utf8'), 'new 2\n');
  const zero = join(home.root, 'z.log');
  await writeAll(zero, { maxBytes: 12, files: 0 }, [lines(0, 10)]);
  assert.deepEqual(readdirSync(home.root).filter((n) => n.startsWith('z.log')), ['z.log']);
  assert.equal(readFileSync(zero, 'utf8'), 'line 9\n');
});

test('bad limits are refused: the environment names the variable, reg-log itself exits 2', () => {
  assert.deepEqual(logLimitsFromEnv({}), { maxBytes: 8 * 1024 * 1024, files: 2 });
  assert.deepEqual(logLimitsFromEnv({ REG_LOG_MAX_BYTES: '4096', REG_LOG_FILES: '0' }), { maxBytes: 4096, files: 0 });
  for (const [name, value] of [['REG_LOG_MAX_BYTES', '-5'], ['REG_LOG_MAX_BYTES', '1e3x'], ['REG_LOG_FILES', '1.5'], ['REG_LOG_FILES', '20000']] as const) {
    assert.throws(() => logLimitsFromEnv({ [name]: value }), (e: RegError) => e.code === 'USAGE' && e.field === name && e.message.includes(value));
  }
  for (const args of [[], ['x'], [join(home.root, 'bad.log'), '0', '1'], [join(home.root, 'bad.log'), '10', '-1'], [join(home.root, 'bad.log'), '10', '2x']]) {
    const r = spawnSync(logWriterPath, args, { input: 'ignored', encoding: 'utf8' });
    assert.equal(r.status, 2, `reg-log ${args.join(' ')}`);
    assert.match(r.stderr, /^usage: reg-log/);
  }
  assert.ok(!existsSync(join(home.root, 'bad.log')), 'nothing written on bad arguments');
});

test('a full disk drops output instead of blocking the writer; rotation frees room and logging resumes', { skip: !isRoot && 'needs root to mount a small tmpfs' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reg-logs-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  t.after(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'full.log');
  // 48 KiB files (192 lines of 256 bytes), one rotated copy, on 64 KiB: the second file hits
  // ENOSPC (the rest of it is dropped); its rotation deletes the first and the third fits.
  const chunks = Array.from({ length: 500 }, (_, i) => `${String(i).padStart(4, '0')} ${'x'.repeat(250)}\n`);
  await writeAll(path, { maxBytes: 48 * 1024, files: 1 }, chunks);
  const text = await collect(readLog(path, { files: 1 })); // oldest first
  assert.ok(text.endsWith(`0499 ${'x'.repeat(250)}\n`), 'the newest output is logged once a rotation freed room');
  assert.ok(text.length < 500 * 256 - 192 * 256, 'what did not fit was dropped');
  assert.ok(!text.includes('0383 '), 'the end of the second file, written while the disk was full, is gone');
});

test('--tail reads only the last lines, across rotated files', async () => {
  const path = join(home.root, 'b.log');
  await writeAll(path, { maxBytes: 100, files: 3 }, [lines(0, 30)]);
  assert.equal(await collect(readLog(path, { files: 3, tail: 3 })), lines(27, 30));
  assert.equal(await collect(readLog(path, { files: 3, tail: 20 })), lines(10, 30), 'spans three files');
  assert.equal(await collect(readLog(path, { files: 3, tail: 0 })), '');
  assert.equal(await collect(readLog(join(home.root, 'none.log'), { tail: 5 })), '', 'no log yet: nothing');
});

test('follow streams new output and continues through a rotation, ending when the writer is gone', async () => {
  const path = join(home.root, 'c.log');
  const log = logger(path, { maxBytes: 60, files: 1 });
  await log.write('first\n');
  while (!existsSync(path) || statSync(path).size === 0) await new Promise((r) => setTimeout(r, 5));
  let running = true;
  const got = collect(readLog(path, { files: 1, follow: true, pollMs: 10, stillRunning: async () => running }));
  for (let i = 0; i < 20; i++) {
    await log.write(`more ${i}\n`);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(await log.end(), 0);
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

test('the log helper of a detached container is reg-log, a few hundred KiB, gone with the container', { skip: !isRoot && 'needs root' }, async () => {
  engine ??= await Engine.open({ home });
  await buildFromHost(home, '/usr/bin/python3.11');
  const s = await engine.generate({ ret: 'python@3.11', command: ['/usr/bin/python3.11', '-c', "import sys, time\nprint('ready', flush=True)\ntime.sleep(60)"] });
  const started = await engine.start(s.id);
  const pid = started.state.logPid!;
  assert.ok(pid, 'the helper pid is recorded for rm');
  assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'reg-log');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  assert.ok(rssKiB < 4096, `reg-log RSS ${rssKiB} KiB (the Node helper it replaced took 35-40 MB)`);
  let out = '';
  for await (const c of engine.readLogs(s.id, { follow: true, signal: AbortSignal.timeout(20_000) })) {
    out += c.toString();
    if (out.includes('ready')) break; // followed from the live helper's file
  }
  assert.match(out, /ready/);
  await engine.remove(s.id, { force: true });
  assert.ok(!existsSync(`/proc/${pid}`) || !readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('reg-log'), 'the helper ended with the container');
});
