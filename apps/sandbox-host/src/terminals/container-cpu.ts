// The CPU time a container has used so far, read from its cgroup (v2: cpu.stat usage_usec; v1:
// cpuacct.usage where the cpuacct controller is mounted with Reg's groups). Without either (a v1
// host whose cpuacct hierarchy Reg does not use) it sums utime+stime of the processes listed in
// the container's cgroup.procs. The idle policy compares two readings: a program computing
// without printing anything is not idle. Reg puts every container in <root>/<reg or
// reg-hash>/<id>; the source is found once per container and remembered.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';

/** Candidate files holding a container's CPU usage, for both cgroup versions. */
function candidates(id: string): Array<{ file: string; parse: (s: string) => number }> {
  const out: Array<{ file: string; parse: (s: string) => number }> = [];
  const parents = (dir: string) => {
    try {
      return readdirSync(dir).filter((e) => e === 'reg' || e.startsWith('reg-'));
    } catch {
      return [];
    }
  };
  for (const p of parents(ROOT)) out.push({ file: join(ROOT, p, id, 'cpu.stat'), parse: (s) => Number(/usage_usec (\d+)/.exec(s)?.[1] ?? NaN) * 1000 });
  for (const h of ['cpuacct', 'cpu,cpuacct', 'unified']) {
    for (const p of parents(join(ROOT, h))) {
      out.push(h === 'unified' ? { file: join(ROOT, h, p, id, 'cpu.stat'), parse: (s) => Number(/usage_usec (\d+)/.exec(s)?.[1] ?? NaN) * 1000 } : { file: join(ROOT, h, p, id, 'cpuacct.usage'), parse: (s) => Number(s.trim()) });
    }
  }
  // Fallback: the live processes' own CPU time (clock ticks, 100/s on Linux) from /proc.
  for (const h of ['pids', 'cpu', 'memory', 'unified', '']) {
    for (const p of parents(join(ROOT, h))) out.push({ file: join(ROOT, h, p, id, 'cgroup.procs'), parse: procsCpuNs });
  }
  return out;
}

const TICK_NS = 10_000_000;

function procsCpuNs(procs: string): number {
  const pids = procs.split('\n').filter(Boolean);
  if (!pids.length) return NaN;
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks * TICK_NS;
}

export class ContainerCpu {
  private source: { file: string; parse: (s: string) => number } | undefined;

  constructor(private readonly id: string) {}

  /** Nanoseconds of CPU used, or undefined when the cgroup cannot be read (yet, or any more). */
  read(): number | undefined {
    if (this.source) {
      const v = this.tryRead(this.source);
      if (v !== undefined) return v;
      this.source = undefined;
    }
    for (const c of candidates(this.id)) {
      const v = this.tryRead(c);
      if (v !== undefined) {
        this.source = c;
        return v;
      }
    }
    return undefined;
  }

  private tryRead(c: { file: string; parse: (s: string) => number }): number | undefined {
    try {
      const v = c.parse(readFileSync(c.file, 'utf8'));
      return Number.isFinite(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }
}
