// What reading a stored RET's lock needs, without its schema: the identity of a lock, entry modes,
// the RET name pattern. Kept free of zod and YAML so that the hot paths (resolving a closure from
// its cached headers, starting a container, `reg ps`) never load them; schema.ts and parse.ts
// re-export these for everyone else.

import { createHash } from 'node:crypto';
import type { LockEntry, LockedRet, Ret } from './schema.js';

/** A RET's name: lowercase letters, digits and . _ + - (python, libc, libstdc++). */
export const RET_NAME_RE = /^[a-z0-9][a-z0-9._+-]{0,127}$/;

export function modeToNumber(mode: string | number | undefined, fallback: number): number {
  if (mode === undefined) return fallback;
  return typeof mode === 'number' ? mode : parseInt(mode, 8);
}

export function isLocked(ret: Ret): ret is LockedRet {
  return ret.lock !== undefined;
}

export function sortLock(entries: readonly LockEntry[]): LockEntry[] {
  return [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A short, stable identity of a RET's content: changes whenever any file, mode or link does. */
export function lockId(ret: LockedRet): string {
  const h = createHash('sha256');
  for (const e of sortLock(ret.lock.files)) {
    h.update(`${e.path}\0${e.digest ?? ''}\0${e.mode ?? ''}\0${e.link ?? ''}\0${e.dir ? 'd' : ''}\0${e.mtime ?? ''}\n`);
  }
  return h.digest('hex').slice(0, 16);
}
