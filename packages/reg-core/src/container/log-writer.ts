// The bounded, rotated output log of a detached container: output.log grows to maxBytes, then
// becomes output.log.1 (…, up to `files` rotated copies, the oldest dropped), like Docker's
// json-file driver with max-size/max-file. A small helper process (log-writer-main.ts) owns the
// write end: the container's stdout and stderr are a pipe to it, so the log is bounded whoever
// started the container (a CLI that exited long ago, a host that restarted).

import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export const LOG_MAX_BYTES = 8 * 1024 * 1024;
export const LOG_FILES = 2;

export interface LogLimits {
  /** Size at which the current file is rotated. */
  maxBytes: number;
  /** Rotated files kept (output.log.1 … output.log.N) besides the current one. */
  files: number;
}

export const rotatedPath = (path: string, n: number) => (n === 0 ? path : `${path}.${n}`);

export class RotatingLog {
  private fd: number;
  private size: number;

  constructor(
    readonly path: string,
    readonly limits: LogLimits = { maxBytes: LOG_MAX_BYTES, files: LOG_FILES },
  ) {
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.size >= this.limits.maxBytes) this.rotate();
      const room = this.limits.maxBytes - this.size;
      // Split at the last newline that fits, so lines stay whole across files where they can.
      let n = Math.min(room, rest.length);
      if (n < rest.length) {
        const nl = rest.lastIndexOf(10, n - 1);
        if (nl >= 0 && this.size + nl + 1 > 0) n = nl + 1;
      }
      let off = 0;
      while (off < n) off += writeSync(this.fd, rest, off, n - off);
      this.size += n;
      rest = rest.subarray(n);
    }
  }

  private rotate(): void {
    closeSync(this.fd);
    rmSync(rotatedPath(this.path, this.limits.files), { force: true });
    for (let i = this.limits.files - 1; i >= 0; i--) {
      try {
        renameSync(rotatedPath(this.path, i), rotatedPath(this.path, i + 1));
      } catch {
        // not there yet
      }
    }
    if (this.limits.files === 0) rmSync(this.path, { force: true });
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}
