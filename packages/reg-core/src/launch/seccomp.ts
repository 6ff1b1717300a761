// The seccomp policy: syscalls that reach past the container's namespaces, or into the kernel's
// least-audited corners, fail with EPERM. The launcher only executes the list; the choice is here.
// Threads and fork stay: clone(2) is allowed unless its flags ask for a new namespace, and clone3
// (whose flags live in memory a filter cannot read) fails with ENOSYS, on which glibc falls back to
// clone. Every difference from Docker's default profile, and why: README, "Security".

import { RegError } from '../errors.js';

const DENIED = [
  'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns',
  'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp',
  'kexec_load', 'kexec_file_load', 'reboot', 'init_module', 'finit_module', 'delete_module',
  'bpf', 'perf_event_open', 'userfaultfd', 'keyctl', 'add_key', 'request_key',
  'open_by_handle_at', 'name_to_handle_at', 'lookup_dcookie',
  'swapon', 'swapoff', 'acct', 'quotactl', 'syslog', 'vhangup',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex',
  'sethostname', 'setdomainname', 'iopl', 'ioperm', 'uselib',
  'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'pidfd_getfd', 'process_madvise',
] as const;

// x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const X86_64: Record<(typeof DENIED)[number], number> = {
  mount: 165, umount2: 166, pivot_root: 155, chroot: 161, unshare: 272, setns: 308,
  open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
  ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, kcmp: 312,
  kexec_load: 246, kexec_file_load: 320, reboot: 169, init_module: 175, finit_module: 313, delete_module: 176,
  bpf: 321, perf_event_open: 298, userfaultfd: 323, keyctl: 250, add_key: 248, request_key: 249,
  open_by_handle_at: 304, name_to_handle_at: 303, lookup_dcookie: 212,
  swapon: 167, swapoff: 168, acct: 163, quotactl: 179, syslog: 103, vhangup: 153,
  settimeofday: 164, clock_settime: 227, clock_adjtime: 305, adjtimex: 159,
  sethostname: 170, setdomainname: 171, iopl: 172, ioperm: 173, uselib: 134,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, pidfd_getfd: 438, process_madvise: 440,
};

// arm64 (asm-generic unistd.h); syscalls the architecture lacks are absent.
const ARM64: Partial<Record<(typeof DENIED)[number], number>> = {
  mount: 40, umount2: 39, pivot_root: 41, chroot: 51, unshare: 97, setns: 268,
  open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
  ptrace: 117, process_vm_readv: 270, process_vm_writev: 271, kcmp: 272,
  kexec_load: 104, kexec_file_load: 294, reboot: 142, init_module: 105, finit_module: 273, delete_module: 106,
  bpf: 280, perf_event_open: 241, userfaultfd: 282, keyctl: 219, add_key: 217, request_key: 218,
  open_by_handle_at: 265, name_to_handle_at: 264, lookup_dcookie: 18,
  swapon: 224, swapoff: 225, acct: 89, quotactl: 60, syslog: 116, vhangup: 58,
  settimeofday: 170, clock_settime: 112, clock_adjtime: 266, adjtimex: 171,
  sethostname: 161, setdomainname: 162,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, pidfd_getfd: 438, process_madvise: 440,
};

/** Syscalls that fail with ENOSYS ("not implemented") so libc falls back: clone3 → clone. Same number on x86_64 and arm64. */
const ENOSYS: Record<string, number> = { clone3: 435 };

/**
 * clone(2) flags that create namespaces: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID |
 * NEWNET (0x7e020000, Docker's mask too). CLONE_NEWTIME (0x80) cannot be passed to clone(2): that bit is
 * part of its exit-signal byte, and the time namespace is reachable only through unshare and clone3,
 * which are denied and ENOSYS.
 */
export const DENIED_CLONE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

/**
 * socket(2) families refused: AF_VSOCK (40), the channel between a VM and its hypervisor, which no
 * namespace separates (Docker's profile refuses it too).
 */
export const DENIED_SOCKET_FAMILIES = [40];

export function enosysSyscallNumbers(): number[] {
  return Object.values(ENOSYS);
}

export const ENOSYS_SYSCALL_NAMES: readonly string[] = Object.keys(ENOSYS);

/**
 * ioctls a student must not issue: faking terminal input (TIOCSTI), console tricks (TIOCLINUX) and
 * switching a tty's line discipline (TIOCSETD: n_gsm, n_hdlc and friends are a history of kernel
 * bugs, and no program a student runs needs another discipline).
 */
export const DENIED_IOCTLS = [0x5412, 0x541c, 0x5423];

export function deniedSyscallNumbers(arch: string = process.arch): number[] {
  const table = arch === 'x64' ? X86_64 : arch === 'arm64' ? ARM64 : undefined;
  if (!table) {
    throw new RegError('LAUNCH_FAILED', `no seccomp table for architecture ${arch}`, { hint: 'Reg supports x86_64 and arm64 hosts' });
  }
  return DENIED.map((n) => table[n]).filter((n): n is number => n !== undefined).sort((a, b) => a - b);
}

export const DENIED_SYSCALL_NAMES: readonly string[] = DENIED;
