// Which host files a RET built from the host links into the store instead of copying (the store
// side, store/put.ts and store/host-links.ts, decides whether it *can*; this decides whether it
// *should*). Linking makes the container's file the host's own inode: memory like a bare process,
// but a write to the host file in place would show through in every container using it.
//
// The choice: link only files under /usr (not /usr/local). Only the package manager writes there,
// and dpkg (like rpm and pacman) installs every file as a new inode renamed over the old one, so
// an upgrade never changes a linked inode: containers keep the version their RET was built from,
// whole. Files an administrator edits (/etc, conffiles), installs by hand (/usr/local, /opt) or
// that a tool regenerates are copied, so a half-written edit can never reach a container. What
// still could (someone writing into /usr/lib in place, e.g. `cp` over a library) is what
// `reg store verify` detects and names. REG_STORE_LINK=copy turns linking off.

import { RegError } from '../errors.js';

export type StoreLinkMode = 'auto' | 'copy';

/** REG_STORE_LINK: `auto` (default: link where possible) or `copy` (never link host files). */
export function storeLinkModeFromEnv(env: NodeJS.ProcessEnv = process.env): StoreLinkMode {
  const v = env.REG_STORE_LINK;
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'copy') return 'copy';
  throw new RegError('USAGE', `REG_STORE_LINK must be "auto" or "copy", not "${v}"`, { field: 'REG_STORE_LINK', hint: 'unset it to link host files into the store where the filesystem allows' });
}

/** Whether a (canonical) host path is one the package manager alone replaces, by rename. */
export function mayLinkHostFile(hostPath: string): boolean {
  return hostPath.startsWith('/usr/') && !hostPath.startsWith('/usr/local/');
}
