// Plan purely: a container's state → the launcher's command line. No I/O here, so the mount plan,
// the credentials and the seccomp policy are unit-tested without root. The launcher executes
// these steps in its fixed order (packages/native/src/main.c).

import type { ContainerState } from '../container/state.js';
import { DENIED_CLONE_FLAGS, DENIED_IOCTLS, DENIED_SOCKET_FAMILIES, deniedSyscallNumbers, enosysSyscallNumbers } from './seccomp.js';

export interface LaunchPaths {
  upper: string;
  work: string;
  rootfs: string;
  events: string;
  etc: string;
}

/** Container-wide constants: sizes of the scratch filesystems and rlimits a student gets. */
export const TMP_BYTES = 256 * 1024 * 1024;
export const SHM_BYTES = 64 * 1024 * 1024;
export const RLIMITS = ['NOFILE=1024:4096', 'CORE=0:0'];
/** Ptys one container may hold (its private devpts instance's `max=`); the kernel-wide pool is shared. */
export const DEVPTS_MAX = 64;

/**
 * The scratch filesystems made inside every container (tmpfs, mode 1777, charged to its memory cgroup).
 * Being made here, the layer trees on the host need no world-writable directory.
 */
export const TMPFS_MOUNTS: ReadonlyArray<{ path: string; bytes: number }> = [
  { path: '/tmp', bytes: TMP_BYTES },
  { path: '/var/tmp', bytes: TMP_BYTES },
  { path: '/dev/shm', bytes: SHM_BYTES },
];

/**
 * The container's writable layer (its overlay's upper and work dirs). `tmpfs`: a size-limited
 * tmpfs the launcher makes inside the container's own mount namespace (an ephemeral container:
 * nothing on the host, gone with the namespace); `dir`: directories on the host (a persistent
 * container's, in its quota volume or its container space), kept across stop/start.
 */
export type WritableLayer = { kind: 'tmpfs'; bytes: number; inodes: number } | { kind: 'dir'; upper: string; work: string };

/**
 * Inodes of an ephemeral layer's tmpfs beyond the quota: its root, upper/ and work/, the default
 * /work, and overlayfs's work files; the user gets the quota's count (give or take the
 * directories a copy-up adds, as on any overlay).
 */
export const LAYER_TMPFS_SPARE_INODES = 8;

/**
 * The share of the memory limit an ephemeral layer may take at most. Its tmpfs pages are charged
 * to the container's memory cgroup and cannot be reclaimed without swap: a layer as large as the
 * memory limit would end in the OOM killer (the student's shell killed) instead of ENOSPC.
 */
export const LAYER_TMPFS_MEMORY_SHARE = 0.5;

export function writableLayer(s: Pick<ContainerState, 'writable' | 'disk'> & { limits?: Pick<ContainerState['limits'], 'memoryBytes'> }, p: Pick<LaunchPaths, 'upper' | 'work'>): WritableLayer {
  if (s.writable === 'ephemeral' && s.disk) {
    const memory = s.limits?.memoryBytes;
    const bytes = memory ? Math.min(s.disk.bytes, Math.floor(memory * LAYER_TMPFS_MEMORY_SHARE)) : s.disk.bytes;
    return { kind: 'tmpfs', bytes, inodes: s.disk.inodes + LAYER_TMPFS_SPARE_INODES };
  }
  return { kind: 'dir', upper: p.upper, work: p.work };
}

/** Whether /work is a directory of the (ephemeral) writable layer rather than a host directory bound there. */
export const workInLayer = (s: Pick<ContainerState, 'writable' | 'disk' | 'ownsProject' | 'projectTarget'>) => s.writable === 'ephemeral' && !!s.disk && s.ownsProject && !s.projectTarget;

/** How the launcher is supervised: whether it dies with the process that spawned it. */
export interface Supervision {
  /**
   * An attached run (a terminal, `reg run` in the foreground) ends when its owner dies: the launcher
   * gets --die-with-parent. A detached container outlives its starter and is reconciled by the host.
   */
  attached: boolean;
}

