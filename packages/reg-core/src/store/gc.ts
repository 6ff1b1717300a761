// `reg store gc`: remove what nothing refers to. Layers no RET (and no container) uses go first,
// then blobs no RET lock names, then stale temp files and closure caches. Blobs and temp files
// younger than the grace period are kept, so a build running in another process (blobs written,
// RET not yet saved) is never robbed — the same rule as git's prune expiry.

import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegHome } from '../home.js';
import { bumpRetGeneration, listRets } from '../ret/repository.js';
import { layerName } from '../resolve/materialise.js';
import { linksDir, readHostLink, removeHostLink } from './host-links.js';
import { listBlobs, referencedBlobs, type StoredBlob } from './inventory.js';

export interface GcReport {
  removedBlobs: number;
  freedBytes: number;
  removedLayers: number;
  keptYoung: number;
}

export const DEFAULT_GC_GRACE_MS = 10 * 60 * 1000;

/** Layer dirs named in containers' state files (containers/<id>/state.json `lowerdirs`). */
export async function layersInUse(home: RegHome): Promise<Set<string>> {
  const used = new Set<string>();
  let ids: string[] = [];
  try {
    ids = await readdir(home.containers);
  } catch {
    return used;
  }
  for (const id of ids) {
    try {
      const state = JSON.parse(await readFile(join(home.containers, id, 'state.json'), 'utf8')) as { lowerdirs?: string[] };
      for (const d of state.lowerdirs ?? []) used.add(d);
    } catch {
      // not a container dir, or being written: its layers stay safe only if named; skip
    }
  }
  return used;
}

/**
 * When a blob entered the store: its ctime (set by the rename), except for a blob that is a host
 * file's inode, whose ctime changes with every link anyone makes to that file (other stores, layer
 * trees, the host's package manager): its link record says when it was linked.
 */
async function enteredStoreMs(home: RegHome, b: StoredBlob): Promise<number> {
  const rec = await readHostLink(home, b.path);
  if (!rec) return b.ctimeMs;
  const st = await lstat(b.path, { bigint: true }).catch(() => undefined);
  const at = Date.parse(rec.linkedAt);
  return st && String(st.ino) === rec.ino && Number.isFinite(at) ? at : b.ctimeMs;
}

export async function gcStore(home: RegHome, opts: { graceMs?: number; now?: number } = {}): Promise<GcReport> {
  const grace = opts.graceMs ?? DEFAULT_GC_GRACE_MS;
  // No grace means no grace: a file written in the millisecond gc started has an mtime past Date.now().
  const aged = (mtimeMs: number) => grace <= 0 || now - mtimeMs >= grace;
  const now = opts.now ?? Date.now();
  const report: GcReport = { removedBlobs: 0, freedBytes: 0, removedLayers: 0, keptYoung: 0 };

  const wanted = new Set((await listRets(home)).map((m) => join(home.layers, layerName(m))));
  for (const d of await layersInUse(home)) wanted.add(d);
  let layerDirs: string[] = [];
  try {
    layerDirs = await readdir(home.layers);
  } catch {
    // no layers yet
  }
  for (const name of layerDirs) {
    const dir = join(home.layers, name);
    if (wanted.has(dir)) continue;
    if (name.startsWith('.tmp-') && !aged((await lstat(dir)).mtimeMs)) continue;
    await rm(dir, { recursive: true, force: true });
    report.removedLayers++;
  }

  const refs = await referencedBlobs(home);
  for (const b of await listBlobs(home)) {
    if (refs.has(b.path)) continue;
    if (now - (await enteredStoreMs(home, b)) < grace) {
      report.keptYoung++;
      continue;
    }
    await rm(b.path, { force: true });
    await removeHostLink(home, b.path); // a linked blob's record (host-links.ts)
    report.removedBlobs++;
    // Still linked from a layer in use means no space comes back; count only what is freed.
    if (b.nlink <= 1) report.freedBytes += b.size;
  }

  // Link records whose blob is gone (a build that crashed between the record and the rename).
  for (const prefix of await readdir(linksDir(home)).catch(() => [] as string[])) {
    for (const n of await readdir(join(linksDir(home), prefix)).catch(() => [] as string[])) {
      const rec = join(linksDir(home), prefix, n);
      if (!n.endsWith('.json')) {
        if (aged((await lstat(rec)).mtimeMs)) await rm(rec, { force: true }); // a stray temp record
        continue;
      }
      const blob = join(home.blobs, prefix, n.slice(0, -'.json'.length));
      if (!(await lstat(blob).then(() => true, () => false)) && aged((await lstat(rec)).mtimeMs)) await rm(rec, { force: true });
    }
  }

  for (const dir of [home.tmp, home.closures]) {
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (dir === home.closures || aged((await lstat(p)).mtimeMs)) await rm(p, { force: true });
    }
  }
  if (report.removedLayers) await bumpRetGeneration(home); // cached closures may name removed layers
  return report;
}
