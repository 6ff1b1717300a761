// Blob naming. A blob is named by the sha256 of its content; executables get a "-x" suffix
// because hard links share one inode and therefore one mode: the same bytes stored once as
// 0444 and once as 0555 (pnpm's store does the same with "-exec").

import { join } from 'node:path';
import { RegError } from '../errors.js';

export const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

export function blobPath(blobsDir: string, digest: string, executable: boolean): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new RegError('DIGEST_MISMATCH', `"${digest}" is not a sha256 digest`, { field: 'digest' });
  const hex = m[1]!;
  return join(blobsDir, hex.slice(0, 2), hex.slice(2) + (executable ? '-x' : ''));
}

/** Inverse of blobPath for a file name inside blobs/<2 hex>/: undefined for foreign files. */
export function parseBlobName(prefix: string, name: string): { digest: string; executable: boolean } | undefined {
  const m = /^([0-9a-f]{62})(-x)?$/.exec(name);
  if (!m || !/^[0-9a-f]{2}$/.test(prefix)) return undefined;
  return { digest: `sha256:${prefix}${m[1]}`, executable: m[2] !== undefined };
}

export function isExecutableMode(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

/** The mode every stored blob has: read-only, executable or not. */
export function blobMode(executable: boolean): number {
  return executable ? 0o555 : 0o444;
}
