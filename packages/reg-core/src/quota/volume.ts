// Disk quotas as size-limited filesystems: one sparse ext4 image per quota unit (a container's
// writable layer, a student's workspace), loop-mounted on the host. The filesystem's size is the
// byte quota and its inode count the file quota, so a full quota is ENOSPC inside the container
// and nothing else on the host notices.
//
// Why not project quotas: they need CONFIG_QUOTA (ext4) or CONFIG_XFS_QUOTA in the kernel, and
// this development machine's kernel has neither (XFS: "quota support not available"); on ext4 a
// process with CAP_SYS_RESOURCE ignores hard limits, and OverlayFS copies up with the mounter's
// (root's) credentials. A loop-mounted image works on any kernel with loop and ext4 (here and on
// production), bounds bytes and inodes for root and the container alike, and the image is sparse:
// it uses only what is written.
//
// Every step is idempotent: mount checks /proc/self/mountinfo first, unmount of a volume that is
// not mounted is a no-op, and `mount -o loop` sets the loop device to clear itself when the last
// mount goes (lazy unmount included), so nothing leaks a loop device.

import { execFile } from 'node:child_process';
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs, truncate, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { RegError } from '../errors.js';

const run = promisify(execFile);

export interface DiskQuota {
  /** Bytes that can be written (at least; ext4's metadata is added on top). */
  bytes: number;
  /** Files and directories that can be created. */
  inodes: number;
}

export interface VolumeUsage {
  bytes: number;
  inodes: number;
  /** What statfs reports as the filesystem's capacity for data and for files. */
  capacityBytes: number;
  capacityInodes: number;
}

const INODE_BYTES = 256;
const MiB = 1024 * 1024;
/** ext4's superblocks, group descriptors and bitmaps, beyond the inode table. */
const FIXED_OVERHEAD = 1 * MiB;
/** The journal of a workspace volume (mkfs -J size=4). */
const JOURNAL_BYTES = 4 * MiB;
const MIN_QUOTA_BYTES = MiB;
const MIN_INODES = 64;
/** First inodes ext4 reserves for itself (root, lost+found, journal, …): not the user's. */
const RESERVED_INODES = 11;

/** The image size that leaves at least quota.bytes for data after ext4's metadata. */
export function imageBytes(q: DiskQuota, journal = true): number {
  const raw = q.bytes + q.inodes * INODE_BYTES + FIXED_OVERHEAD + (journal ? JOURNAL_BYTES : 0) + Math.ceil(q.bytes / 128);
  return Math.ceil(raw / MiB) * MiB;
}

export function checkQuota(q: DiskQuota, field = 'quota'): DiskQuota {
  if (!Number.isSafeInteger(q?.bytes) || q.bytes < MIN_QUOTA_BYTES) {
    throw new RegError('USAGE', `${field}.bytes must be a whole number of bytes ≥ ${MIN_QUOTA_BYTES}, got ${JSON.stringify(q?.bytes)}`, { field: `${field}.bytes` });
  }
  if (!Number.isSafeInteger(q.inodes) || q.inodes < MIN_INODES || q.inodes > 2 ** 31) {
    throw new RegError('USAGE', `${field}.inodes must be a whole number from ${MIN_INODES} to 2^31, got ${JSON.stringify(q.inodes)}`, { field: `${field}.inodes` });
  }
  return q;
}

async function tool(cmd: string, args: string[], what: string): Promise<string> {
  try {
    const r = await run(cmd, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
    return r.stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') {
      throw new RegError('QUOTA_FAILED', `${what}: ${cmd} is not installed`, { hint: 'install e2fsprogs and util-linux (scripts/setup.mjs does)', cause: e });
    }
    const detail = (err.stderr ?? err.message).trim().split('\n').slice(-2).join(' ');
    throw new RegError('QUOTA_FAILED', `${what}: ${cmd} failed: ${detail}`, {
      hint: process.getuid?.() === 0 ? 'is the loop driver available (modprobe loop) and the disk under REG_HOME not full?' : 'disk quotas need root (loop mounts)',
      cause: e,
    });
  }
}

/**
 * Creates a sparse image of the quota's size and formats it (ext4; `journal: false` for a
 * container's writable layer, which is disposable, true for a workspace, which must survive a
 * crash). `owner` becomes the owner of the filesystem's root directory.
 */
