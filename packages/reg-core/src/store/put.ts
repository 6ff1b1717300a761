// Putting content into the store. Hash, write to a temp file on the same filesystem, fsync,
// make it read-only, rename into blobs/<2 hex>/<rest>. rename(2) is atomic, so a concurrent
// writer in another process either finds the finished blob or replaces it with identical bytes;
// a crash leaves at most a stray temp file (gc removes those). Putting a blob that exists is a
// no-op. A BlobWriter remembers the blobs it created so a failed build can take them back and
// leave the store exactly as it was.
//
// Host files may be linked instead of copied (putFile with `link`): the host's inode becomes the
// blob, so containers share page cache with the host's own processes (see host-links.ts). Linking
// is tried only for a file the store can accept as it is (root-owned, a mode writable by root
// alone); a different filesystem (EXDEV), protected_hardlinks (EPERM), or a file that changed while
// it was hashed falls back to the copy. The digest is always computed from the file's content.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, link, lstat, mkdir, open, rename, rm, rmdir, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import { blobMode, blobPath } from './blob-path.js';
import { isAcceptableLinkedMode, linkRecordPath, linksDir, readHostLink, removeHostLink, writeHostLink } from './host-links.js';

export interface PutResult {
  digest: string;
  size: number;
  executable: boolean;
  path: string;
  /** False when the blob was already in the store. */
  created: boolean;
  /** True when the blob is the host file's own inode (linked, now or by an earlier build). */
  linked?: boolean;
  /** True when an existing copy was replaced by the host file's inode (same content): layer trees still link the copy. */
  relinked?: boolean;
}

/** Why a link was not made: the copy is the fallback, and these are expected, not errors. */
const LINK_FALLBACK = new Set(['EXDEV', 'EPERM', 'EACCES', 'EMLINK', 'ENOENT', 'EROFS', 'ENOTSUP', 'EOPNOTSUPP']);

async function hashHandle(fh: FileHandle): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  let size = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, size);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    size += bytesRead;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

export async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

