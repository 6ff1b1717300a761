// Reads one process's memory figures from /proc/PID/smaps_rollup (Linux 4.14+), which the kernel
// sums over all mappings for us. This is the hot path of host accounting (thousands of processes
// every few seconds), so each read is open + one read(2) into a pooled buffer + close, and the
// parser walks bytes instead of splitting lines or running regexes.

import { close, open, read } from 'node:fs';

/** Bytes. */
export interface MemoryFigures {
  rss: number;
  pss: number;
  /** Private_Clean + Private_Dirty: what freeing this process alone would return. */
  uss: number;
  /** Shared_Clean + Shared_Dirty: resident pages some other process also maps. */
  shared: number;
  swap: number;
}

export function zeroFigures(): MemoryFigures {
  return { rss: 0, pss: 0, uss: 0, shared: 0, swap: 0 };
}

export function addFigures(into: MemoryFigures, f: MemoryFigures): void {
  into.rss += f.rss;
  into.pss += f.pss;
  into.uss += f.uss;
  into.shared += f.shared;
  into.swap += f.swap;
}

// Field ids; the key bytes are compared in place, no string is made per line.
const RSS = 0, PSS = 1, SHARED_CLEAN = 2, SHARED_DIRTY = 3, PRIVATE_CLEAN = 4, PRIVATE_DIRTY = 5, SWAP = 6;
const KEYS: Array<[number, Buffer]> = [
  [RSS, Buffer.from('Rss')],
  [PSS, Buffer.from('Pss')],
  [SHARED_CLEAN, Buffer.from('Shared_Clean')],
  [SHARED_DIRTY, Buffer.from('Shared_Dirty')],
  [PRIVATE_CLEAN, Buffer.from('Private_Clean')],
  [PRIVATE_DIRTY, Buffer.from('Private_Dirty')],
  [SWAP, Buffer.from('Swap')],
];
const COLON = 0x3a, NEWLINE = 0x0a, ZERO = 0x30, NINE = 0x39;

function keyAt(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  for (const [id, key] of KEYS) {
    if (key.length === len && buf.compare(key, 0, len, start, end) === 0) return id;
  }
  return -1;
}

/** Parses smaps_rollup text in buf[0, len); values are "N kB". */
export function parseSmapsRollup(buf: Buffer, len: number): MemoryFigures {
  const kb = [0, 0, 0, 0, 0, 0, 0];
  let pos = 0;
  while (pos < len) {
    let eol = buf.indexOf(NEWLINE, pos);
    if (eol < 0 || eol > len) eol = len;
    const colon = buf.indexOf(COLON, pos);
    // The first line is the "[rollup]" address range; its ':' (in "00:00") is past any key we know.
    if (colon > pos && colon < eol) {
      const id = keyAt(buf, pos, colon);
      if (id >= 0) {
        let i = colon + 1;
        while (i < eol && (buf[i]! < ZERO || buf[i]! > NINE)) i++;
        let value = 0;
        while (i < eol && buf[i]! >= ZERO && buf[i]! <= NINE) value = value * 10 + (buf[i++]! - ZERO);
        kb[id] = value;
      }
    }
    pos = eol + 1;
  }
  return {
    rss: kb[RSS]! * 1024,
    pss: kb[PSS]! * 1024,
    uss: (kb[PRIVATE_CLEAN]! + kb[PRIVATE_DIRTY]!) * 1024,
    shared: (kb[SHARED_CLEAN]! + kb[SHARED_DIRTY]!) * 1024,
    swap: kb[SWAP]! * 1024,
  };
}

/** smaps_rollup is about 1 KiB; a larger file just takes more reads. */
const BUFFER_SIZE = 4096;
const freeBuffers: Buffer[] = [];

function openFile(path: string): Promise<number> {
  return new Promise((resolve, reject) => open(path, 'r', (e, fd) => (e ? reject(e) : resolve(fd))));
}

function readAt(fd: number, buf: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buf, offset, buf.length - offset, offset, (e, n) => (e ? reject(e) : resolve(n))),
  );
}

/** Reads the whole file into a pooled buffer (growing it if ever needed); returns buffer and length. */
async function readWhole(path: string, buf: Buffer): Promise<[Buffer, number]> {
  const fd = await openFile(path);
  try {
    let len = 0;
    for (;;) {
      const n = await readAt(fd, buf, len);
      len += n;
      if (n === 0 || len < buf.length) return [buf, len];
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
  } finally {
    close(fd, () => undefined);
  }
}

/**
 * Memory figures of one process, or undefined if it has exited: between listing a cgroup's pids and
 * reading their files processes come and go, so ENOENT (gone before open) and ESRCH (gone, or a
 * zombie, at read time) are normal results, not errors. Other errors (EACCES) are thrown.
 */
export async function readSmapsRollup(pid: number, procRoot = '/proc'): Promise<MemoryFigures | undefined> {
  const pooled = freeBuffers.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE);
  let buf = pooled;
  try {
    const [filled, len] = await readWhole(`${procRoot}/${pid}/smaps_rollup`, pooled);
    buf = filled;
    // Empty: a kernel thread or a process without an mm.
    return len === 0 ? undefined : parseSmapsRollup(buf, len);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw e;
  } finally {
    freeBuffers.push(buf);
  }
}
