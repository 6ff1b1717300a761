// After a build replaced stored copies by the host's own inodes (put.ts: a store built before
// linking, or with REG_STORE_LINK=copy), the layer trees still hard-link the old copies, so
// containers would not share the host's pages until the trees are rebuilt. This re-points each
// such file of a layer tree at the blob: link the blob beside it under a temp name, rename over
// it (atomic per file; the content is identical, only the inode changes). No directory is ever
// removed or swapped, so nothing a container is mounting disappears.
//
// Layer trees that a container names (containers/<id>/state.json) are left alone: overlayfs does
// not expect its lower layers to change under a mount. Those keep the copies (still correct; `reg
// store verify` reports their files as not linked to the blob) until rebuilt after the containers
// are gone (delete the tree; the next start rebuilds it from the store).

import { randomBytes } from 'node:crypto';
import { link, lstat, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RegHome } from '../home.js';
import { layerName } from '../resolve/materialise.js';
import { addToPlan, type FilePlan } from '../resolve/resolve.js';
import { listRets, loadRet } from '../ret/repository.js';
import { blobPath } from './blob-path.js';
import { layersInUse } from './gc.js';

export interface RelinkReport {
  /** Layer trees whose files now link the host inodes. */
  layers: number;
  files: number;
  /** Layer trees left as they were because a container uses them. */
  inUse: string[];
}

export async function relinkLayers(home: RegHome, relinked: Iterable<string>): Promise<RelinkReport> {
  const report: RelinkReport = { layers: 0, files: 0, inUse: [] };
  const blobs = new Set(relinked);
  if (blobs.size === 0) return report;
  const used = await layersInUse(home);
  for (const meta of await listRets(home)) {
    const ret = await loadRet(home, meta.name, meta.version).catch(() => undefined);
    if (!ret) continue;
    const plan: FilePlan = new Map();
    try {
      addToPlan(plan, ret);
    } catch {
      continue; // an inconsistent lock: not ours to fix here
    }
    const targets: Array<[string, string]> = [];
    for (const [path, e] of plan) {
      if (e.kind !== 'file') continue;
      const blob = blobPath(home.blobs, e.digest, e.executable);
      if (blobs.has(blob)) targets.push([path, blob]);
    }
    if (targets.length === 0) continue;
    const dir = join(home.layers, layerName(meta));
    if (!(await lstat(dir).then((st) => st.isDirectory(), () => false))) continue; // built on first use
    if (used.has(dir)) {
      report.inUse.push(dir);
      continue;
    }
    let changed = 0;
    for (const [path, blob] of targets) {
      const dst = join(dir, path);
      const [b, d] = await Promise.all([lstat(blob), lstat(dst).catch(() => undefined)]);
      if (!d?.isFile() || (d.ino === b.ino && d.dev === b.dev)) continue;
      const tmp = join(dirname(dst), `.reg-relink-${process.pid}-${randomBytes(4).toString('hex')}`);
      await link(blob, tmp);
      try {
        await rename(tmp, dst);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        throw e;
      }
      changed++;
    }
    if (changed) {
      report.layers++;
      report.files += changed;
    }
  }
  return report;
}
