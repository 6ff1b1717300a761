// Persistent per-student workspaces: one directory per (class, student) that outlives every
// container, mounted as the container's home directory. Each is its own quota volume (a sparse
// ext4 image, see quota/volume.ts), so a full workspace is ENOSPC inside the container and never
// fills the host.
//
// Ownership: every student gets one stable uid per REG_HOME (WORKSPACE_UID_BASE + n, claimed once
// with atomic markers and kept for good), and every container a student opens with a workspace
// runs as that uid. Their files therefore keep one owner across containers, sessions and classes,
// and no other student's uid (nor any container uid from the per-container range) can read them:
// the home directory is 0700.
//
//   $REG_HOME/workspaces/
//     .uids/<uid> → <userId>        who owns a uid (symlink, claimed atomically)
//     .users/<userId> → <uid>       a student's uid (symlink)
//     <classId>/<userId>.img        the volume (sparse ext4 image)
//     <classId>/<userId>.json       its quota
//     <classId>/<userId>/           the mount point; home/ inside is the student's home directory

import { createHash } from 'node:crypto';
import { chown, mkdir, open, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import { regHome, type RegHome } from '../home.js';
import { checkQuota, createVolume, destroyVolume, mountPoints, mountVolume, resizeVolume, unmountVolume, volumeUsage, type DiskQuota } from '../quota/volume.js';

export interface WorkspaceKey {
  classId: string;
  userId: string;
}

export interface WorkspaceUsage {
  bytes: number;
  inodes: number;
  quotaBytes: number;
  quotaInodes: number;
}

/** Student uids: a range apart from container uids (200000–265535) and from host accounts. */
export const WORKSPACE_UID_BASE = 300_000;
export const WORKSPACE_UID_COUNT = 1_000_000;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

function checkId(value: unknown, field: 'classId' | 'userId'): string {
  if (typeof value !== 'string' || !ID_RE.test(value)) {
    throw new RegError('USAGE', `workspace ${field} ${JSON.stringify(value)} is not allowed`, { field, hint: 'letters, digits, _ and - (up to 128), starting with a letter or digit' });
  }
  return value;
}

export class Workspaces {
  private readonly locks = new Map<string, Promise<unknown>>();

  private constructor(readonly root: string) {}

  static async open(home: RegHome | string = regHome()): Promise<Workspaces> {
    const root = join(typeof home === 'string' ? home : home.root, 'workspaces');
    await mkdir(join(root, '.uids'), { recursive: true, mode: 0o711 });
    await mkdir(join(root, '.users'), { recursive: true, mode: 0o711 });
    return new Workspaces(root);
  }

  private paths(key: WorkspaceKey) {
    const classId = checkId(key?.classId, 'classId');
    const userId = checkId(key?.userId, 'userId');
    const base = join(this.root, classId, userId);
    return { classDir: join(this.root, classId), image: `${base}.img`, meta: `${base}.json`, lock: `${base}.lock`, mount: base, home: join(base, 'home') };
  }

  /** The student's stable uid, claimed on first use. */
  async uidOf(userId: string): Promise<number> {
    checkId(userId, 'userId');
    const userMarker = join(this.root, '.users', userId);
    const known = await readlink(userMarker).catch(() => undefined);
    if (known !== undefined) return Number(known);
    const start = createHash('sha256').update(userId).digest().readUInt32BE(0) % WORKSPACE_UID_COUNT;
    for (let i = 0; i < WORKSPACE_UID_COUNT; i++) {
      const uid = WORKSPACE_UID_BASE + ((start + i) % WORKSPACE_UID_COUNT);
      try {
        await symlink(userId, join(this.root, '.uids', String(uid)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      try {
        await symlink(String(uid), userMarker);
        return uid;
      } catch (e) {
        // Another process claimed one for this student at the same moment: theirs wins.
        await rm(join(this.root, '.uids', String(uid)), { force: true });
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return Number(await readlink(userMarker));
        throw e;
      }
    }
    throw new RegError('LIMIT_EXCEEDED', 'no free student uid left', { field: 'userId' });
  }

  /**
   * Makes sure the workspace exists and is mounted; returns its home directory (owned by the
   * student's uid, 0700). A new workspace gets `quota`; an existing one grows to a larger quota
   * at once, and shrinks to a smaller one when it is not mounted (else it keeps its size).
   */
  async ensure(key: WorkspaceKey, quota: DiskQuota): Promise<{ path: string; created: boolean; uid: number }> {
    const p = this.paths(key);
    checkQuota(quota);
    return this.locked(p.image, async () => {
      const uid = await this.uidOf(key.userId);
      let created = false;
      const exists = await stat(p.image).then(() => true, () => false);
      if (!exists) {
        await mkdir(p.classDir, { recursive: true, mode: 0o711 });
        await createVolume(p.image, quota, { journal: true });
        await this.saveQuota(p.meta, quota);
        created = true;
      } else {
        // A quota that could not be applied while mounted (a shrink; a grow the kernel refused
        // online) is applied now if the workspace is not mounted.
        const current = await this.quotaOf(p.meta);
        if (current && (current.bytes !== quota.bytes || current.inodes !== quota.inodes || current.pending)) await this.applyQuota(p, quota);
      }
      try {
        await mountVolume(p.image, p.mount);
        await mkdir(p.home, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        await chown(p.home, uid, uid);
      } catch (e) {
        if (created) await destroyVolume(p.image, p.mount).catch(() => {});
        throw e;
      }
      return { path: p.home, created, uid };
    });
  }

  /** Bytes and files used, and the quota (mounting the workspace if needed). */
  async usage(key: WorkspaceKey): Promise<WorkspaceUsage> {
    const p = this.paths(key);
    const quota = await this.quotaOf(p.meta);
    if (!quota) throw new RegError('FILE_NOT_FOUND', `no workspace for ${key.userId} in ${key.classId}`, { field: 'userId' });
    await this.locked(p.image, () => mountVolume(p.image, p.mount));
    const u = await volumeUsage(p.mount);
    return { bytes: u.bytes, inodes: u.inodes, quotaBytes: quota.bytes, quotaInodes: quota.inodes };
  }

  /**
   * A new quota for an existing workspace. `applied: false` when it is mounted and the change
   * cannot be made live (a shrink, or a kernel without ext4 online resize): it is then recorded
   * and applied the next time the workspace is ensured while not mounted (after `unmount`).
   */
  async setQuota(key: WorkspaceKey, quota: DiskQuota): Promise<{ applied: boolean }> {
    const p = this.paths(key);
    checkQuota(quota);
    return this.locked(p.image, async () => {
      if (!(await this.quotaOf(p.meta))) throw new RegError('FILE_NOT_FOUND', `no workspace for ${key.userId} in ${key.classId}`, { field: 'userId' });
      return { applied: await this.applyQuota(p, quota) };
    });
  }

  private async applyQuota(p: { image: string; mount: string; meta: string }, quota: DiskQuota): Promise<boolean> {
    const current = (await this.quotaOf(p.meta))!;
    const applied = await resizeVolume(p.image, p.mount, quota, true);
    await this.saveQuota(p.meta, applied ? quota : { bytes: current.bytes, inodes: current.inodes, pending: quota });
    return applied;
  }

  /** Unmounts a workspace (it stays on disk; ensure mounts it again). */
  async unmount(key: WorkspaceKey): Promise<void> {
    const p = this.paths(key);
    return this.locked(p.image, () => unmountVolume(p.mount));
  }

  /** Deletes a workspace and every file in it (the student's uid stays theirs). */
  async remove(key: WorkspaceKey): Promise<void> {
    const p = this.paths(key);
    return this.locked(p.image, async () => {
      await destroyVolume(p.image, p.mount);
      await rm(p.meta, { force: true });
    });
  }

  /** The students with a workspace in a class. */
  async list(classId: string): Promise<string[]> {
    const dir = join(this.root, checkId(classId, 'classId'));
    const names = await readdir(dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.img')).map((n) => n.slice(0, -4)).sort();
  }

  /**
   * Unmounts every mounted workspace (host shutdown, tests), eight at a time: a host that served a
   * class of a thousand holds a thousand volumes, and one after the other they took longer than a
   * shutdown may (each unmount also flushes its journal and frees its loop device).
   */
  async unmountAll(): Promise<void> {
    const mine = [...(await mountPoints())].filter((m) => m.startsWith(`${this.root}/`));
    await eightAtATime(mine, (m) => unmountVolume(m));
  }

  /** Unmounts these workspaces, eight at a time; one that fails goes to `failed` and the rest go on. */
  async unmountMany(keys: readonly WorkspaceKey[], failed: (key: WorkspaceKey, e: unknown) => void): Promise<void> {
    await eightAtATime(keys, (k) => this.unmount(k).catch((e) => failed(k, e)));
  }

  private async quotaOf(meta: string): Promise<(DiskQuota & { pending?: DiskQuota }) | undefined> {
    try {
      return JSON.parse(await readFile(meta, 'utf8')) as DiskQuota & { pending?: DiskQuota };
    } catch {
      return undefined;
    }
  }

  private async saveQuota(meta: string, q: DiskQuota & { pending?: DiskQuota }): Promise<void> {
    await writeFile(meta, JSON.stringify({ bytes: q.bytes, inodes: q.inodes, ...(q.pending && { pending: q.pending }) }), { mode: 0o600 });
  }

  /** One operation per workspace at a time: in this process by a promise chain, across processes by a lock file. */
  private locked<T>(image: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(image) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => withLockFile(`${image}.lock`, fn));
    this.locks.set(image, next);
    void next.finally(() => {
      if (this.locks.get(image) === next) this.locks.delete(image);
    }).catch(() => {});
    return next;
  }
}

async function eightAtATime<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(8, items.length) }, worker));
}

async function withLockFile<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const fh = await open(lock, 'wx', 0o600);
      await fh.write(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(join(lock, '..'), { recursive: true });
        continue;
      }
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A holder that died leaves its lock: take it over when its pid is gone.
      const pid = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (pid > 0 && !alive(pid)) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new RegError('QUOTA_FAILED', `workspace is locked by process ${pid}`, { file: lock, hint: 'another Reg process is working on it; try again' });
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
