// Putting content into the store. Hash, write to a temp file on the same filesystem, fsync,
// make it read-only, rename into blobs/<2 hex>/<rest>. rename(2) is atomic, so a concurrent
// writer in another process either finds the finished blob or replaces it with identical bytes;
// a crash leaves at most a stray temp file (gc removes those). Putting a blob that exists is a
// no-op. A BlobWriter remembers the blobs it created so a failed build can take them back and
// leave the store exactly as it was.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open, rename, rm, rmdir, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import { blobMode, blobPath } from './blob-path.js';

export interface PutResult {
  digest: string;
  size: number;
  executable: boolean;
  path: string;
  /** False when the blob was already in the store. */
  created: boolean;
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

  constructor(private readonly home: RegHome) {}

  get created(): readonly string[] {
    return this.createdPaths;
  }

  /**
   * Stores a host file's content. A new blob gets `mtime` (unix seconds), so that what was
   * compiled against the source (python's .pyc) still trusts it; an existing blob keeps its own.
   */
  async putFile(src: string, executable: boolean, mtime?: number): Promise<PutResult> {
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
      await rmdir(dirname(p)).catch(() => {}); // the prefix dir, if this writer's blob was its only one
    }
  }
}
