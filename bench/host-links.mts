// Focused benchmark for "memory like bare" (issue 12, item 3): N idle python containers running
// beside the same python bare on the host, from a store that LINKS the host's files (the default)
// against one that COPIES them (REG_STORE_LINK=copy), with N+1 bare pythons as the peer, all in
// one invocation. Figures: Σ PSS of every python process (bare and containers, launcher and init
// processes included), and charged memory (Σ memory cgroup usage: the bare processes' own group +
// each container's). No machine-wide cache drop (the machine is shared): each store is built fresh
// in its own temp REG_HOME and its blobs' unmapped pages are evicted (fadvise DONTNEED), so a
// copied store's files start uncached, as on a first start after a reboot.
//
//   node --import tsx bench/host-links.mts [N]        (root; default N = 5)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../packages/reg-core/src/container/engine.ts';
import { buildFromHost } from '../packages/reg-core/src/ret/build-from-host.ts';
import { tempHome } from '../packages/reg-core/src/test-support/temp-home.ts';

const N = Number(process.argv[2] ?? 5);
const PY = '/usr/bin/python3.11';
const PROG = "import ssl, sqlite3, json, decimal, zoneinfo, ctypes, hashlib, time\nprint('ready', flush=True)\ntime.sleep(3600)";
const EVICT = "import os, sys\nfor d, _, fs in os.walk(sys.argv[1]):\n  for f in fs:\n    fd = os.open(os.path.join(d, f), os.O_RDONLY)\n    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n    os.close(fd)";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** A memory cgroup of our own for the bare processes (v1 or v2, detected). */
function memoryGroup(name: string) {
  const v1 = existsSync('/sys/fs/cgroup/memory/cgroup.procs');
  const dir = v1 ? `/sys/fs/cgroup/memory/${name}` : `/sys/fs/cgroup/${name}`;
  mkdirSync(dir);
  return {
    procs: join(dir, 'cgroup.procs'),
    usage: () => Number(readFileSync(join(dir, v1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8')),
    remove: () => {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        }
      }
    },
  };
}

function pssOf(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function startBare(group: ReturnType<typeof memoryGroup>, count: number): Promise<ChildProcess[]> {
  const out: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    // sh joins the group and execs python in place: python is charged to the group from its first page.
    const c = spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', group.procs, PY, '-c', PROG], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      c.once('exit', () => reject(new Error('a bare python exited early')));
    });
    out.push(c);
  }
  return out;
}

interface Figures {
  label: string;
  pss: number;
  charged: number;
  linkedFiles?: number;
  buildMs?: number;
}

async function run(label: string, containers: number, link: 'auto' | 'copy' | undefined, bareCount: number): Promise<Figures> {
  const group = memoryGroup(`reg-c-hostlinks-${process.pid}-${label.replace(/\W+/g, '')}`);
  const home = tempHome('reg-hostlinks-');
  let engine: Engine | undefined;
  const bare: ChildProcess[] = [];
  try {
    let linkedFiles: number | undefined;
    let buildMs: number | undefined;
    if (link) {
      const t0 = performance.now();
      const r = await buildFromHost(home, PY, { link });
      buildMs = performance.now() - t0;
      linkedFiles = r.linkedFiles ?? 0;
      // A copy's page cache is charged to the process that wrote it (this one) until evicted;
      // evict the store's unmapped pages so the first container pays, as after a reboot. For the
      // linked store this evicts the host files' unmapped pages too: the bare python pays first.
      const ev = spawnSync(PY, ['-c', EVICT, home.blobs], { encoding: 'utf8' });
      if (ev.status !== 0) throw new Error(`evicting the store's page cache: ${ev.stderr}`);
    }
    bare.push(...(await startBare(group, bareCount)));
    if (link) {
      engine = await Engine.open({ home });
      for (let i = 0; i < containers; i++) {
        const s = await engine.generate({ ret: 'python@3.11', command: [PY, '-c', PROG] });
        await engine.start(s.id);
        for await (const c of engine.readLogs(s.id, { follow: true, signal: AbortSignal.timeout(30_000) })) if (c.toString().includes('ready')) break;
      }
    }
    await sleep(1000);
    let pss = bare.reduce((n, c) => n + pssOf(c.pid!), 0);
    let charged = group.usage();
    if (engine) {
      const st = await engine.stats();
      pss += st.total.pss;
      charged += st.containers.reduce((n, c) => n + c.cgroupMemoryBytes, 0);
    }
    return { label, pss, charged, ...(linkedFiles !== undefined && { linkedFiles }), ...(buildMs !== undefined && { buildMs }) };
  } finally {
    for (const c of bare) c.kill('SIGKILL');
    await Promise.all(bare.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(0) : c.once('exit', r)))));
    if (engine) {
      for (const s of await engine.list({ all: true })) await engine.remove(s.id, { force: true }).catch(() => {});
      await engine.disposeCgroupParent();
    }
    home.cleanup();
    group.remove();
  }
}

const results: Figures[] = [];
results.push(await run(`${N + 1} bare`, 0, undefined, N + 1));
results.push(await run(`1 bare + ${N} Reg (linked store)`, N, 'auto', 1));
results.push(await run(`1 bare + ${N} Reg (copied store)`, N, 'copy', 1));
const peer = results[0]!;
const lines = [
  `host-links: ${N} idle python containers beside one bare python, one invocation (shared, noisy machine: ratios matter)`,
  '| configuration | Σ PSS | × bare | charged | × bare | files linked | RET build |',
  '|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.label} | ${MiB(r.pss)} | ${(r.pss / peer.pss).toFixed(3)} | ${MiB(r.charged)} | ${(r.charged / peer.charged).toFixed(3)} | ${r.linkedFiles ?? '–'} | ${r.buildMs === undefined ? '–' : `${(r.buildMs / 1000).toFixed(1)} s`} |`),
];
console.log(lines.join('\n'));
if (process.env.OUT) writeFileSync(process.env.OUT, `${lines.join('\n')}\n${JSON.stringify(results)}\n`);
