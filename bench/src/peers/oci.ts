// crun and runc on an OCI bundle of the same image tree Docker imports, and bubblewrap on that
// tree too. Each is set up as close to a Reg container as its flags allow: new pid, mount, ipc,
// uts, network and cgroup namespaces, a read-only root, fresh /proc, a minimal /dev, tmpfs /tmp,
// an unprivileged uid; crun and runc also get memory/pids limits in a cgroup, as Reg does.
//
// crun 1.8 refuses a cgroup v1 host that also mounts cgroup2 with controllers ("hybrid mode not
// supported"), with or without --cgroup-manager=disabled. The bench then runs it inside a
// private mount namespace where /sys/fs/cgroup/unified is unmounted — nsenter into one holder
// process per run, which adds about a millisecond.

import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cleanup } from '../cleanup.js';
import { capture, check, timeRun, waitUntil, type Timed } from '../processes.js';
import { removeCgroupTree } from './docker.js';

/** The uid of every peer process and service: outside the range Reg gives containers (200000–265535). */
export const BENCH_UID = 299_999;
const CGROUP_PARENT = 'reg-bench-oci';
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function ociConfig(rootfs: string, args: string[], cgroupsPath: string): object {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: BENCH_UID, gid: BENCH_UID },
      args,
      env: [PATH, 'HOME=/tmp', 'LANG=C.UTF-8'],
      cwd: '/',
      capabilities: { bounding: [], effective: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: 'bench',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=262144k'] },
    ],
    linux: {
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup'].map((type) => ({ type })),
      cgroupsPath,
      resources: { memory: { limit: 512 * 1024 * 1024 }, pids: { limit: 256 } },
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

export class OciRuntime {
  private counter = 0;
  private holderPid: number | undefined;

  private constructor(
    readonly name: 'crun' | 'runc',
    private readonly binary: string,
    private readonly dir: string,
  ) {}

  /** Checks the runtime works on this host (for crun: directly, else in a holder namespace). */
  static async open(name: 'crun' | 'runc', binary: string, dir: string, probeRootfs: string, cleanup: Cleanup): Promise<{ runtime: OciRuntime; note: string }> {
    await mkdir(join(dir, 'state'), { recursive: true });
    const rt = new OciRuntime(name, binary, dir);
    cleanup.add(`${name} state and cgroups`, () => rt.close());
    const probe = await rt.bundle(probeRootfs, ['true'], 'probe');
    const direct = await rt.run(probe);
    if (direct.code === 0) return { runtime: rt, note: `${name} run directly (cgroup manager: cgroupfs)` };
    if (name !== 'crun') throw new Error(`${name} does not run here (exit ${direct.code})`);
    const why = (await capture(binary, ['--root', join(dir, 'state'), 'run', '--bundle', probe, `why-${process.pid}`])).stderr.trim();
    await rt.startHolder();
    const held = await rt.run(probe);
    if (held.code !== 0) throw new Error(`crun does not run here, not even without the cgroup2 mount: ${why}`);
    return { runtime: rt, note: `crun refused the host ("${why}", also with --cgroup-manager=disabled); run inside a mount namespace without /sys/fs/cgroup/unified (nsenter per run, ~1 ms)` };
  }

  private async startHolder(): Promise<void> {
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'umount -l /sys/fs/cgroup/unified && exec sleep 2147483647'], { stdio: 'ignore', detached: true });
    child.unref();
    this.holderPid = child.pid!;
    // Wait until the holder's mount namespace no longer shows the cgroup2 mount.
    const ready = await waitUntil(async () => {
      const r = await capture('nsenter', ['--target', String(this.holderPid), '--mount', '--', 'sh', '-c', 'grep -q " cgroup2 " /proc/self/mountinfo && exit 1 || exit 0']);
      return r.code === 0;
    }, 5000);
    if (!ready) throw new Error('the crun holder namespace did not come up');
  }

  /** Writes a bundle (config.json) for rootfs + args; returns its directory. */
  async bundle(rootfs: string, args: string[], name: string): Promise<string> {
    const b = join(this.dir, 'bundles', name);
    await mkdir(b, { recursive: true });
    await writeFile(join(b, 'config.json'), JSON.stringify(ociConfig(rootfs, args, `/${CGROUP_PARENT}/${this.name}`), null, 1));
    return b;
  }

  /** `crun|runc run` of a bundle, to completion, timed. */
  run(bundle: string): Promise<Timed> {
    const id = `bench-${process.pid}-${++this.counter}`;
    const argv = [this.binary, '--root', join(this.dir, 'state'), 'run', '--bundle', bundle, id];
    if (this.holderPid) return timeRun('nsenter', ['--target', String(this.holderPid), '--mount', '--', ...argv]);
    return timeRun(argv[0]!, argv.slice(1));
  }

  async close(): Promise<void> {
    // Containers of `run` are gone when it returns; anything left (an interrupted run) is deleted.
    for (const id of await readdir(join(this.dir, 'state')).catch(() => [] as string[])) {
      await capture(this.binary, ['--root', join(this.dir, 'state'), 'delete', '--force', id]);
    }
    if (this.holderPid) {
      try {
        process.kill(this.holderPid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const c of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) await removeCgroupTree(join('/sys/fs/cgroup', c, CGROUP_PARENT));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** bubblewrap with a setup comparable to Reg's (it has no cgroup limits and no seccomp by default). */
export function bwrapArgs(rootfs: string, command: string[]): string[] {
  return [
    '--unshare-all',
    '--die-with-parent',
    '--ro-bind', rootfs, '/',
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--uid', String(BENCH_UID),
    '--gid', String(BENCH_UID),
    '--hostname', 'bench',
    '--clearenv',
    '--setenv', 'PATH', PATH.slice('PATH='.length),
    '--setenv', 'LANG', 'C.UTF-8',
    '--cap-drop', 'ALL',
    '--',
    ...command,
  ];
}

export async function bwrapWorks(rootfs: string): Promise<void> {
  await check('bwrap', bwrapArgs(rootfs, ['true']));
}
