// Per-container state: containers/<id>/state.json (a cache of what refresh observes) next to the
// container space: upper/ and work/ (the OverlayFS writable layer), rootfs/ (the mount point,
// used only inside the container's own mount namespace), project/ (the default /work), and
// events.jsonl (the launcher's status events).

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import type { CgroupLimits } from '../cgroup/driver.js';
import type { DiskQuota } from '../quota/volume.js';
import type { ContainerStatus, Outcome } from './status.js';

export interface ContainerState {
  id: string;
  name?: string;
  /** The reference asked for (python@3.11) and what it resolved to. */
  ret: string;
  rets: string[];
  /** RETs inserted while running (reg install), topmost last. */
  inserted: Array<{ ref: string; rets: string[]; lowerdirs: string[] }>;
  lowerdirs: string[];
  command: string[];
  env: Record<string, string>;
  workdir: string;
  projectDir: string;
  /** Whether Reg created projectDir (and so may delete it on remove). */
  ownsProject: boolean;
  uid: number;
  gid: number;
  network: 'none' | 'host';
  hostname: string;
  limits: CgroupLimits;
  /** Ptys it may hold at once (its devpts instance's max=; default DEVPTS_MAX). */
  ptys?: number;
  /** Where the quota volume is mounted, if not at containers/<id>/layer (a pre-mounted spare). */
  layerMount?: string;
  /** Disk quota of the writable layer (and the default /work): a loop volume, or (ephemeral) a tmpfs. */
  disk?: DiskQuota;
  /**
   * Where the writable layer lives. `persistent` (the default; absent in older states): on the host
   * (the quota's loop volume), kept across stop/start. `ephemeral`: a tmpfs of the quota's size in
   * the container's own mount namespace, empty at every start, gone when it stops; nothing is
   * mounted on the host and its default /work is in it too (projectDir is then "").
   */
  writable?: 'ephemeral' | 'persistent';
  /** Where projectDir is bound inside the container (default /work; a workspace: /home/student). */
  projectTarget?: string;
  tty: boolean;
  status: ContainerStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Host pid of the container's pid 1 and its start time (guards against pid reuse). */
  initPid?: number;
  initStartTime?: string;
  /** Host pid of the launcher process (pid 1's parent). */
  launcherPid?: number;
  /** The log helper of a detached run (pid and start time): it ends when the output pipe closes. */
  logPid?: number;
  logStartTime?: string;
  outcome?: Outcome;
}

export function containerDir(home: RegHome, id: string): string {
  return join(home.containers, id);
}

export function containerPaths(home: RegHome, id: string) {
  const dir = containerDir(home, id);
  return {
    dir,
    state: join(dir, 'state.json'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    rootfs: join(dir, 'rootfs'),
    project: join(dir, 'project'),
    events: join(dir, 'events.jsonl'),
    etc: join(dir, 'etc'),
    log: join(dir, 'output.log'),
    /** The quota volume (sparse ext4 image) and its mount point, for containers with a disk quota. */
    layerImage: join(dir, 'layer.img'),
    layer: join(dir, 'layer'),
  };
}

/** The writable layer and default project dir: inside the quota volume when the container has one. */
export function writablePaths(home: RegHome, s: Pick<ContainerState, 'id' | 'disk' | 'layerMount' | 'writable'>) {
  const p = containerPaths(home, s.id);
  if (!hasVolume(s)) return p;
  const layer = s.layerMount ?? p.layer;
  return { ...p, layer, upper: join(layer, 'upper'), work: join(layer, 'work'), project: join(layer, 'project') };
}

/** Whether the container's writable layer is a loop volume on the host (persistent with a disk quota). */
export const hasVolume = (s: Pick<ContainerState, 'disk' | 'writable'>) => !!s.disk && s.writable !== 'ephemeral';

export function newContainerId(): string {
  return randomBytes(6).toString('hex');
}

const ID_RE = /^[0-9a-f]{12}$/;

export async function saveState(home: RegHome, state: ContainerState): Promise<void> {
  const p = containerPaths(home, state.id);
  const tmp = `${p.state}.${process.pid}-${randomBytes(3).toString('hex')}.tmp`;
  try {
    await mkdir(p.dir, { recursive: true });
    await writeFile(tmp, JSON.stringify(state, null, 2));
    await rename(tmp, p.state);
  } catch (e) {
    throw storeIoError(e, `saving the state of container ${state.id}`, p.state);
  }
}

export async function loadState(home: RegHome, idOrName: string): Promise<ContainerState> {
  if (ID_RE.test(idOrName)) {
    try {
      return JSON.parse(await readFile(containerPaths(home, idOrName).state, 'utf8')) as ContainerState;
    } catch {
      // fall through to a name or prefix lookup
    }
  }
  // An empty (or blank) reference would be a prefix of every id: never a match.
  if (typeof idOrName !== 'string' || idOrName.trim() === '') {
    throw new RegError('USAGE', 'no container given: the id or name is empty', { field: 'container', hint: 'give an id (or a unique prefix of one) or a name; `reg ps -a` lists them' });
  }
  const all = await listStates(home);
  // A name is an exact match and wins; otherwise an id prefix must be unique.
  const named = all.find((s) => s.name === idOrName);
  if (named) return named;
  const matches = all.filter((s) => s.id.startsWith(idOrName));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    const shown = matches.slice(0, 10).map((s) => (s.name ? `${s.id} (${s.name})` : s.id));
    throw new RegError('USAGE', `"${idOrName}" is ambiguous: it matches ${matches.length} containers: ${shown.join(', ')}${matches.length > 10 ? ', …' : ''}`, {
      field: 'container',
      hint: 'give more characters of the id',
    });
  }
  throw new RegError('CONTAINER_NOT_FOUND', `no container "${idOrName}"`, { field: 'container', hint: 'list containers with `reg ps -a`' });
}

