// `reg store verify`: re-hash every blob and report the ones whose content no longer matches
// their name (tampered or corrupt), the ones a RET names but the store lacks, and who refers to
// each. It repairs nothing: a corrupt inode is also linked into layer trees and perhaps mapped by
// running containers, so the fix (rebuild or pull the RET, then gc) is the operator's call.

import type { RegHome } from '../home.js';
import { listBlobs, referencedBlobs, type BlobReference } from './inventory.js';
import { hashFile } from './put.js';
import { blobMode } from './blob-path.js';
import { lstat } from 'node:fs/promises';
import { verifyLayers, type LayerProblem } from './verify-layers.js';

export interface VerifyProblem {
  kind: 'corrupt' | 'missing' | 'mode';
  digest: string;
  path: string;
  actual?: string;
  referencedBy: BlobReference[];
}

export interface VerifyReport {
  checked: number;
  problems: VerifyProblem[];
  /** Layer trees checked against their locks, and what is wrong in them. */
  layersChecked: number;
  layerProblems: LayerProblem[];
}

export async function verifyStore(home: RegHome): Promise<VerifyReport> {
  const refs = await referencedBlobs(home);
  const blobs = await listBlobs(home);
  const problems: VerifyProblem[] = [];
  const present = new Set<string>();
  for (const b of blobs) {
    present.add(b.path);
    const { digest } = await hashFile(b.path);
    if (digest !== b.digest) {
      problems.push({ kind: 'corrupt', digest: b.digest, path: b.path, actual: digest, referencedBy: refs.get(b.path) ?? [] });
      continue;
    }
    const st = await lstat(b.path);
    if ((st.mode & 0o7777) !== blobMode(b.executable)) {
      problems.push({ kind: 'mode', digest: b.digest, path: b.path, actual: (st.mode & 0o7777).toString(8), referencedBy: refs.get(b.path) ?? [] });
    }
  }
  for (const [path, by] of refs) {
    if (!present.has(path)) {
      const digest = `sha256:${path.split('/').slice(-2).join('').replace(/-x$/, '')}`;
      problems.push({ kind: 'missing', digest, path, referencedBy: by });
    }
  }
  const layers = await verifyLayers(home);
  return { checked: blobs.length, problems, layersChecked: layers.checked, layerProblems: layers.problems };
}
