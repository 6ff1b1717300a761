// "Sharing off": Reg with every container holding its own copies of its runtime's files, as
// separate images would. Reg has no such switch, so the bench makes one from the outside:
//   1. engine.generate() lays the container out as usual, with state.lowerdirs naming the
//      shared layer trees (hard links into the one store);
//   2. the bench copies those trees with `cp -a` into a directory of its own — new files, new
//      inodes, so nothing is shared with the store or with any other container's copy;
//   3. it rewrites `lowerdirs` in $REG_HOME/containers/<id>/state.json (the engine's documented
//      per-container state) to point at the copies;
//   4. engine.start() re-reads the state file and mounts the copies as the overlay's lower layers.
// The copy is made before the timed part of a start, like an image that was pulled earlier.

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { check } from './processes.js';
import type { RegHome } from './reg-core.js';

const statePath = (home: RegHome, id: string) => join(home.containers, id, 'state.json');

/**
 * Copies every lower layer of container `id` under `dir` and points the container at the copies.
 * With `group` (a memory cgroup's cgroup.procs), cp runs in it: the copies' page cache is charged
 * there, so the bench can count it with the containers that map it.
 */
export async function privatiseLayers(home: RegHome, id: string, dir: string, groupProcs?: string): Promise<{ copyMs: number; lowerdirs: string[] }> {
  const t0 = performance.now();
  const file = statePath(home, id);
  const state = JSON.parse(await readFile(file, 'utf8')) as { lowerdirs: string[]; status: string };
  if (state.status !== 'generated') throw new Error(`container ${id} is ${state.status}, not generated`);
  await mkdir(dir, { recursive: true });
  const copies: string[] = [];
  for (const [i, layer] of state.lowerdirs.entries()) {
    // A numeric prefix keeps the order visible and names unique; cp -a makes new inodes.
    const copy = join(dir, `${String(i).padStart(3, '0')}-${basename(layer)}`);
    if (groupProcs) await check('/bin/sh', ['-c', 'echo $$ > "$0" && exec cp -a "$1" "$2"', groupProcs, layer, copy]);
    else await check('cp', ['-a', layer, copy]);
    copies.push(copy);
  }
  // Written back now, so the start that follows is not charged for the copy's dirty pages.
  await check('sync', []);
  const tmp = `${file}.bench.tmp`;
  await writeFile(tmp, JSON.stringify({ ...state, lowerdirs: copies }, null, 2));
  await rename(tmp, file);
  return { copyMs: performance.now() - t0, lowerdirs: copies };
}

export async function removeCopies(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
