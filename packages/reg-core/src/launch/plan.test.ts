import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerState } from '../container/state.js';
import { execArgs, identityFiles, insertArgs, LAYER_TMPFS_SPARE_INODES, runArgs, writableLayer } from './plan.js';
import { deniedSyscallNumbers } from './seccomp.js';

const state: ContainerState = {
  id: '0123456789ab', ret: 'python@3.11', rets: ['python@3.11.2'], inserted: [],
  lowerdirs: ['/h/layers/python', '/h/layers/libc'], command: ['/usr/bin/python3', '-c', 'pass'],
  env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' }, workdir: '/work', projectDir: '/h/containers/x/project', ownsProject: true,
  uid: 200000, gid: 200000, network: 'none', hostname: 'reg-01234567', limits: {}, tty: false, status: 'generated', createdAt: '',
};
const paths = { upper: '/c/upper', work: '/c/work', rootfs: '/c/rootfs', events: '/c/events.jsonl', etc: '/c/etc' };

function after(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

test('run: lowers topmost first, upper/work, project at /work, unprivileged uid, command last', () => {
  const args = runArgs(state, paths, ['/sys/fs/cgroup/memory/reg/x/cgroup.procs']);
  assert.equal(args[0], 'run');
  assert.deepEqual(after(args, '--lower'), state.lowerdirs);
  assert.deepEqual(after(args, '--upper'), ['/c/upper']);
  assert.ok(after(args, '--bind').includes('/h/containers/x/project:/work'));
  assert.deepEqual(after(args, '--uid'), ['200000']);
  assert.deepEqual(after(args, '--cgroup-procs'), ['/sys/fs/cgroup/memory/reg/x/cgroup.procs']);
  assert.ok(!args.includes('--share-net'), 'no host network unless asked');
  assert.ok(args.includes('--clearenv') && after(args, '--setenv').includes('LANG=C.UTF-8'));
  assert.deepEqual(args.slice(args.indexOf('--') + 1), state.command);
  assert.ok(runArgs({ ...state, network: 'host' }, paths, []).includes('--share-net'));
});

test('the seccomp list denies mount, ptrace, bpf, keyctl, kexec, io_uring; clone3 is ENOSYS; clone loses namespace flags', () => {
  const args = runArgs(state, paths, []);
  const denied = after(args, '--deny-syscalls')[0]!.split(',').map(Number);
  for (const nr of [165, 101, 321, 250, 246, 425, 426, 427]) assert.ok(denied.includes(nr), `syscall ${nr} denied`);
  assert.ok(!denied.includes(435) && !denied.includes(56), 'clone and clone3 are not denied outright: threads need them');
  assert.deepEqual(after(args, '--enosys-syscalls'), ['435'], 'clone3 says ENOSYS so glibc falls back to clone');
  const cloneMask = Number(after(args, '--deny-clone-flags')[0]);
  for (const [name, flag] of Object.entries({ NEWNS: 0x20000, NEWCGROUP: 0x2000000, NEWUTS: 0x4000000, NEWIPC: 0x8000000, NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000 })) {
    assert.ok(cloneMask & flag, `clone with CLONE_${name} is refused`);
  }
  for (const [name, flag] of Object.entries({ VM: 0x100, FS: 0x200, FILES: 0x400, SIGHAND: 0x800, THREAD: 0x10000, SETTLS: 0x80000 })) {
    assert.equal(cloneMask & flag, 0, `pthread_create's CLONE_${name} stays allowed`);
  }
  assert.deepEqual(denied, deniedSyscallNumbers('x64'));
  assert.deepEqual(after(args, '--deny-ioctl')[0]!.split(','), ['0x5412', '0x541c', '0x5423'], 'TIOCSTI, TIOCLINUX, TIOCSETD');
  assert.deepEqual(after(args, '--deny-socket-families'), ['40'], 'AF_VSOCK');
});

test('supervision: attached runs and terminals die with their parent, detached runs do not; exec always does', () => {
  assert.ok(runArgs(state, paths, []).includes('--die-with-parent'), 'attached by default');
  assert.ok(!runArgs(state, paths, [], state.command, { attached: false }).includes('--die-with-parent'), 'detached');
  assert.ok(runArgs({ ...state, tty: true }, paths, [], state.command, { attached: false }).includes('--die-with-parent'), 'a terminal');
  assert.ok(execArgs({ ...state, initPid: 9 }, [], ['sh']).includes('--die-with-parent'));
});

test('/tmp, /var/tmp and /dev/shm are tmpfs made inside; devpts has a cap; identity files are copies, not binds', () => {
  const args = runArgs(state, paths, []);
  assert.deepEqual(after(args, '--tmpfs').map((t) => t.split(':')[0]), ['/tmp', '/var/tmp', '/dev/shm']);
  assert.deepEqual(after(args, '--devpts-max'), ['64']);
  assert.deepEqual(after(args, '--ro-copy'), ['/c/etc/passwd:/etc/passwd', '/c/etc/group:/etc/group']);
  assert.deepEqual(after(args, '--ro-bind'), []);
});

test('exec joins pid 1; insert lists layers and dirs', () => {
  const e = execArgs({ ...state, initPid: 4242 }, [], ['sh']);
  assert.deepEqual(e.slice(0, 3), ['exec', '--target-pid', '4242']);
  assert.deepEqual(insertArgs({ ...state, initPid: 7 }, ['/l/a', '/l/b'], ['/usr']), ['insert', '--target-pid', '7', '--layer', '/l/a', '--layer', '/l/b', '--dir', '/usr']);
});

test('identity files name the container uid as student', () => {
  assert.match(identityFiles(200005, 200005).passwd, /^student:x:200005:200005:/m);
});

test('writable layer: ephemeral → --upper-tmpfs of the disk quota (+ a few inodes) and /work owned in it; persistent or no quota → host upper/work', () => {
  const disk = { bytes: 64 * 1024 * 1024, inodes: 1000 };
  const eph = runArgs({ ...state, disk, writable: 'ephemeral', projectDir: '' }, paths, []);
  assert.deepEqual(after(eph, '--upper-tmpfs'), [`${disk.bytes},${disk.inodes + LAYER_TMPFS_SPARE_INODES}`]);
  assert.deepEqual(after(eph, '--upper'), []);
  assert.deepEqual(after(eph, '--work'), []);
  assert.deepEqual(after(eph, '--owned-dir'), ['/work:200000:200000']);
  assert.deepEqual(after(eph, '--bind'), [], 'nothing of the host is bound at /work');
  // A workspace home stays a bind, in an ephemeral container too.
  const ws = runArgs({ ...state, disk, writable: 'ephemeral', ownsProject: false, projectDir: '/ws/home', projectTarget: '/home/student' }, paths, []);
  assert.deepEqual(after(ws, '--bind'), ['/ws/home:/home/student']);
  assert.deepEqual(after(ws, '--owned-dir'), []);
  for (const s of [{ ...state, disk, writable: 'persistent' as const }, { ...state, disk }, { ...state, writable: 'ephemeral' as const }]) {
    const args = runArgs(s, paths, []);
    assert.deepEqual(after(args, '--upper'), ['/c/upper']);
    assert.deepEqual(after(args, '--upper-tmpfs'), []);
  }
  assert.deepEqual(writableLayer({ disk, writable: 'ephemeral' }, paths), { kind: 'tmpfs', bytes: disk.bytes, inodes: disk.inodes + LAYER_TMPFS_SPARE_INODES });
  // Never more than half the memory limit (tmpfs pages are charged to it): ENOSPC comes before the OOM killer.
  const big = { bytes: 1024 ** 3, inodes: 1000 };
  assert.equal(after(runArgs({ ...state, disk: big, writable: 'ephemeral', limits: { memoryBytes: 512 * 1024 ** 2 } }, paths, []), '--upper-tmpfs')[0], `${256 * 1024 ** 2},${1000 + LAYER_TMPFS_SPARE_INODES}`);
  assert.equal(after(runArgs({ ...state, disk, writable: 'ephemeral', limits: { memoryBytes: 512 * 1024 ** 2 } }, paths, []), '--upper-tmpfs')[0], `${disk.bytes},${disk.inodes + LAYER_TMPFS_SPARE_INODES}`);
});

test('on cgroup v2 pid 1 can be cloned straight into the cgroup: --cgroup-fd-dir instead of --cgroup-procs', () => {
  const args = runArgs(state, paths, { into: '/sys/fs/cgroup/reg/x' });
  assert.ok(!args.includes('--cgroup-procs'));
  assert.deepEqual(args.slice(args.indexOf('--cgroup-fd-dir'), args.indexOf('--cgroup-fd-dir') + 2), ['--cgroup-fd-dir', '/sys/fs/cgroup/reg/x']);
});