/** Arguments shared by `run` and `exec`: who the process is, what it may call, its environment. */
function processArgs(s: ContainerState, cwd: string): string[] {
  const args = ['--uid', String(s.uid), '--gid', String(s.gid), '--cwd', cwd, '--clearenv'];
  const env = { HOME: s.projectTarget ?? '/work', USER: 'student', HOSTNAME: s.hostname, TERM: s.tty ? 'xterm-256color' : 'dumb', ...s.env };
  for (const [k, v] of Object.entries(env)) args.push('--setenv', `${k}=${v}`);
  for (const r of RLIMITS) args.push('--rlimit', r);
  args.push('--deny-syscalls', deniedSyscallNumbers().join(','), '--deny-ioctl', DENIED_IOCTLS.map((n) => `0x${n.toString(16)}`).join(','));
  args.push('--enosys-syscalls', enosysSyscallNumbers().join(','), '--deny-clone-flags', `0x${DENIED_CLONE_FLAGS.toString(16)}`);
  args.push('--deny-socket-families', DENIED_SOCKET_FAMILIES.join(','));
  return args;
}

/** `reg-launch run …` for starting a container. */
/**
 * Where the container's processes join their cgroup: the launcher writes itself into each
 * cgroup.procs (`procs`, v1: one per controller), or (`into`, v2 on Linux ≥ 5.7) pid 1 is cloned
 * straight into the cgroup directory — no migration of a running process.
 */
export type CgroupPlacement = string[] | { into: string };

export function runArgs(s: ContainerState, p: LaunchPaths, cgroup: CgroupPlacement, command = s.command, supervision: Supervision = { attached: true }): string[] {
  const args = ['run', '--status-file', p.events];
  if (s.tty || supervision.attached) args.push('--die-with-parent');
  if (Array.isArray(cgroup)) for (const f of cgroup) args.push('--cgroup-procs', f);
  else args.push('--cgroup-fd-dir', cgroup.into);
  if (s.network === 'host') args.push('--share-net');
  args.push('--hostname', s.hostname);
  for (const l of s.lowerdirs) args.push('--lower', l);
  const layer = writableLayer(s, p);
  if (layer.kind === 'tmpfs') args.push('--upper-tmpfs', `${layer.bytes},${layer.inodes}`);
  else args.push('--upper', layer.upper, '--work', layer.work);
  args.push('--rootfs-mount', p.rootfs);
  args.push('--proc', '--dev', '--devpts-max', String(s.ptys ?? DEVPTS_MAX));
  for (const t of TMPFS_MOUNTS) args.push('--tmpfs', `${t.path}:${t.bytes}`);
  // An ephemeral container's own /work is a directory in its tmpfs layer, owned by its user.
  if (workInLayer(s)) args.push('--owned-dir', `/work:${s.uid}:${s.gid}`);
  else args.push('--bind', `${s.projectDir}:${s.projectTarget ?? '/work'}`);
  // Copies on a private tmpfs, not binds: a bind would name the host path in /proc/self/mountinfo.
  args.push('--ro-copy', `${p.etc}/passwd:/etc/passwd`, '--ro-copy', `${p.etc}/group:/etc/group`);
  args.push(...processArgs(s, s.workdir));
  args.push('--', ...command);
  return args;
}

/** `reg-launch exec …`: another process in a running container (a second terminal, `reg exec`). */
export function execArgs(s: ContainerState, procsFiles: string[], command: string[], statusFile?: string): string[] {
  // An exec is always attached (`reg exec`, a second terminal): it ends with its owner.
  const args = ['exec', '--target-pid', String(s.initPid), '--die-with-parent'];
  if (statusFile) args.push('--status-file', statusFile);
  for (const f of procsFiles) args.push('--cgroup-procs', f);
  args.push(...processArgs(s, s.workdir), '--', ...command);
  return args;
}

/**
 * `reg-launch insert …`: overlays RET layers on top-level directories of a running container.
 * Every insert lists all inserted layers for a directory (overlays replace, they do not stack).
 */
export function insertArgs(s: ContainerState, layersTopmostFirst: string[], dirs: string[]): string[] {
  const args = ['insert', '--target-pid', String(s.initPid)];
  for (const l of layersTopmostFirst) args.push('--layer', l);
  for (const d of dirs) args.push('--dir', d);
  return args;
}

/** /etc/passwd and /etc/group naming the container's own uid "student". */
export function identityFiles(uid: number, gid: number, home = '/work'): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/root:/bin/sh\nstudent:x:${uid}:${gid}:student:${home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\nstudent:x:${gid}:\nnogroup:x:65534:\n`,
  };
}
