// Transfer progress as the user sees it: plain lines off a TTY, live redrawn lines on one; and the
// bounded pool transfers run in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLimiter } from './limiter.js';
import { ProgressDisplay, humanBytes } from './progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (s: string) => chunks.push(s) } };
}

test('off a TTY: one plain line per RET, no escape codes', () => {
  const { chunks, stream } = sink(false);
  const d = new ProgressDisplay('pull', stream);
  d.handle({ type: 'plan', ret: 'python@3.11.2', files: 2, bytes: 3 << 20 });
  d.handle({ type: 'bytes', ret: 'python@3.11.2', bytes: 3 << 20 });
  d.handle({ type: 'file', ret: 'python@3.11.2' });
  d.handle({ type: 'file', ret: 'python@3.11.2' });
  d.handle({ type: 'done', ret: 'python@3.11.2', outcome: 'fetched' });
  d.handle({ type: 'done', ret: 'libc@6', outcome: 'up to date' });
  d.finish();
  const text = chunks.join('');
  assert.match(text, /^pull python@3\.11\.2: fetched, 2 files, 3\.0 MiB in [\d.]+ s/m);
  assert.match(text, /^pull libc@6: up to date$/m);
  assert.ok(!text.includes('\x1b'));
});

test('on a TTY: per-RET lines with files, bytes and rate, redrawn in place, then a summary', async () => {
  const { chunks, stream } = sink(true);
  const d = new ProgressDisplay('push', stream);
  d.handle({ type: 'plan', ret: 'node@20.19.2', files: 10, bytes: 100 << 20 });
  d.handle({ type: 'bytes', ret: 'node@20.19.2', bytes: 40 << 20 });
  d.handle({ type: 'file', ret: 'node@20.19.2' });
  await new Promise((r) => setTimeout(r, 150));
  const live = chunks.join('');
  assert.match(live, /node@20\.19\.2\s+1\/10 files\s+40\.0 MiB\/100\.0 MiB\s+[\d.]+ \w+\/s/);
  assert.ok(live.includes('\x1b[2K'));
  d.handle({ type: 'done', ret: 'node@20.19.2', outcome: 'pushed' });
  d.finish();
  assert.match(chunks.at(-1)!, /node@20\.19\.2: pushed, 1 files, 40\.0 MiB/);
});

test('bytes are human-sized', () => {
  assert.equal(humanBytes(512), '512 B');
  assert.equal(humanBytes(1536), '1.5 KiB');
  assert.equal(humanBytes(5 * 2 ** 30), '5.0 GiB');
});

test('the limiter never runs more than n tasks and runs them all', async () => {
  const limit = createLimiter(3);
  let running = 0;
  let peak = 0;
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      limit(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 1 + (i % 4)));
        running--;
        return i;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
});
