// What the store holds and what refers to it: the shared walk behind verify, gc and stats.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegHome } from '../home.js';
import { listRets, loadRet } from '../ret/repository.js';
import { modeToNumber } from '../ret/schema.js';
import { blobPath, parseBlobName } from './blob-path.js';

export interface StoredBlob {
  path: string;
  digest: string;
  executable: boolean;
  size: number;
  /** When the blob entered the store (ctime: set by the rename, unlike mtime, which is the source's). */
  ctimeMs: number;
  nlink: number;
}

export async function listBlobs(home: RegHome): Promise<StoredBlob[]> {
  const out: StoredBlob[] = [];
  let prefixes: string[];
  try {
    prefixes = await readdir(home.blobs);
  } catch {
    return out;
  }
  for (const prefix of prefixes.sort()) {
    let names: string[];
    try {
      names = await readdir(join(home.blobs, prefix));
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const parsed = parseBlobName(prefix, name);
      if (!parsed) continue;
      const path = join(home.blobs, prefix, name);
      const st = await lstat(path);
      out.push({ path, ...parsed, size: st.size, ctimeMs: st.ctimeMs, nlink: st.nlink });
    }
  }
  return out;
}

export interface BlobReference {
  /** name@version of the RET */
  ret: string;
  /** the path inside the container */
  path: string;
  size: number;
}

/** Every blob path named by a RET lock → who names it. */
export async function referencedBlobs(home: RegHome): Promise<Map<string, BlobReference[]>> {
  const refs = new Map<string, BlobReference[]>();
  for (const meta of await listRets(home)) {
    const ret = await loadRet(home, meta.name, meta.version);
    for (const e of ret.lock.files) {
      if (e.digest === undefined) continue;
      const p = blobPath(home.blobs, e.digest, (modeToNumber(e.mode, 0o644) & 0o111) !== 0);
      const list = refs.get(p) ?? [];
      list.push({ ret: `${ret.name}@${ret.version}`, path: `/${e.path}`, size: e.size ?? 0 });
      refs.set(p, list);
    }
  }
  return refs;
}