/**
 * Parsed state files by containers dir, then id, keyed by the file's inode, mtime and size:
 * saveState renames a new file into place, so a changed state always has a new inode. A host with
 * 5000 containers lists them (stats, ps, reconcile) without reading and parsing 5000 JSON files
 * each time; a stat per file is what remains.
 */
const parsed = new Map<string, Map<string, { ino: number; mtimeMs: number; size: number; state: ContainerState }>>();
/** Yield to the event loop every this many files: listing stays synchronous-fast without starving it. */
const LIST_YIELD_EVERY = 256;

/**
 * Every container's state, oldest first. `trustCached`: a running container's state already parsed
 * is not checked against its file (no stat): for callers that verify liveness themselves (stats()
 * checks each running container's pid 1 and refreshes the ones that died).
 */
export async function listStates(home: RegHome, opts: { trustCached?: boolean } = {}): Promise<ContainerState[]> {
  let ids: string[];
  try {
    ids = readdirSync(home.containers);
  } catch {
    return [];
  }
  let cache = parsed.get(home.containers);
  if (!cache) parsed.set(home.containers, (cache = new Map()));
  const seen = new Set<string>();
  const out: ContainerState[] = [];
  let n = 0;
  for (const id of ids) {
    if (!ID_RE.test(id)) continue;
    if (++n % LIST_YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
    seen.add(id);
    const file = containerPaths(home, id).state;
    const cached = opts.trustCached ? cache.get(id) : undefined;
    // Only running ones: a stopped container another process started again must be seen.
    if (cached && (cached.state.status === 'running' || cached.state.status === 'inserting')) {
      out.push({ ...cached.state });
      continue;
    }
    try {
      const st = statSync(file);
      const hit = cache.get(id);
      if (hit && hit.ino === st.ino && hit.mtimeMs === st.mtimeMs && hit.size === st.size) {
        // A shallow copy: callers set top-level fields (status, outcome) on what they get.
        out.push({ ...hit.state });
        continue;
      }
      const state = JSON.parse(readFileSync(file, 'utf8')) as ContainerState;
      cache.set(id, { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size, state });
      out.push({ ...state });
    } catch {
      // being created or removed right now
    }
  }
  for (const id of cache.keys()) if (!seen.has(id)) cache.delete(id);
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Container uids: one per container from a range no host account uses, like Docker's userns-remap. */
export const UID_BASE = 200_000;
export const UID_COUNT = 65_536;

/**
 * Claims markers atomically (mkdir/symlink fail with EEXIST), so uid allocation and name
 * uniqueness cost O(1) per container instead of reading every container's state, and stay
 * correct with several processes generating at once: containers/.uids/<uid>, containers/.names/<name>.
 */
const uidMarker = (home: RegHome, uid: number) => join(home.containers, '.uids', String(uid));
const nameMarker = (home: RegHome, name: string) => join(home.containers, '.names', name);

export async function claimUid(home: RegHome, id: string): Promise<number> {
  await mkdir(join(home.containers, '.uids'), { recursive: true });
  const start = Math.floor(Math.random() * UID_COUNT);
  for (let i = 0; i < UID_COUNT; i++) {
    const uid = UID_BASE + ((start + i) % UID_COUNT);
    try {
      await symlink(id, uidMarker(home, uid));
      return uid;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storeIoError(e, 'allocating a container uid', home.containers);
      // A marker whose container is gone (a crash mid-generate) is free again.
      const owner = await readlink(uidMarker(home, uid)).catch(() => '');
      if (owner && !(await exists(containerDir(home, owner)))) {
        await rm(uidMarker(home, uid), { force: true });
        i--;
      }
    }
  }
  throw new RegError('USAGE', 'no free container uid: 65536 containers exist', { hint: 'remove stopped containers with `reg rm`' });
}

export async function claimName(home: RegHome, name: string, id: string): Promise<void> {
  await mkdir(join(home.containers, '.names'), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await symlink(id, nameMarker(home, name));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw storeIoError(e, 'naming a container', home.containers);
      const owner = await readlink(nameMarker(home, name)).catch(() => '');
      if (owner && (await exists(containerDir(home, owner)))) break;
      await rm(nameMarker(home, name), { force: true }); // stale: its container is gone
    }
  }
  throw new RegError('CONTAINER_EXISTS', `a container named "${name}" exists`, { field: 'name', hint: 'pick another name or `reg rm` the old one' });
}

export async function releaseMarkers(home: RegHome, s: Pick<ContainerState, 'id' | 'uid' | 'name'>): Promise<void> {
  if ((await readlink(uidMarker(home, s.uid)).catch(() => '')) === s.id) await rm(uidMarker(home, s.uid), { force: true });
  if (s.name && (await readlink(nameMarker(home, s.name)).catch(() => '')) === s.id) await rm(nameMarker(home, s.name), { force: true });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}
