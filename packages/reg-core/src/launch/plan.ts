// Plan purely: a container's state → the launcher's command line. No I/O here, so the mount plan,
// the credentials and the seccomp policy are unit-tested without root. The launcher executes
// these steps in its fixed order (packages/native/src/main.c).

import type { ContainerState } from '../container/state.js';
import { DENIED_IOCTLS, deniedSyscallNumbers } from './seccomp.js';

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

/** Arguments shared by `run` and `exec`: who the process is, what it may call, its environment. */
function processArgs(s: ContainerState, cwd: string): string[] {
  const args = ['--uid', String(s.uid), '--gid', String(s.gid), '--cwd', cwd, '--clearenv'];
  const env = { HOME: '/work', USER: 'student', HOSTNAME: s.hostname, TERM: s.tty ? 'xterm-256color' : 'dumb', ...s.env };
  for (const [k, v] of Object.entries(env)) args.push('--setenv', `${k}=${v}`);
  for (const r of RLIMITS) args.push('--rlimit', r);
  args.push('--deny-syscalls', deniedSyscallNumbers().join(','), '--deny-ioctl', DENIED_IOCTLS.map((n) => `0x${n.toString(16)}`).join(','));
  return args;
}

/** `reg-launch run …` for starting a container. */
export function runArgs(s: ContainerState, p: LaunchPaths, procsFiles: string[], command = s.command): string[] {
  const args = ['run', '--status-file', p.events];
  for (const f of procsFiles) args.push('--cgroup-procs', f);
  if (s.network === 'host') args.push('--share-net');
  args.push('--hostname', s.hostname);
  for (const l of s.lowerdirs) args.push('--lower', l);
  args.push('--upper', p.upper, '--work', p.work, '--rootfs-mount', p.rootfs);
  args.push('--proc', '--dev');
  args.push('--tmpfs', `/tmp:${TMP_BYTES}`, '--tmpfs', `/dev/shm:${SHM_BYTES}`);
  args.push('--bind', `${s.projectDir}:/work`);
  args.push('--ro-bind', `${p.etc}/passwd:/etc/passwd`, '--ro-bind', `${p.etc}/group:/etc/group`);
  args.push(...processArgs(s, s.workdir));
  args.push('--', ...command);
  return args;
}

/** `reg-launch exec …`: another process in a running container (a second terminal, `reg exec`). */
export function execArgs(s: ContainerState, procsFiles: string[], command: string[], statusFile?: string): string[] {
  const args = ['exec', '--target-pid', String(s.initPid)];
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
export function identityFiles(uid: number, gid: number): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/root:/bin/sh\nstudent:x:${uid}:${gid}:student:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\nstudent:x:${gid}:\nnogroup:x:65534:\n`,
  };
}
