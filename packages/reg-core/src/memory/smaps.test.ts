import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSmapsRollup, readSmapsRollup } from './smaps.js';

const SAMPLE = `55c9066c5000-7ffcd2d28000 ---p 00000000 00:00 0                          [rollup]
Rss:                1740 kB
Pss:                 450 kB
Pss_Dirty:           116 kB
Pss_Anon:            116 kB
Pss_File:            334 kB
Pss_Shmem:             0 kB
Shared_Clean:       1584 kB
Shared_Dirty:          8 kB
Private_Clean:        40 kB
Private_Dirty:       116 kB
Referenced:         1740 kB
Anonymous:           116 kB
Swap:                 12 kB
SwapPss:               3 kB
Locked:                0 kB
`;

const temps: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

describe('parseSmapsRollup', () => {
  it('reads the figures in bytes and ignores look-alike keys (Pss_Dirty, SwapPss)', () => {
    const buf = Buffer.from(SAMPLE);
    assert.deepEqual(parseSmapsRollup(buf, buf.length), {
      rss: 1740 * 1024,
      pss: 450 * 1024,
      uss: (40 + 116) * 1024,
      shared: (1584 + 8) * 1024,
      swap: 12 * 1024,
    });
  });
});

describe('readSmapsRollup', () => {
  it('reads a file larger than its buffer under another proc root', async () => {
    const root = await mkdtemp(join(tmpdir(), 'reg-proc-'));
    temps.push(root);
    await mkdir(join(root, '42'));
    await writeFile(join(root, '42', 'smaps_rollup'), SAMPLE + 'Padding:   0 kB\n'.repeat(400) + 'Swap:   99 kB\n');
    const f = await readSmapsRollup(42, root);
    assert.equal(f?.rss, 1740 * 1024);
    assert.equal(f?.swap, 99 * 1024, 'the last line, past the first 4 KiB, was read');
  });

  it('accounts a real process: rss >= pss > 0, 0 < uss <= rss', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((r) => child.once('spawn', r));
    // exec may not have happened yet right after spawn; give it a moment.
    await new Promise((r) => setTimeout(r, 50));
    const f = await readSmapsRollup(child.pid!);
    assert.ok(f, 'figures for a live process');
    assert.ok(f.rss >= f.pss && f.pss > 0, JSON.stringify(f));
    assert.ok(f.uss > 0 && f.uss <= f.rss, JSON.stringify(f));
    assert.equal(f.uss + f.shared, f.rss);
  });

  it('gives undefined, not a throw, for a process that is gone', async () => {
    const r = spawnSync('true');
    assert.equal(r.status, 0);
    assert.equal(await readSmapsRollup(r.pid), undefined);
    assert.equal(await readSmapsRollup(2 ** 22 + 1), undefined);
  });
});
