// The one place the bench touches Reg's engine: its public surface (@reg/core), plus the
// documented on-disk state file that the sharing-off mode edits (see sharing-off.ts).

export {
  Engine,
  addRet,
  buildFromHost,
  childProcessSpawner,
  exportTree,
  materialise,
  regHome,
  storeStats,
  type ContainerState,
  type HostStats,
  type RegHome,
  type SpawnLauncher,
  type SpawnedLauncher,
  type StoreStats,
} from '@reg/core';

import { readFile } from 'node:fs/promises';

export interface Smaps {
  rss: number;
  pss: number;
  uss: number;
}

/** One process's smaps_rollup (bytes), or undefined once it has exited. */
export async function readSmapsRollup(pid: number): Promise<Smaps | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/smaps_rollup`, 'latin1');
  } catch {
    return undefined;
  }
  if (!text) return undefined; // kernel thread
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss'), uss: kb('Private_Clean') + kb('Private_Dirty') };
}
