// The host: Debian packages the bench needs (installed at bench time, not by scripts/setup.mjs),
// memory as /proc/meminfo and smaps_rollup see it, process trees, and a description of the
// machine for the report.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { capture, check, sleep } from './processes.js';
import { readSmapsRollup } from './reg-core.js';

/** Installs whichever of `pkgs` is missing (apt-get, non-interactive, no recommends). */
export async function ensurePackages(pkgs: Record<string, string>, log: (l: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const p of Object.keys(pkgs)) {
    const r = await capture('dpkg-query', ['-W', '-f=${Status}', p]);
    if (!(r.code === 0 && r.stdout.includes('install ok installed'))) missing.push(p);
  }
  if (missing.length === 0) return;
  log(`installing ${missing.map((p) => `${p} (${pkgs[p]})`).join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await check('apt-get', ['update', '-qq'], { env });
  // Debian starts services from postinst scripts; policy-rc.d (present on this machine) stops that.
  await check('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

export interface MemInfo {
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
  cachedBytes: number;
  /** MemTotal − MemFree: everything in use, page cache included (the figure the bench reports). */
  usedBytes: number;
}

export async function readMemInfo(): Promise<MemInfo> {
  const text = await readFile('/proc/meminfo', 'latin1');
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  const totalBytes = kb('MemTotal');
  const freeBytes = kb('MemFree');
  return { totalBytes, freeBytes, availableBytes: kb('MemAvailable'), cachedBytes: kb('Cached'), usedBytes: totalBytes - freeBytes };
}

/**
 * Drops clean page cache, dentries and inodes. What stays afterwards is what processes hold:
 * their private pages and the file pages they map (libraries, binaries) — so MemTotal − MemFree
 * after a drop counts shared libraries once per inode, which is what sharing is about.
 */
export async function dropCaches(): Promise<void> {
  await check('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3');
  await sleep(300);
}

/** Drops caches and reads MemTotal − MemFree (median of three reads, a little apart). */
export async function settledUsedBytes(): Promise<number> {
  await dropCaches();
  const reads: number[] = [];
  for (let i = 0; i < 3; i++) {
    reads.push((await readMemInfo()).usedBytes);
    await sleep(100);
  }
  return reads.sort((a, b) => a - b)[1]!;
}

export interface PssFigures {
  processes: number;
  rss: number;
  pss: number;
  uss: number;
}

/** Σ smaps_rollup over pids (processes that are gone are skipped). */
export async function pssOf(pids: Iterable<number>): Promise<PssFigures> {
  const out: PssFigures = { processes: 0, rss: 0, pss: 0, uss: 0 };
  const list = [...pids];
  const width = 16;
  for (let i = 0; i < list.length; i += width) {
    const figures = await Promise.all(list.slice(i, i + width).map((pid) => readSmapsRollup(pid).catch(() => undefined)));
    for (const f of figures) {
      if (!f) continue;
      out.processes++;
      out.rss += f.rss;
      out.pss += f.pss;
      out.uss += f.uss;
    }
  }
  return out;
}

/** pid → (ppid, comm, state) of every process. */
export async function processTable(): Promise<Map<number, { ppid: number; comm: string; state: string }>> {
  const table = new Map<number, { ppid: number; comm: string; state: string }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      table.set(Number(name), { ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0]! });
    } catch {
      // exited while we listed
    }
  }
  return table;
}

/** The pids of `roots` and all their descendants. */
export async function descendants(roots: number[]): Promise<number[]> {
  const table = await processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) (children.get(p.ppid) ?? children.set(p.ppid, []).get(p.ppid)!).push(pid);
  const out: number[] = [];
  const queue = roots.filter((r) => table.has(r));
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Pids listed in a cgroup's cgroup.procs ([] if it is gone). */
export async function cgroupPids(procsFile: string): Promise<number[]> {
  const text = await readFile(procsFile, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Is a TCP port in LISTEN in the network namespace of `pid` (read from /proc/PID/net/tcp*)? */
export async function isListening(pid: number, port: number): Promise<boolean> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${f}`, 'latin1').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "IP:PORT", state 0A is LISTEN
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') return true;
    }
  }
  return false;
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  os: string;
  node: string;
  cgroups: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const unified = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  const v1 = unified.some((l) => / - cgroup cgroup /.test(l));
  const v2 = unified.some((l) => / - cgroup2 /.test(l));
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: (await capture('uname', ['-r'])).stdout.trim(),
    os: /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'unknown',
    node: process.version,
    cgroups: v1 && v2 ? 'v1 (hybrid: v2 mounted too)' : v1 ? 'v1' : v2 ? 'v2' : 'none',
  };
}

/** The load average and process count now: the report notes how busy the shared machine was. */
export async function busyness(): Promise<string> {
  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  const procs = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).length;
  return `load ${load}, ${procs} processes`;
}
