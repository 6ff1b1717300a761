// Reading a detached container's rotated log without loading it: the files oldest first, or
// only the last N lines (found by reading backwards in blocks), and optionally following the
// current file as it grows and rotates (like `tail -F`: a new inode at the path means the old
// file was rotated away; the rest of it is read first).

import { open, stat, type FileHandle } from 'node:fs/promises';
import { LOG_FILES, rotatedPath } from './log-writer.js';

const BLOCK = 64 * 1024;

export interface ReadLogOptions {
  /** Only the last N lines. */
  tail?: number;
  /** Keep reading new output until `stillRunning` says the container is gone (or `signal` aborts). */
  follow?: boolean;
  stillRunning?: () => Promise<boolean>;
  signal?: AbortSignal;
  /** Rotated files to consider (default LOG_FILES). */
  files?: number;
  pollMs?: number;
}

/** Where to start: [file index from the oldest, byte offset], so that only the last `lines` lines follow. */
async function tailStart(paths: string[], lines: number): Promise<{ index: number; offset: number }> {
  if (lines <= 0) {
    const last = paths.length - 1;
    return { index: last, offset: (await stat(paths[last]!).catch(() => ({ size: 0 }))).size };
  }
  let needed = lines;
  // The newline that ends the log's last line does not start a line: skip the very last byte's.
  let atEnd = true;
  const buf = Buffer.alloc(BLOCK);
  for (let i = paths.length - 1; i >= 0; i--) {
    const fh = await open(paths[i]!, 'r').catch(() => undefined);
    if (!fh) continue;
    try {
      let pos = (await fh.stat()).size;
      while (pos > 0) {
        const len = Math.min(BLOCK, pos);
        pos -= len;
        await fh.read(buf, 0, len, pos);
        for (let j = len - 1; j >= 0; j--) {
          const nl = buf[j] === 10;
          if (nl && !atEnd && --needed === 0) return { index: i, offset: pos + j + 1 };
          atEnd = false;
        }
      }
    } finally {
      await fh.close();
    }
  }
  return { index: 0, offset: 0 };
}

async function* copyFrom(fh: FileHandle, offset: number): AsyncGenerator<Buffer, number> {
  const buf = Buffer.alloc(BLOCK);
  let pos = offset;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, BLOCK, pos);
    if (bytesRead === 0) return pos;
    pos += bytesRead;
    yield Buffer.from(buf.subarray(0, bytesRead));
  }
}

export async function* readLog(path: string, opts: ReadLogOptions = {}): AsyncGenerator<Buffer> {
  const files = opts.files ?? LOG_FILES;
  const paths: string[] = [];
  for (let n = files; n >= 0; n--) paths.push(rotatedPath(path, n));
  const start = opts.tail !== undefined ? await tailStart(paths, opts.tail) : { index: 0, offset: 0 };
  for (let i = start.index; i < paths.length - 1; i++) {
    const fh = await open(paths[i]!, 'r').catch(() => undefined);
    if (!fh) continue;
    try {
      yield* copyFrom(fh, i === start.index ? start.offset : 0);
    } finally {
      await fh.close();
    }
  }
  // The current file, then (following) whatever is appended or rotated in.
  let fh = await open(path, 'r').catch(() => undefined);
  let pos = start.index === paths.length - 1 ? start.offset : 0;
  try {
    for (;;) {
      if (fh) pos = yield* copyFrom(fh, pos);
      if (!opts.follow || opts.signal?.aborted) return;
      const cur = await stat(path).catch(() => undefined);
      const mine = fh ? await fh.stat() : undefined;
      if (cur && (!mine || cur.ino !== mine.ino)) {
        // Rotated: drain the old file (done above), then switch to the new one.
        if (fh) pos = yield* copyFrom(fh, pos);
        await fh?.close();
        fh = await open(path, 'r').catch(() => undefined);
        pos = 0;
        continue;
      }
      if (cur && mine && cur.size > pos) continue;
      if (opts.stillRunning && !(await opts.stillRunning())) {
        if (fh) yield* copyFrom(fh, pos);
        return;
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    }
  } finally {
    await fh?.close();
  }
}
