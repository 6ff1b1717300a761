// Docker as a peer: Debian's docker.io, with a dockerd of our own whose every path is in the
// bench's temp dir (data root, exec root, pid file, socket), no bridge and no iptables, and
// containers under a cgroup parent of our own. At the end: containers removed, dockerd stopped,
// its mounts and directories deleted, and the few global paths it insists on creating
// (/run/docker, /run/containerd, /etc/docker/key.json, cgroups) removed if they were not there.

import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Cleanup } from '../cleanup.js';
import { cgroupPids } from '../host.js';
import { memoryCgroupOf, type MemoryGroup } from '../memory-cgroup.js';
import { capture, check, CLEAN_ENV, sleep, timeRun, waitUntil, type Timed } from '../processes.js';

export const DOCKER = '/usr/bin/docker';
const DOCKERD = '/usr/sbin/dockerd';
const CGROUP_PARENT = 'reg-bench-docker';
const CGROUP_ROOT = '/sys/fs/cgroup';
const IMAGE_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Global paths dockerd creates whatever its flags say; removed at the end if we made them. */
const GLOBAL_LEFTOVERS = ['/run/docker', '/var/run/docker', '/run/containerd', '/etc/docker/key.json'];

export class Dockerd {
  private constructor(
    readonly root: string,
    readonly pid: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get socket(): string {
    return join(this.root, 'docker.sock');
  }

  /** Starts dockerd (inside `group`, if given, so its memory and its shims' can be read). */
  static async start(root: string, cleanup: Cleanup, log: (l: string) => void, group?: MemoryGroup): Promise<Dockerd> {
    await mkdir(join(root, 'config'), { recursive: true });
    const preexisting = new Set(GLOBAL_LEFTOVERS.filter((p) => existsSync(p)));
    const args = [
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
      `--data-root=${join(root, 'data')}`,
      `--exec-root=${join(root, 'exec')}`,
      `--pidfile=${join(root, 'dockerd.pid')}`,
      `--host=unix://${join(root, 'docker.sock')}`,
      // Absolute: a relative parent would nest the containers inside dockerd's own cgroup.
      `--cgroup-parent=/${CGROUP_PARENT}`,
      '--exec-opt=native.cgroupdriver=cgroupfs',
      '--log-level=warn',
    ];
    const logFd = openSync(join(root, 'dockerd.log'), 'a');
    // Through sh so that dockerd is in the group from its first instruction (and so its children).
    const child = group
      ? spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', group.procsFile, DOCKERD, ...args], { stdio: ['ignore', logFd, logFd], detached: true })
      : spawn(DOCKERD, args, { stdio: ['ignore', logFd, logFd], detached: true });
    closeSync(logFd);
    child.unref();
    const d = new Dockerd(root, child.pid!, { ...CLEAN_ENV, DOCKER_HOST: `unix://${join(root, 'docker.sock')}`, DOCKER_CONFIG: join(root, 'config') });
    cleanup.add('dockerd', () => d.stop(preexisting));
    const up = await waitUntil(async () => (await capture(DOCKER, ['version'], { env: d.env })).code === 0, 60_000, 200);
    if (!up) throw new Error(`dockerd did not come up: ${(await readFile(join(root, 'dockerd.log'), 'utf8')).slice(-1500)}`);
    log(`dockerd up (${(await d.docker(['version', '--format', '{{.Server.Version}}'])).trim()}), data root ${join(root, 'data')}`);
    return d;
  }

  docker(args: string[], input?: string): Promise<string> {
    return check(DOCKER, args, { env: this.env, ...(input !== undefined && { input }) });
  }

  /** Times `docker ARGS` from spawn to exit (the CLI is part of what a user waits for). */
  timeDocker(args: string[]): Promise<Timed> {
    return timeRun(DOCKER, args, { env: this.env });
  }

  /** `tar -C tree -c . | docker import` with PATH set, as `docker import` leaves it empty. */
  async importTree(tree: string, tag: string): Promise<void> {
    await check('/bin/sh', ['-c', `tar -C "$TREE" --numeric-owner -c . | ${DOCKER} import --change "ENV ${IMAGE_PATH}" - "$TAG" >/dev/null`], {
      env: { ...this.env, TREE: tree, TAG: tag },
    });
  }

  async imageSize(tag: string): Promise<number> {
    return Number((await this.docker(['image', 'inspect', '--format', '{{.Size}}', tag])).trim());
  }

  /** The host pids of a container's processes: those in the memory cgroup of its init process. */
  async containerPids(id: string): Promise<number[]> {
    const dir = await this.containerCgroup(id);
    return dir ? cgroupPids(join(dir, 'cgroup.procs')) : [];
  }

  /** The v1 memory cgroup directory of a running container. */
  async containerCgroup(id: string): Promise<string | undefined> {
    return memoryCgroupOf(await this.containerInitPid(id));
  }

  /** Init pids of many containers with one `docker inspect`. */
  async containerInitPids(ids: string[]): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const text = await this.docker(['inspect', '--format', '{{.State.Pid}}', ...ids.slice(i, i + 100)]);
      out.push(...text.split('\n').filter(Boolean).map(Number));
    }
    return out;
  }

  async containerInitPid(id: string): Promise<number> {
    return Number((await this.docker(['inspect', '--format', '{{.State.Pid}}', id])).trim());
  }

  /** dockerd, its containerd and every containerd-shim serving our containerd: the engine's own processes. */
  async enginePids(): Promise<number[]> {
    const mine = join(this.root, 'exec');
    const pids = [this.pid];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const cmd = await readFile(`/proc/${name}/cmdline`, 'latin1').catch(() => '');
      if ((cmd.startsWith('containerd') || cmd.includes('/containerd')) && cmd.includes(mine)) pids.push(Number(name));
      else if (cmd.includes('containerd-shim') && cmd.includes(mine)) pids.push(Number(name));
    }
    return [...new Set(pids)];
  }

  async containerIds(): Promise<string[]> {
    return (await this.docker(['ps', '-aq'])).split('\n').filter(Boolean);
  }

  async removeAllContainers(): Promise<void> {
    const ids = await this.containerIds();
    for (let i = 0; i < ids.length; i += 100) await this.docker(['rm', '-f', ...ids.slice(i, i + 100)]).catch(() => '');
  }

  private async stop(preexisting: Set<string>): Promise<void> {
    await this.removeAllContainers().catch(() => {});
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    const gone = await waitUntil(() => !existsSync(`/proc/${this.pid}`), 30_000, 100);
    if (!gone) process.kill(this.pid, 'SIGKILL');
    await sleep(200);
    // Whatever dockerd left mounted under its roots (overlays, netns files) goes first.
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(this.root))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await capture('umount', ['-l', m]);
    await rm(this.root, { recursive: true, force: true });
    for (const p of GLOBAL_LEFTOVERS) if (!preexisting.has(p)) await rm(p, { recursive: true, force: true });
    for (const c of await readdir(CGROUP_ROOT).catch(() => [] as string[])) {
      await removeCgroupTree(join(CGROUP_ROOT, c, CGROUP_PARENT));
    }
  }
}

/** rmdir a cgroup and its children (deepest first); missing is fine. */
export async function removeCgroupTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  await rmdir(dir).catch(() => {});
}
