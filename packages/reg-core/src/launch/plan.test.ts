import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerState } from '../container/state.js';
import { execArgs, identityFiles, insertArgs, runArgs } from './plan.js';
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

test('the seccomp list denies mount, ptrace, bpf, keyctl, kexec but not clone3', () => {
  const denied = after(runArgs(state, paths, []), '--deny-syscalls')[0]!.split(',').map(Number);
  for (const nr of [165, 101, 321, 250, 246]) assert.ok(denied.includes(nr), `syscall ${nr} denied`);
  assert.ok(!denied.includes(435), 'clone3 stays: glibc needs it for threads');
  assert.deepEqual(denied, deniedSyscallNumbers('x64'));
  assert.ok(after(runArgs(state, paths, []), '--deny-ioctl')[0]!.includes('0x5412'), 'TIOCSTI');
});

test('exec joins pid 1; insert lists layers and dirs', () => {
  const e = execArgs({ ...state, initPid: 4242 }, [], ['sh']);
  assert.deepEqual(e.slice(0, 3), ['exec', '--target-pid', '4242']);
  assert.deepEqual(insertArgs({ ...state, initPid: 7 }, ['/l/a', '/l/b'], ['/usr']), ['insert', '--target-pid', '7', '--layer', '/l/a', '--layer', '/l/b', '--dir', '/usr']);
});

test('identity files name the container uid as student', () => {
  assert.match(identityFiles(200005, 200005).passwd, /^student:x:200005:200005:/m);
});
