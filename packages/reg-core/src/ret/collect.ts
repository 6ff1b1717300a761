// Collecting host files into a RET's tree. Paths are recorded canonically: every directory
// symlink on the way is resolved (Debian's /lib → usr/lib, /usr/lib/ssl/certs → /etc/ssl/certs)
// and only the last component may be a symlink, which is recorded as a link and followed, so the
// tree holds both the link and what it points at. Two RETs that collect libc therefore agree on
// /usr/lib/x86_64-linux-gnu/libc.so.6 instead of one saying /lib/....

import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { dirname, join, relative, isAbsolute } from 'node:path';
import { RegError } from '../errors.js';

export type Collected =
  | { kind: 'file'; hostPath: string; mode: number; size: number; mtime: number }
  | { kind: 'link'; target: string }
  | { kind: 'dir'; mode: number };

export interface CollectOptions {
  /** Host directory that stands for the container's /. */
  root?: string;
  /** Return true to leave a host path (and everything below it) out. */
  exclude?: (hostPath: string) => boolean;
}

export class HostCollector {
  readonly entries = new Map<string, Collected>();
  private readonly root: string;
  private readonly exclude: (hostPath: string) => boolean;

  constructor(opts: CollectOptions = {}) {
    this.root = opts.root ?? '/';
    this.exclude = opts.exclude ?? (() => false);
  }

  /** The tree path (relative, canonical) of a host path; throws PATH_ESCAPES outside the root. */
  async treePath(hostPath: string): Promise<string> {
    const dir = await realpath(dirname(hostPath));
    const rel = relative(await realpath(this.root), join(dir, hostPath === '/' ? '' : hostPath.split('/').pop()!));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new RegError('PATH_ESCAPES', `${hostPath} is outside the tree rooted at ${this.root}`, { file: hostPath });
    }
    return rel;
  }

  /** A container path → the host path that provides it. */
  hostPathOf(containerPath: string): string {
    return join(this.root, containerPath);
  }

  /**
   * Adds a host path: a file, a symlink (and its target, if it exists) or a directory with
   * everything below it. `required` makes a missing path an error instead of a skip.
   */
  async add(hostPath: string, required = true): Promise<void> {
    let st;
    try {
      st = await lstat(hostPath);
    } catch (e) {
      if (!required) return;
      throw new RegError('FILE_NOT_FOUND', `${hostPath} does not exist`, { file: hostPath, cause: e, hint: 'check the path, or install the package that provides it' });
    }
    if (this.exclude(hostPath)) return;
    const path = await this.treePath(hostPath);
    if (this.entries.has(path)) return;
    if (st.isSymbolicLink()) {
      const target = await readlink(hostPath);
      this.entries.set(path, { kind: 'link', target });
      const resolved = isAbsolute(target) ? join(this.root, target) : join(dirname(join(this.root, path)), target);
      await this.add(resolved, false);
    } else if (st.isDirectory()) {
      this.entries.set(path, { kind: 'dir', mode: st.mode & 0o7777 });
      for (const name of (await readdir(hostPath)).sort()) await this.add(join(hostPath, name), false);
    } else if (st.isFile()) {
      this.entries.set(path, { kind: 'file', hostPath: join(this.root, path), mode: st.mode & 0o7777, size: st.size, mtime: Math.floor(st.mtimeMs / 1000) });
    }
    // sockets, fifos and devices are not part of a runtime
  }

  /** Moves the entries at or under a tree path into another collector (splitting a RET). */
  take(paths: Iterable<string>): Map<string, Collected> {
    const out = new Map<string, Collected>();
    for (const p of paths) {
      const e = this.entries.get(p);
      if (e) {
        out.set(p, e);
        this.entries.delete(p);
      }
    }
    return out;
  }
}
