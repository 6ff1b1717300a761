// A fake cgroup v2 filesystem for tests: a temp directory of plain files plus a CgroupFs that does
// what the kernel would do on top of them (mkdir populates control files for the controllers the
// parent enabled, subtree_control parses +/- tokens, cgroup.kill and SIGKILL empty cgroup.procs,
// rmdir refuses a populated cgroup). Every write and kill is recorded for assertions.

import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type CgroupFs, parsePids, parseWords, realCgroupFs } from './cgroupfs.js';

export interface FakeCgroupTreeOptions {
  /** Controllers the root offers (cgroup.controllers); default cpu, memory, pids. */
  controllers?: string[];
  /** Whether cgroups get cgroup.kill (Linux 5.14+); default true. */
  cgroupKill?: boolean;
  /** Whether cgroups get memory.swap.max (swap accounting); default true. */
  swap?: boolean;
  /** Whether cgroups get memory.peak (Linux 5.19+); default true. */
  memoryPeak?: boolean;
}

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: fake cgroupfs, ${path}`), { code, path });
}

export class FakeCgroupFs implements CgroupFs {
  readonly writes: Array<{ path: string; value: string }> = [];
  readonly killed: number[] = [];
  private readonly opts: Required<FakeCgroupTreeOptions>;

  private constructor(readonly root: string, opts: FakeCgroupTreeOptions) {
    this.opts = { controllers: ['cpu', 'memory', 'pids'], cgroupKill: true, swap: true, memoryPeak: true, ...opts };
  }

  /** Creates the root of a fake unified hierarchy in `root` (an existing empty temp dir). */
  static async create(root: string, opts: FakeCgroupTreeOptions = {}): Promise<FakeCgroupFs> {
    const fake = new FakeCgroupFs(root, opts);
    await fsp.writeFile(join(root, 'cgroup.controllers'), fake.opts.controllers.join(' ') + '\n');
    await fsp.writeFile(join(root, 'cgroup.subtree_control'), '');
    await fsp.writeFile(join(root, 'cgroup.procs'), '1\n');
    return fake;
  }

  async read(path: string): Promise<string | undefined> {
    await this.settle();
    return realCgroupFs.read(path);
  }

  async write(path: string, value: string): Promise<void> {
    if (!(await this.exists(path))) throw errno('ENOENT', path);
    this.writes.push({ path, value });
    const dir = dirname(path);
    switch (basename(path)) {
      case 'cgroup.subtree_control': {
        const available = parseWords(await this.read(join(dir, 'cgroup.controllers')));
        const enabled = new Set(parseWords(await this.read(path)));
        for (const token of parseWords(value)) {
          const name = token.slice(1);
          if (!available.includes(name) || (token[0] !== '+' && token[0] !== '-')) throw errno('EINVAL', path);
          if (token[0] === '+') enabled.add(name);
          else enabled.delete(name);
        }
        await fsp.writeFile(path, [...enabled].sort().join(' ') + '\n');
        return;
      }
      case 'cgroup.kill':
        if (value.trim() === '1') await fsp.writeFile(join(dir, 'cgroup.procs'), '');
        return;
      case 'cgroup.freeze':
        await fsp.writeFile(join(dir, 'cgroup.events'), `populated 1\nfrozen ${value.trim()}\n`);
        await fsp.writeFile(path, value.trim() + '\n');
        return;
      case 'cgroup.procs': {
        const pids = parsePids(await this.read(path));
        await fsp.writeFile(path, [...pids, Number(value)].join('\n') + '\n');
        return;
      }
      default:
        await fsp.writeFile(path, value.trim() + '\n');
    }
  }

  async mkdir(path: string): Promise<boolean> {
    if (await this.isDir(path)) return false;
    await fsp.mkdir(path);
    const controllers = parseWords(await this.read(join(dirname(path), 'cgroup.subtree_control')));
    const files: Record<string, string> = {
      'cgroup.controllers': controllers.join(' '),
      'cgroup.subtree_control': '',
      'cgroup.procs': '',
      'cgroup.events': 'populated 0\nfrozen 0',
      'cgroup.freeze': '0',
    };
    if (this.opts.cgroupKill) files['cgroup.kill'] = '';
    if (controllers.includes('memory')) {
      Object.assign(files, { 'memory.max': 'max', 'memory.reclaim': '', 'memory.current': '0', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0' });
      if (this.opts.swap) files['memory.swap.max'] = 'max';
      if (this.opts.memoryPeak) files['memory.peak'] = '0';
    }
    if (controllers.includes('pids')) Object.assign(files, { 'pids.max': 'max', 'pids.current': '0' });
    if (controllers.includes('cpu')) files['cpu.max'] = 'max 100000';
    for (const [file, content] of Object.entries(files)) await fsp.writeFile(join(path, file), content + '\n');
    return true;
  }

  async rmdir(path: string): Promise<void> {
    if (!(await this.isDir(path))) return;
    if ((await this.subdirs(path)).length > 0 || parsePids(await this.read(join(path, 'cgroup.procs'))).length > 0) throw errno('EBUSY', path);
    // The kernel drops the control files with the directory; here they are real files.
    await fsp.rm(path, { recursive: true });
  }

  isDir(path: string): Promise<boolean> {
    return realCgroupFs.isDir(path);
  }

  exists(path: string): Promise<boolean> {
    return realCgroupFs.exists(path);
  }

  subdirs(path: string): Promise<string[]> {
    return realCgroupFs.subdirs(path);
  }

  /** As a v2 kernel: cgroup2 has no rename (kernfs answers EPERM). */
  async rename(from: string): Promise<void> {
    throw errno('EPERM', from);
  }

  /** Records the kill; the process "exits" at once, leaving every cgroup.procs under the root. */
  kill(pid: number): void {
    this.killed.push(pid);
    this.pendingExits.push(pid);
  }

  private pendingExits: number[] = [];

  /** Applies recorded kills to the tree (kill() is synchronous, files are not); every read settles first. */
  private async settle(dir: string = this.root): Promise<void> {
    if (this.pendingExits.length === 0) return;
    const procs = join(dir, 'cgroup.procs');
    const pids = parsePids(await realCgroupFs.read(procs));
    const left = pids.filter((p) => !this.pendingExits.includes(p));
    if (left.length !== pids.length) await fsp.writeFile(procs, left.join('\n') + (left.length ? '\n' : ''));
    for (const sub of await this.subdirs(dir)) await this.settle(join(dir, sub));
    if (dir === this.root) this.pendingExits = [];
  }
}
