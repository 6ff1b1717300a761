// Host-wide memory accounting: sums smaps_rollup figures per container and over the host.
//
// Definitions (all in bytes):
// - rss: resident pages mapped by the processes, each shared page counted once per process.
// - pss: each resident page divided by the number of processes mapping it; Σ pss over all
//   processes on the host is the memory they really occupy.
// - uss: pages private to one process (what killing it alone frees).
// - savedBySharing = Σ rss − Σ pss over every process accounted: how much more memory the same
//   processes would take if no page were shared between them (shared libraries and binaries from
//   the store, hardlinked into many containers, are what makes this large). Pages shared with
//   processes outside the accounted set lower Σ pss too, so this is an upper bound of the saving
//   among containers alone.
// Cost: one smaps_rollup read per process with bounded concurrency; the kernel walks each
// process's page tables, so the time scales with resident memory more than with process count.

import { readFile } from 'node:fs/promises';
import { type MemoryFigures, addFigures, readSmapsRollup, zeroFigures } from './smaps.js';

export interface ContainerMemory {
  id: string;
  /** Processes actually accounted (those that still existed when read). */
  pids: number;
  figures: MemoryFigures;
}

export interface HostMemory {
  containers: ContainerMemory[];
  total: MemoryFigures;
  savedBySharing: number;
  /** MemTotal − MemAvailable from /proc/meminfo. */
  hostUsedBytes: number;
}

/** Enough to keep libuv's threadpool (4 threads by default) busy without flooding it. */
const DEFAULT_CONCURRENCY = 16;

/** Runs fn over items with at most `concurrency` in flight. */
async function forEachBounded<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

export async function accountProcesses(pids: number[], opts: { concurrency?: number } = {}): Promise<MemoryFigures> {
  const total = zeroFigures();
  await forEachBounded(pids, opts.concurrency ?? DEFAULT_CONCURRENCY, async (pid) => {
    const f = await readSmapsRollup(pid);
    if (f) addFigures(total, f);
  });
  return total;
}

/** MemTotal − MemAvailable, in bytes. */
export async function readHostUsedBytes(meminfoPath = '/proc/meminfo'): Promise<number> {
  const text = await readFile(meminfoPath, 'latin1');
  const field = (key: string) => {
    const at = text.indexOf(`${key}:`);
    return at < 0 ? 0 : Number.parseInt(text.slice(at + key.length + 1).trimStart(), 10) * 1024;
  };
  return field('MemTotal') - field('MemAvailable');
}

export async function accountContainers(
  containers: Array<{ id: string; pids: number[] }>,
  opts: { concurrency?: number } = {},
): Promise<HostMemory> {
  const results: ContainerMemory[] = containers.map((c) => ({ id: c.id, pids: 0, figures: zeroFigures() }));
  // One flat job list, so a container with many processes does not serialise behind one worker.
  const jobs: Array<[number, number]> = [];
  containers.forEach((c, i) => {
    for (const pid of c.pids) jobs.push([i, pid]);
  });
  const [hostUsedBytes] = await Promise.all([
    readHostUsedBytes(),
    forEachBounded(jobs, opts.concurrency ?? DEFAULT_CONCURRENCY, async ([i, pid]) => {
      const f = await readSmapsRollup(pid);
      if (!f) return;
      const r = results[i]!;
      r.pids++;
      addFigures(r.figures, f);
    }),
  ]);
  const total = zeroFigures();
  for (const r of results) addFigures(total, r.figures);
  return { containers: results, total, savedBySharing: total.rss - total.pss, hostUsedBytes };
}
