// `reg store verify`: re-hash every blob and report the ones whose content no longer matches
// their name (tampered or corrupt), the ones a RET names but the store lacks, and who refers to
// each. It repairs nothing: a corrupt inode is also linked into layer trees and perhaps mapped by
// running containers, so the fix (rebuild or pull the RET, then gc) is the operator's call.
//
// Blobs linked from host files (host-links.ts) are re-hashed like every other blob (their ctime is
// no help: every hard link Reg makes to them, a layer tree's included, changes it). A mismatch in
// one of them is an in-place write to the host file, reported as `host-written` with the host
// path. A host file replaced by rename (a package upgrade) is not a problem: the blob is still the
// old inode, whole; it is listed as a note, so the operator knows a rebuild would follow the host.

import { lstat } from 'node:fs/promises';
import type { RegHome } from '../home.js';
import { blobMode } from './blob-path.js';
import { isAcceptableLinkedMode, readHostLink, type HostLink } from './host-links.js';
import { listBlobs, referencedBlobs, type BlobReference } from './inventory.js';
import { hashFile } from './put.js';
import { verifyLayers, type LayerProblem } from './verify-layers.js';

export interface VerifyProblem {
  /** `host-written`: a blob that is a host file's inode changed because the host file was written in place. */
  kind: 'corrupt' | 'missing' | 'mode' | 'host-written';
  digest: string;
  path: string;
  actual?: string;
  referencedBy: BlobReference[];
  /** For a blob that is a host file's own inode: that host file. */
  hostPath?: string;
  /** What to do about it, in words. */
  hint?: string;
}

/** Not a problem, but worth knowing: the host moved on from a file a RET was built from. */
export interface VerifyNote {
  /** `host-replaced`: the host path names a new inode (an upgrade); `host-removed`: it is gone. */
  kind: 'host-replaced' | 'host-removed';
  digest: string;
  path: string;
  hostPath: string;
  referencedBy: BlobReference[];
}

export interface VerifyReport {
  checked: number;
  problems: VerifyProblem[];
  /** Blobs that are host files' own inodes (linked, not copied). */
  linked: number;
  notes: VerifyNote[];
  /** Layer trees checked against their locks, and what is wrong in them. */
  layersChecked: number;
  layerProblems: LayerProblem[];
}

function retsOf(refs: BlobReference[]): string {
  const rets = [...new Set(refs.map((r) => r.ret))];
  return rets.length ? rets.join(', ') : 'no RET';
}

export async function verifyStore(home: RegHome): Promise<VerifyReport> {
  const refs = await referencedBlobs(home);
  const blobs = await listBlobs(home);
  const problems: VerifyProblem[] = [];
  const notes: VerifyNote[] = [];
  const present = new Set<string>();
  let linkedCount = 0;
  for (const b of blobs) {
    present.add(b.path);
    const by = refs.get(b.path) ?? [];
    const st = await lstat(b.path, { bigint: true });
    const rec = await readHostLink(home, b.path);
    // The record counts only while the blob is still the inode it names.
    const linked: HostLink | undefined = rec && rec.ino === String(st.ino) && rec.dev === String(st.dev) ? rec : undefined;
    if (linked) {
      linkedCount++;
      const host = await lstat(linked.hostPath, { bigint: true }).catch(() => undefined);
      if (!host) notes.push({ kind: 'host-removed', digest: b.digest, path: b.path, hostPath: linked.hostPath, referencedBy: by });
      else if (host.ino !== st.ino || host.dev !== st.dev) notes.push({ kind: 'host-replaced', digest: b.digest, path: b.path, hostPath: linked.hostPath, referencedBy: by });
    }
    const { digest } = await hashFile(b.path);
    if (digest !== b.digest) {
      if (linked) {
        problems.push({
          kind: 'host-written',
          digest: b.digest,
          path: b.path,
          actual: digest,
          referencedBy: by,
          hostPath: linked.hostPath,
          hint: `${linked.hostPath} was written in place (it is the same inode as this blob), so containers of ${retsOf(by)} see the new bytes; rebuild them from the host (reg ret build --from-host …), then run reg store gc`,
        });
      } else problems.push({ kind: 'corrupt', digest: b.digest, path: b.path, actual: digest, referencedBy: by });
      continue;
    }
    const mode = Number(st.mode) & 0o7777;
    if (linked ? !isAcceptableLinkedMode(mode, b.executable) : mode !== blobMode(b.executable)) {
      problems.push({
        kind: 'mode',
        digest: b.digest,
        path: b.path,
        actual: mode.toString(8),
        referencedBy: by,
        ...(linked && { hostPath: linked.hostPath, hint: `the host changed the mode of ${linked.hostPath}, which is this blob's inode; rebuild ${retsOf(by)} from the host` }),
      });
    }
  }
  for (const [path, by] of refs) {
    if (!present.has(path)) {
      const digest = `sha256:${path.split('/').slice(-2).join('').replace(/-x$/, '')}`;
      problems.push({ kind: 'missing', digest, path, referencedBy: by });
    }
  }
  const layers = await verifyLayers(home);
  return { checked: blobs.length, problems, linked: linkedCount, notes, layersChecked: layers.checked, layerProblems: layers.problems };
}