export async function createVolume(image: string, q: DiskQuota, opts: { journal: boolean; owner?: number }): Promise<void> {
  checkQuota(q);
  await mkdir(dirname(image), { recursive: true });
  const fh = await open(image, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
    throw new RegError(e.code === 'EEXIST' ? 'QUOTA_FAILED' : 'STORE_IO', `creating volume ${image}: ${e.message}`, { file: image, cause: e });
  });
  try {
    await fh.truncate(imageBytes(q, opts.journal));
  } finally {
    await fh.close();
  }
  const owner = opts.owner ?? 0;
  try {
    await tool(
      'mkfs.ext4',
      // mkfs rounds -N down to whole inode-table blocks per group: ask for a little more.
      ['-q', '-F', '-N', String(Math.ceil((q.inodes + RESERVED_INODES + 32) / 128) * 128), '-m', '0', '-O', opts.journal ? 'has_journal' : '^has_journal,^resize_inode', '-E', `lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=${owner}:${owner}`, ...(opts.journal ? ['-J', 'size=4'] : []), image],
      `formatting ${image}`,
    );
  } catch (e) {
    await unlink(image).catch(() => {});
    throw e;
  }
}

/**
 * A mounted volume from a pool of spares in `spareDir` that are formatted and mounted ahead of
 * time (one rename, no mkfs and no mount on the start path), else made now and mounted at
 * `mount`. Either way a spare of that shape is made again in the background. Returns where the
 * volume is mounted: a spare stays mounted at its own directory (a mount point cannot be renamed),
 * the image moves to `image`. Spares are keyed by their exact format (size, inodes, journal).
 */
export async function takeVolume(image: string, q: DiskQuota, opts: { journal: boolean; spareDir: string; mount: string }): Promise<{ mount: string }> {
  checkQuota(q);
  const key = `${imageBytes(q, opts.journal)}-${q.inodes}-${opts.journal ? 'j' : 'n'}-`;
  let mount: string | undefined;
  for (const name of (await readdir(opts.spareDir).catch(() => [] as string[])).filter((n) => n.startsWith(key) && n.endsWith('.img'))) {
    try {
      await mkdir(dirname(image), { recursive: true });
      await rename(join(opts.spareDir, name), image);
      mount = join(opts.spareDir, `${name.slice(0, -4)}.d`);
      break;
    } catch {
      // another process took it first
    }
  }
  if (mount) {
    // Mounted already, unless the machine rebooted since it was made: then mount it now.
    await mountVolume(image, mount);
  } else {
    await createVolume(image, q, { journal: opts.journal });
    await mountVolume(image, opts.mount);
    mount = opts.mount;
  }
  refillSpare(opts.spareDir, key, q, opts.journal);
  return { mount };
}

const refilling = new Set<string>();
const inFlight = new Set<Promise<void>>();

/**
 * Unmounts and deletes every spare volume in `spareDir` (after the refills under way): for a host
 * shutting down, or a REG_HOME about to be deleted. The next container formats again.
 */
export async function releaseSpares(spareDir: string): Promise<void> {
  await Promise.all([...inFlight]);
  for (const n of await readdir(spareDir).catch(() => [] as string[])) {
    if (n.endsWith('.img')) await destroyVolume(join(spareDir, n), join(spareDir, `${n.slice(0, -4)}.d`));
  }
  for (const m of await mountPoints()) if (m.startsWith(`${spareDir}/`)) await unmountVolume(m);
  await rm(spareDir, { recursive: true, force: true });
}

