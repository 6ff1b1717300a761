// `reg store stats`: what the store holds on disk against what the runtimes would hold if each
// had its own copies (as separate images do). A runtime's closure is the runtime RET and every
// RET it requires; libc, needed by python and node alike, is counted in both closures but stored
// once — that difference is the saving.

import { lstat } from 'node:fs/promises';
import type { RegHome } from '../home.js';
import { isRegError } from '../errors.js';
import { listRets } from '../ret/repository.js';
import { resolveGraph } from '../resolve/resolve.js';
import { readHostLink } from './host-links.js';
import { listBlobs, referencedBlobs } from './inventory.js';

/** A blob that is still the host inode its link record names. */
async function isHostLinked(home: RegHome, blob: string): Promise<boolean> {
  const rec = await readHostLink(home, blob);
  if (!rec) return false;
  const st = await lstat(blob, { bigint: true }).catch(() => undefined);
  return st !== undefined && String(st.ino) === rec.ino && String(st.dev) === rec.dev;
}

export interface ClosureSize {
  ret: string;
  rets: number;
  files: number;
  bytes: number;
}

export interface StoreStats {
  rets: number;
  /** Distinct blobs on disk, and their bytes. */
  blobs: number;
  bytes: number;
  /** Of those, blobs that are host files' own inodes (linked, host-links.ts): no disk of their own, and their bytes. */
  linkedBlobs?: number;
  linkedBytes?: number;
  /** Each runtime's closure: RETs, files, bytes. */
  closures: ClosureSize[];
  /** Σ closure bytes: what the runtimes would take with unshared copies. */
  logicalBytes: number;
  /** logicalBytes − bytes on disk (never negative). */
  savedBytes: number;
  /** Blobs named by more than one RET (the same file in two RETs), the biggest first. */
  shared: Array<{ digest: string; size: number; referencedBy: string[] }>;
}

export async function storeStats(home: RegHome): Promise<StoreStats> {
  const metas = await listRets(home);
  const refs = await referencedBlobs(home);
  const blobs = await listBlobs(home);
  let bytes = 0;
  let linkedBlobs = 0;
  let linkedBytes = 0;
  const shared: StoreStats['shared'] = [];
  for (const b of blobs) {
    bytes += b.size;
    if (b.nlink > 1 && (await isHostLinked(home, b.path))) {
      linkedBlobs++;
      linkedBytes += b.size;
    }
    const rets = [...new Set((refs.get(b.path) ?? []).map((r) => r.ret))];
    if (rets.length > 1) shared.push({ digest: b.digest, size: b.size, referencedBy: rets });
  }
  shared.sort((a, b) => b.size - a.size);

  const roots = metas.some((m) => m.kind === 'runtime') ? metas.filter((m) => m.kind === 'runtime') : metas;
  const closures: ClosureSize[] = [];
  for (const m of roots) {
    try {
      const { rets } = await resolveGraph(home, `${m.name}@=${m.version}`);
      closures.push({
        ret: `${m.name}@${m.version}`,
        rets: rets.length,
        files: rets.reduce((n, r) => n + r.files, 0),
        bytes: rets.reduce((n, r) => n + r.bytes, 0),
      });
    } catch (e) {
      if (!isRegError(e)) throw e; // an unresolvable RET has no closure to count
    }
  }
  const logicalBytes = closures.reduce((n, c) => n + c.bytes, 0);
  return { rets: metas.length, blobs: blobs.length, bytes, linkedBlobs, linkedBytes, closures, logicalBytes, savedBytes: Math.max(0, logicalBytes - bytes), shared };
}
