// Streaming downloaded blobs into the store without ever exposing unverified bytes: each body is
// written to a temp file under store/tmp while it is hashed and counted; only when the size and
// the sha256 match the digest is it made read-only and renamed into blobs/<2 hex>/<rest>[-x]
// (the store's own rule, see store/put.ts). A short body is a truncated transfer (worth a retry),
// a long or different one a DIGEST_MISMATCH. Like BlobWriter, the sink remembers what it created
// so a failed pull can take it all back.

import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import { blobMode, blobPath } from '../store/blob-path.js';
import { storedSize } from '../store/put.js';

/** A body that ended before its declared size: the connection dropped. Retried by the caller. */
export class TruncatedTransfer extends Error {
  constructor(readonly received: number, readonly expected: number) {
    super(`transfer ended after ${received} of ${expected} bytes`);
  }
}

export class BlobSink {
  private readonly createdPaths: string[] = [];

  constructor(private readonly home: RegHome) {}

  get created(): readonly string[] {
    return this.createdPaths;
  }

  /**
   * Writes `body` as blob `digest` of `size` bytes. `where` names the blob, the RET and the
   * registry in errors. Returns the stored path.
   */
  async write(
    digest: string,
    size: number,
    executable: boolean,
    body: AsyncIterable<Uint8Array>,
    where: string,
    onBytes?: (n: number) => void,
  ): Promise<string> {
    const final = blobPath(this.home.blobs, digest, executable);
    const tmp = join(this.home.tmp, `pull-${process.pid}-${randomBytes(6).toString('hex')}`);
    let fh: FileHandle | undefined;
    try {
      try {
        await mkdir(this.home.tmp, { recursive: true });
        fh = await open(tmp, 'wx', 0o600);
      } catch (e) {
        throw storeIoError(e, 'writing a pulled blob', this.home.tmp);
      }
      const h = createHash('sha256');
      let received = 0;
      for await (const chunk of body) {
        received += chunk.length;
        if (received > size) {
          throw new RegError('DIGEST_MISMATCH', `${where}: the registry sent more than the ${size} bytes the manifest declares`, {
            hint: 'the registry serves different content under this digest; repair or re-push the RET',
          });
        }
        h.update(chunk);
        try {
          await fh.write(chunk);
        } catch (e) {
          throw storeIoError(e, 'writing a pulled blob', tmp);
        }
        onBytes?.(chunk.length);
      }
      if (received < size) throw new TruncatedTransfer(received, size);
      const actual = `sha256:${h.digest('hex')}`;
      if (actual !== digest) {
        throw new RegError('DIGEST_MISMATCH', `${where}: the content hashes to ${actual}; refused, nothing of it entered the store`, {
          hint: 'the registry holds corrupt content under this digest; repair or re-push the RET',
        });
      }
      try {
        await fh.datasync();
        await fh.close();
        fh = undefined;
        await chmod(tmp, blobMode(executable));
        // Another pull (or a build) may have stored the same blob meanwhile: identical, keep theirs.
        if ((await storedSize(final)) === size) {
          await rm(tmp, { force: true });
          return final;
        }
        await mkdir(dirname(final), { recursive: true });
        await rename(tmp, final);
      } catch (e) {
        throw storeIoError(e, 'storing a pulled blob', final);
      }
      this.createdPaths.push(final);
      return final;
    } finally {
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
    }
  }

  /** Removes every blob this sink created (and prefix directories left empty). */
  async rollback(): Promise<void> {
    for (const p of this.createdPaths.splice(0)) {
      await rm(p, { force: true }).catch(() => {});
      await rmdir(dirname(p)).catch(() => {});
    }
  }
}