export function hashBuffer(buf: Buffer | string): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** The size of a stored blob, or undefined when there is none (or it is not a regular file). */
export async function storedSize(path: string): Promise<number | undefined> {
  try {
    const st = await lstat(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

export class BlobWriter {
  private readonly createdPaths: string[] = [];
  private readonly relinkedPaths: string[] = [];

  constructor(private readonly home: RegHome) {}

  get created(): readonly string[] {
    return this.createdPaths;
  }

  /** Blobs that were copies and are now host inodes (their layer trees must be rebuilt: relink-layers.ts). */
  get relinked(): readonly string[] {
    return this.relinkedPaths;
  }

  /**
   * Stores a host file's content. A new blob gets `mtime` (unix seconds), so that what was
   * compiled against the source (python's .pyc) still trusts it; an existing blob keeps its own.
   */
  async putFile(src: string, executable: boolean, mtime?: number, opts: { link?: boolean } = {}): Promise<PutResult> {
    if (opts.link) {
      const linked = await this.linkFile(src, executable);
      if (linked) return linked;
    }
    let first: { digest: string; size: number };
    try {
      first = await hashFile(src);
    } catch (e) {
      throw new RegError('FILE_NOT_FOUND', `cannot read ${src}: ${(e as Error).message}`, { file: src, cause: e });
    }
    const path = blobPath(this.home.blobs, first.digest, executable);
    if ((await storedSize(path)) === first.size) return { ...first, executable, path, created: false };
    // Copy while hashing again: what we store is what we name, even if the source changed meanwhile.
    return this.writeNew(async (fh) => {
      const h = createHash('sha256');
      let size = 0;
      for await (const chunk of createReadStream(src, { highWaterMark: 1 << 20 })) {
        h.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        await fh.write(chunk as Buffer);
      }
      return { digest: `sha256:${h.digest('hex')}`, size };
    }, executable, mtime);
  }

  /**
   * Makes the host file's own inode the blob, or returns undefined when it cannot or should not
   * be (the caller copies). Race-safe: the file is hashed through an open descriptor, and the
   * inode that link(2) reached must be that same inode, unwritten since (same size and mtime), or
   * the link is dropped — a file replaced or written meanwhile is copied instead.
   */
  private async linkFile(src: string, executable: boolean): Promise<PutResult | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(src, 'r');
    } catch {
      return undefined; // the copy path reports the error
    }
    let tmp: string | undefined;
    try {
      const before = await fh.stat({ bigint: true });
      if (!before.isFile() || before.uid !== 0n || !isAcceptableLinkedMode(Number(before.mode), executable)) return undefined;
      const { digest, size } = await hashHandle(fh);
      const after = await fh.stat({ bigint: true });
      if (after.mtimeNs !== before.mtimeNs || after.size !== before.size || BigInt(size) !== before.size) return undefined; // written while hashed
      const path = blobPath(this.home.blobs, digest, executable);
      const existing = await lstat(path, { bigint: true }).catch(() => undefined);
      if (existing?.isFile() && existing.size === before.size && existing.ino === before.ino && existing.dev === before.dev) {
        return { digest, size, executable, path, created: false, linked: true }; // linked by an earlier build
      }
      const stored = existing?.isFile() === true && existing.size === before.size;
      if (stored) {
        // The same content from another host file (duplicates, empty __init__.py files) that is
        // linked already: that inode stays the blob.
        const rec = await readHostLink(this.home, path);
        if (rec && rec.ino === String(existing!.ino) && rec.dev === String(existing!.dev)) return { digest, size, executable, path, created: false, linked: true };
      }
      // Stored already as a copy (a store built before linking, or by REG_STORE_LINK=copy): the
      // host inode, with the same content, replaces it by rename, so new layer trees share the
      // host's pages. Layer trees and running containers keep the copy's inode until rebuilt.
      const replacing = stored;
      await mkdir(this.home.tmp, { recursive: true });
      tmp = join(this.home.tmp, `${process.pid}-${randomBytes(6).toString('hex')}`);
      try {
        await link(src, tmp);
      } catch (e) {
        tmp = undefined;
        if (LINK_FALLBACK.has((e as NodeJS.ErrnoException).code ?? '')) return undefined;
        throw storeIoError(e, `linking ${src} into the store`, this.home.tmp);
      }
      const got = await lstat(tmp, { bigint: true });
      if (got.ino !== before.ino || got.dev !== before.dev || got.mtimeNs !== before.mtimeNs || got.size !== before.size) return undefined; // replaced or written since it was hashed
      await writeHostLink(this.home, path, {
        digest,
        executable,
        hostPath: src,
        dev: String(got.dev),
        ino: String(got.ino),
        size,
        mtimeNs: String(got.mtimeNs),
        ctimeNs: String(got.ctimeNs),
        linkedAt: new Date().toISOString(),
      });
      await mkdir(dirname(path), { recursive: true });
      if (replacing) {
        await rename(tmp, path);
        tmp = undefined;
        this.relinkedPaths.push(path);
        return { digest, size, executable, path, created: false, linked: true, relinked: true };
      }
      if ((await storedSize(path)) === size) {
        // Another writer stored the same content meanwhile: theirs stays, and so does its record
        // if it linked too (same content from the same host file); ours is dropped.
        const theirs = await lstat(path, { bigint: true });
        if (theirs.ino !== got.ino) await removeHostLink(this.home, path);
        return { digest, size, executable, path, created: false, linked: theirs.ino === got.ino };
      }
      await rename(tmp, path);
      tmp = undefined;
      this.createdPaths.push(path);
      return { digest, size, executable, path, created: true, linked: true };
    } catch (e) {
      if (e instanceof RegError) throw e;
      throw storeIoError(e, `linking ${src} into the store`, this.home.blobs);
    } finally {
      if (tmp) await unlink(tmp).catch(() => {});
      await fh.close().catch(() => {});
    }
  }

  /** Stores generated content (e.g. a RET's /etc/passwd). */
  async putBuffer(content: Buffer | string, executable = false): Promise<PutResult> {
    const buf = typeof content === 'string' ? Buffer.from(content) : content;
    const digest = hashBuffer(buf);
    const path = blobPath(this.home.blobs, digest, executable);
    if ((await storedSize(path)) === buf.length) return { digest, size: buf.length, executable, path, created: false };
    return this.writeNew(async (fh) => {
      await fh.write(buf);
      return { digest, size: buf.length };
    }, executable);
  }

  private async writeNew(
    fill: (fh: import('node:fs/promises').FileHandle) => Promise<{ digest: string; size: number }>,
    executable: boolean,
    mtime?: number,
  ): Promise<PutResult> {
    const tmp = join(this.home.tmp, `${process.pid}-${randomBytes(6).toString('hex')}`);
    let fh: import('node:fs/promises').FileHandle | undefined;
    try {
      await mkdir(this.home.tmp, { recursive: true });
      fh = await open(tmp, 'wx', 0o600);
      const { digest, size } = await fill(fh);
      await fh.datasync();
      await fh.close();
      fh = undefined;
      await chmod(tmp, blobMode(executable));
      if (mtime !== undefined) await utimes(tmp, mtime, mtime);
      const path = blobPath(this.home.blobs, digest, executable);
      const already = (await storedSize(path)) === size;
      if (already) {
        await unlink(tmp);
        return { digest, size, executable, path, created: false };
      }
      await mkdir(dirname(path), { recursive: true });
      await rename(tmp, path);
      this.createdPaths.push(path);
      return { digest, size, executable, path, created: true };
    } catch (e) {
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      if (e instanceof RegError) throw e;
      throw storeIoError(e, 'writing a blob', this.home.blobs);
    }
  }

  /** Removes every blob this writer created (a failed operation leaves the store as it was). */
  async rollback(): Promise<void> {
    for (const p of this.createdPaths.splice(0)) {
      await rm(p, { force: true }).catch(() => {});
      await removeHostLink(this.home, p).catch(() => {}); // a linked blob's record (host-links.ts)
      await rmdir(dirname(linkRecordPath(this.home, p))).catch(() => {});
      await rmdir(linksDir(this.home)).catch(() => {});
      await rmdir(dirname(p)).catch(() => {}); // the prefix dir, if this writer's blob was its only one
    }
  }
}