function refillSpare(spareDir: string, key: string, q: DiskQuota, journal: boolean): void {
  if (refilling.has(spareDir + key)) return;
  refilling.add(spareDir + key);
  const job = (async () => {
    const have = (await readdir(spareDir).catch(() => [] as string[])).filter((n) => n.startsWith(key) && n.endsWith('.img')).length;
    if (have >= 2) return;
    await mkdir(spareDir, { recursive: true, mode: 0o700 });
    const name = `${key}${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const tmp = join(spareDir, `.tmp-${name}`);
    try {
      await createVolume(tmp, q, { journal });
      await mountVolume(tmp, join(spareDir, `${name}.d`));
      await rename(tmp, join(spareDir, `${name}.img`)); // ready: visible to takers only now
    } catch {
      await destroyVolume(tmp, join(spareDir, `${name}.d`)).catch(() => {});
    }
  })().finally(() => {
    refilling.delete(spareDir + key);
    inFlight.delete(job);
  });
  inFlight.add(job);
}

/** Mount points in this mount namespace (octal escapes of mountinfo decoded). */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[4]) out.add(f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export async function isMounted(mountPoint: string): Promise<boolean> {
  return (await mountPoints()).has(mountPoint);
}

const mounting = new Map<string, Promise<void>>();

/** Mounts the image at mountPoint unless it already is (idempotent; concurrent calls share one mount). */
export function mountVolume(image: string, mountPoint: string): Promise<void> {
  const running = mounting.get(mountPoint);
  if (running) return running;
  const p = (async () => {
    if (await isMounted(mountPoint)) return;
    await stat(image).catch((e) => {
      throw new RegError('QUOTA_FAILED', `volume image ${image} is missing`, { file: image, cause: e, hint: 'the quota volume was deleted; remove the container or workspace and create it again' });
    });
    await mkdir(mountPoint, { recursive: true, mode: 0o700 });
    // noinit_itable: the kernel would otherwise zero every inode table in the background
    // (25 MiB for 100,000 inodes), filling the sparse image for nothing.
    await tool('mount', ['-t', 'ext4', '-o', 'loop,nodev,nosuid,noatime,noinit_itable', image, mountPoint], `mounting ${image}`);
  })().finally(() => mounting.delete(mountPoint));
  mounting.set(mountPoint, p);
  return p;
}

/**
 * Unmounts (idempotent). A volume still held by a process (a container's mount namespace being
 * torn down, a shell whose cwd is inside) is detached lazily: it vanishes from the host's mount
 * table now and its loop device is freed when the last user lets go.
 */
export async function unmountVolume(mountPoint: string): Promise<void> {
  await mounting.get(mountPoint)?.catch(() => {});
  while (await isMounted(mountPoint)) {
    try {
      await run('umount', [mountPoint]);
    } catch {
      await tool('umount', ['-l', mountPoint], `unmounting ${mountPoint}`);
    }
  }
}

/** Unmounts and deletes the image and the mount point. */
export async function destroyVolume(image: string, mountPoint: string): Promise<void> {
  await unmountVolume(mountPoint);
  await rm(mountPoint, { recursive: true, force: true });
  await rm(image, { force: true });
}

/** What a mounted volume holds, as statfs sees it. */
export async function volumeUsage(mountPoint: string): Promise<VolumeUsage> {
  const s = await statfs(mountPoint);
  const bsize = Number(s.bsize);
  return {
    bytes: (Number(s.blocks) - Number(s.bfree)) * bsize,
    inodes: Math.max(0, Number(s.files) - Number(s.ffree) - RESERVED_INODES),
    capacityBytes: Number(s.blocks) * bsize,
    capacityInodes: Math.max(0, Number(s.files) - RESERVED_INODES),
  };
}

/**
 * Gives a volume a new byte quota; true if it took effect. Not mounted: resized offline (a
 * shrink fails with LIMIT_EXCEEDED when the files do not fit). Mounted: a grow is tried online
 * (ext4 online resize; some kernels refuse it); a shrink, or a refused grow, returns false and the
 * caller applies it the next time the volume is not mounted. The inode count scales with the size
 * (ext4 fixes the inodes per block group at format time).
 */
export async function resizeVolume(image: string, mountPoint: string, q: DiskQuota, journal = true): Promise<boolean> {
  checkQuota(q);
  const target = imageBytes(q, journal);
  // The filesystem's own size, not the file's: a refused online grow leaves the file larger.
  const current = await filesystemBytes(image);
  if (target === current) return true;
  if (await isMounted(mountPoint)) {
    if (target < current) return false;
    const dev = await loopDeviceOf(image);
    if (!dev) return false;
    if ((await stat(image)).size < target) await truncate(image, target);
    try {
      // The loop device keeps its old size until told to look again.
      await run('losetup', ['-c', dev]);
      await run('resize2fs', [dev], { env: { ...process.env, LC_ALL: 'C' } });
      return true;
    } catch {
      return false; // the file may stay larger: harmless, the filesystem keeps its size
    }
  }
  await run('e2fsck', ['-f', '-p', image]).catch(() => {});
  if (target > current) {
    if ((await stat(image)).size < target) await truncate(image, target);
    await tool('resize2fs', [image, `${Math.floor(target / 1024)}K`], `growing ${image}`);
    return true;
  }
  try {
    await run('resize2fs', [image, `${Math.floor(target / 1024)}K`], { env: { ...process.env, LC_ALL: 'C' } });
  } catch (e) {
    throw new RegError('LIMIT_EXCEEDED', `the files in ${mountPoint} do not fit in ${q.bytes} bytes`, { field: 'quota.bytes', hint: 'delete files first, or choose a larger quota', cause: e });
  }
  await truncate(image, target);
  return true;
}

/** Block count × block size from the superblock (works on a mounted volume too). */
async function filesystemBytes(image: string): Promise<number> {
  const out = await tool('dumpe2fs', ['-h', image], `reading ${image}`);
  const blocks = Number(/^Block count:\s+(\d+)/m.exec(out)?.[1]);
  const size = Number(/^Block size:\s+(\d+)/m.exec(out)?.[1]);
  return blocks * size;
}

async function loopDeviceOf(image: string): Promise<string | undefined> {
  const out = await run('losetup', ['-j', image]).then((r) => r.stdout, () => '');
  return /^(\/dev\/loop\d+):/m.exec(out)?.[1];
}
