// Per-container state: containers/<id>/state.json (a cache of what refresh observes) next to the
// container space: upper/ and work/ (the OverlayFS writable layer), rootfs/ (the mount point,
// used only inside the container's own mount namespace), project/ (the default /work), and
// events.jsonl (the launcher's status events).

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import type { CgroupLimits } from '../cgroup/driver.js';
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
  };
}

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
  const all = await listStates(home);
  const matches = all.filter((s) => s.name === idOrName || s.id.startsWith(idOrName));
  if (matches.length === 1) return matches[0]!;
  throw new RegError('CONTAINER_NOT_FOUND', matches.length > 1 ? `"${idOrName}" matches ${matches.length} containers` : `no container "${idOrName}"`, {
    field: 'container',
    hint: matches.length > 1 ? 'give more characters of the id' : 'list containers with `reg ps -a`',
  });
}

export async function listStates(home: RegHome): Promise<ContainerState[]> {
  let ids: string[];
  try {
    ids = await readdir(home.containers);
  } catch {
    return [];
  }
  const out: ContainerState[] = [];
  for (const id of ids.filter((i) => ID_RE.test(i))) {
    try {
      out.push(JSON.parse(await readFile(containerPaths(home, id).state, 'utf8')) as ContainerState);
    } catch {
      // being created or removed right now
    }
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Container uids: one per container from a range no host account uses, like Docker's userns-remap. */
export const UID_BASE = 200_000;
export const UID_COUNT = 65_536;

export function allocateUid(taken: Iterable<number>): number {
  const used = new Set(taken);
  for (let uid = UID_BASE; uid < UID_BASE + UID_COUNT; uid++) if (!used.has(uid)) return uid;
  throw new RegError('USAGE', 'no free container uid: 65536 containers exist', { hint: 'remove stopped containers with `reg rm`' });
}
