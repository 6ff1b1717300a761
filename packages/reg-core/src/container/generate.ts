// Generate: Generating → Generated. Resolve the RET (pulling it first if a registry is set up),
// make sure its layer trees exist, and lay out the container space: upper/work for the writable
// layer, the mount point, the project directory (/work) and the identity files. A failure
// removes the half-made container: nothing is left behind.

import { chown, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { validateLimits, type CgroupLimits } from '../cgroup/driver.js';
import { isRegError, RegError, storeIoError } from '../errors.js';
import { identityFiles } from '../launch/plan.js';
import { checkQuota, destroyVolume, takeVolume, type DiskQuota } from '../quota/volume.js';
import { materialise, type Materialised } from '../resolve/materialise.js';
import type { EngineContext } from './context.js';
import { claimName, claimUid, containerPaths, newContainerId, releaseMarkers, saveState, writablePaths, type ContainerState } from './state.js';

export interface GenerateOptions {
  /** A RET reference, e.g. python@3.11. */
  ret: string;
  /** The command; default: the RET's own. */
  command?: string[];
  name?: string;
  /** A host directory to bind at /work (default: a fresh one inside the container space). */
  projectDir?: string;
  limits?: CgroupLimits;
  /** A disk quota for the writable layer (and the default /work): bytes and files (inodes). */
  disk?: DiskQuota;
  /**
   * Where the writable layer (and the default /work) lives. `persistent` (the default): a loop
   * volume of the quota's size on the host, kept across stop/start. `ephemeral`: a tmpfs of the
   * quota's size made inside the container's mount namespace at each start (charged to its memory
   * cgroup; empty again after a restart; nothing mounted on the host, nothing to unmount at rm):
   * for containers whose files live elsewhere (a terminal's workspace) or that end with their run
   * (`reg run --rm`). Needs `disk` (the tmpfs's size).
   */
  writable?: 'ephemeral' | 'persistent';
  /** Pseudo-terminals it may hold at once (the limit policy's `ptys`). */
  ptys?: number;
  /**
   * A persistent home directory (a student's workspace) bound read-write at `target`
   * (default /home/student), which becomes HOME and the working directory. The container runs as
   * the directory's owner, so files keep one owner across containers; it must not be root-owned.
   */
  home?: { dir: string; target?: string };
  network?: 'none' | 'host';
  tty?: boolean;
  env?: Record<string, string>;
}

export const DEFAULT_LIMITS: Required<Pick<CgroupLimits, 'memoryBytes' | 'pids' | 'cpuMillicores'>> & CgroupLimits = {
  memoryBytes: 512 * 1024 * 1024,
  swapBytes: 0,
  pids: 256,
  cpuMillicores: 1000,
};

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

export async function generate(ctx: EngineContext, opts: GenerateOptions): Promise<ContainerState> {
  const limits = validateLimits({ ...DEFAULT_LIMITS, ...opts.limits });
  if (opts.name !== undefined && !NAME_RE.test(opts.name)) {
    throw new RegError('USAGE', `container name "${opts.name}" is not allowed`, { field: 'name', hint: 'letters, digits, _ . - (up to 63), starting with a letter or digit' });
  }
  if (opts.network !== undefined && opts.network !== 'none' && opts.network !== 'host') {
    throw new RegError('USAGE', `network must be "none" or "host", not "${String(opts.network)}"`, { field: 'network' });
  }
  if (opts.disk !== undefined) checkQuota(opts.disk, 'disk');
  if (opts.writable !== undefined && opts.writable !== 'ephemeral' && opts.writable !== 'persistent') {
    throw new RegError('USAGE', `writable must be "ephemeral" or "persistent", not ${JSON.stringify(opts.writable)}`, { field: 'writable' });
  }
  if (opts.writable === 'ephemeral' && !opts.disk) {
    throw new RegError('USAGE', 'an ephemeral writable layer needs a disk quota: it is a tmpfs of that size', { field: 'writable', hint: 'give disk (bytes and inodes), or writable: "persistent"' });
  }
  const ephemeral = opts.writable === 'ephemeral';
  if (opts.ptys !== undefined && !(Number.isInteger(opts.ptys) && opts.ptys >= 1 && opts.ptys <= 4096)) {
    throw new RegError('USAGE', `ptys must be a whole number from 1 to 4096, got ${JSON.stringify(opts.ptys)}`, { field: 'ptys' });
  }
  if (opts.home !== undefined && opts.projectDir !== undefined) {
    throw new RegError('USAGE', 'a container has either a home directory (workspace) or a project directory, not both', { field: 'home' });
  }
  const bindTarget = opts.home ? (opts.home.target ?? '/home/student') : '/work';
  if (!/^\/[A-Za-z0-9._/-]*$/.test(bindTarget) || bindTarget.split('/').some((c) => c === '..' || c === '.') || /^\/(proc|dev|sys|tmp|run|etc)?(\/|$)/.test(bindTarget)) {
    throw new RegError('USAGE', `home.target ${JSON.stringify(bindTarget)} is not allowed`, { field: 'home.target', hint: 'an absolute path such as /home/student, not under /proc, /dev, /sys, /tmp, /run or /etc' });
  }
  // A directory Reg did not create is never chowned: the container runs as its owner, and a
  // root-owned one is refused (running as root, or taking the directory over, are both wrong).
  const given = opts.home?.dir ?? opts.projectDir;
  const field = opts.home ? 'home.dir' : 'projectDir';
  let projectOwner: number | undefined;
  if (given !== undefined) {
    const st = await stat(given).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new RegError('FILE_NOT_FOUND', `${opts.home ? 'home' : 'project'} directory ${given} does not exist`, { file: given, field, hint: 'create it first, or leave it out for a fresh one' });
    }
    if (st.uid === 0) {
      throw new RegError('PERMISSION_DENIED', `${opts.home ? 'home' : 'project'} directory ${given} is owned by root: the container would have to run as root or take it over`, {
        file: given,
        field,
        hint: `chown it to the user whose files these are (e.g. chown -R 1000:1000 ${given}), or leave -p out for a fresh directory`,
      });
    }
    projectOwner = st.uid;
  }
  const id = newContainerId();
  let p = writablePaths(ctx.home, { id, ...(opts.disk && { disk: opts.disk }), ...(ephemeral && { writable: 'ephemeral' as const }) });
  // An ephemeral container's own /work is a directory of its tmpfs layer: nothing on the host.
  const ownWorkInLayer = ephemeral && given === undefined && !opts.home;
  if (opts.name !== undefined) await claimName(ctx.home, opts.name, id);
  // A project directory of a (non-root) host user is worked on as that user, like running one's
  // own code; otherwise the container gets a uid of its own and owns its project directory.
  let uid: number;
  try {
    uid = projectOwner ? projectOwner : await claimUid(ctx.home, id);
  } catch (e) {
    if (opts.name !== undefined) await releaseMarkers(ctx.home, { id, uid: -1, name: opts.name });
    throw e;
  }
  const state: ContainerState = {
    id,
    ...(opts.name !== undefined && { name: opts.name }),
    ret: opts.ret,
    rets: [],
    inserted: [],
    lowerdirs: [],
    command: [],
    env: {},
    workdir: bindTarget,
    projectDir: given ?? (ownWorkInLayer ? '' : p.project),
    ownsProject: given === undefined,
    ...(bindTarget !== '/work' && { projectTarget: bindTarget }),
    ...(opts.disk && { disk: { bytes: opts.disk.bytes, inodes: opts.disk.inodes }, writable: ephemeral ? 'ephemeral' : 'persistent' }),
    ...(opts.ptys !== undefined && { ptys: opts.ptys }),
    uid,
    gid: uid,
    network: opts.network ?? 'none',
    hostname: opts.name ?? `reg-${id.slice(0, 8)}`,
    limits,
    tty: opts.tty ?? false,
    status: 'generating',
    createdAt: new Date().toISOString(),
  };
  await saveState(ctx.home, state);
  try {
    const m = await materialiseOrPull(ctx, opts.ret);
    const command = opts.command?.length ? opts.command : m.command;
    if (!command?.length) {
      throw new RegError('USAGE', `${opts.ret} names no default command`, { field: 'command', hint: 'give one: reg run -t REF -- CMD ARGS' });
    }
    state.rets = m.rets.map((r) => `${r.name}@${r.version}`);
    state.lowerdirs = m.lowerdirs;
    state.command = command;
    state.env = { ...m.env, ...opts.env };
    if (m.workdir && !opts.home) state.workdir = m.workdir;
    if (opts.disk && !ephemeral) {
      // The writable layer and /work live in a volume of the quota's size (an ephemeral
      // container's tmpfs is made by the launcher at start: nothing to prepare, no spare used).
      const { mount } = await takeVolume(p.layerImage, opts.disk, { journal: false, spareDir: join(ctx.home.root, 'quota', 'spares'), mount: p.layer });
      if (mount !== p.layer) {
        state.layerMount = mount;
        p = writablePaths(ctx.home, state);
        if (state.ownsProject) state.projectDir = p.project;
      }
    }
    try {
      // The upper dir's own mode becomes the mode of the container's / : it must be 0755.
      for (const d of ephemeral ? [p.rootfs, p.etc] : [p.upper, p.rootfs, p.etc]) await mkdir(d, { recursive: true, mode: 0o755 });
      if (!ephemeral) await mkdir(p.work, { mode: 0o700 });
      const ids = identityFiles(uid, uid, bindTarget);
      await writeFile(`${p.etc}/passwd`, ids.passwd, { mode: 0o644 });
      await writeFile(`${p.etc}/group`, ids.group, { mode: 0o644 });
      if (state.ownsProject && !ownWorkInLayer) {
        await mkdir(p.project, { mode: 0o755 });
        await chown(state.projectDir, uid, uid);
      }
    } catch (e) {
      throw storeIoError(e, `creating the space of container ${id}`, p.dir);
    }
    state.status = 'generated';
    await saveState(ctx.home, state);
    return state;
  } catch (e) {
    if (opts.disk && !ephemeral) await destroyVolume(p.layerImage, p.layer).catch(() => {});
    await rm(p.dir, { recursive: true, force: true }).catch(() => {});
    await releaseMarkers(ctx.home, state).catch(() => {});
    throw e;
  }
}

/** The RET's layers; when it is not local, pulled first (if a registry is configured). */
export async function materialiseOrPull(ctx: EngineContext, ref: string): Promise<Materialised> {
  try {
    return await materialise(ctx.home, ref);
  } catch (e) {
    if (!isRegError(e, 'RET_NOT_FOUND') || !ctx.ensureRet) throw e;
    await ctx.ensureRet(ref);
    return materialise(ctx.home, ref);
  }
}

export const describeContainer = (s: ContainerState) => `${s.name ?? s.id} (${basename(s.ret)})`;
