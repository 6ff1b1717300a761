// Teardown of many running containers (issue 12, item 4), in one invocation: N bubblewrap
// sandboxes (--unshare-all, the host's / read-only; killed with SIGKILL and reaped: bubblewrap has
// no cgroups to clean), N Reg containers removed in one batch (engine.removeMany(ids, {force})),
// and N Reg containers removed one by one (engine.remove(id, {force}) in a loop, the old way).
// Every container runs `sleep`. Standalone (root):
//
//   node --import tsx bench/src/experiments/teardown.ts [--n 1000] [--one-by-one-n 1000]
//
// The machine is shared: compare the rows of one run, not runs with each other.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine, buildFromHost, regHome } from '../reg-core.js';

export interface TeardownRow {
  engine: string;
  n: number;
  startSeconds: number;
  teardownMs: number;
  how: string;
  leaks: string[];
}

async function bwrapTeardown(n: number): Promise<TeardownRow> {
  const children: ChildProcess[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const c = spawn('bwrap', ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--', '/usr/bin/sleep', '3600'], { stdio: 'ignore' });
      children.push(c);
      await new Promise<void>((res, rej) => {
        c.once('spawn', () => res());
        c.once('error', rej);
      });
    }
    const startSeconds = (performance.now() - t0) / 1000;
    // Their sleeps must be running before the clock starts.
    await new Promise((r) => setTimeout(r, 1000));
    const t1 = performance.now();
    const exits = children.map((c) => new Promise<void>((res) => (c.exitCode !== null || c.signalCode !== null ? res() : c.once('exit', () => res()))));
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(exits);
    return { engine: 'bubblewrap', n, startSeconds, teardownMs: performance.now() - t1, how: 'SIGKILL to every bwrap (--die-with-parent takes the sandbox), all reaped', leaks: [] };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

async function regTeardown(engine: Engine, ref: string, n: number, batch: boolean): Promise<TeardownRow> {
  const ids: string[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const s = await engine.generate({ ret: ref, command: ['/usr/bin/sleep', '3600'] });
      ids.push(s.id);
      const started = await engine.start(s.id);
      if (started.state.status !== 'running') throw new Error(`container ${s.id} did not start: ${JSON.stringify(started.state.outcome)}`);
    }
    const startSeconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const t1 = performance.now();
    const leaks: string[] = [];
    if (batch) {
      const r = await engine.removeMany(ids, { force: true });
      for (const f of r.failed.slice(0, 5)) leaks.push(`${f.id}: ${(f.error as Error).message}`);
    } else {
      for (const id of ids) await engine.remove(id, { force: true }).catch((e: Error) => leaks.push(`${id}: ${e.message}`));
    }
    const teardownMs = performance.now() - t1;
    leaks.push(...(await leaksOf(engine, ids)));
    ids.length = 0;
    return {
      engine: batch ? 'Reg, batch' : 'Reg, one by one',
      n,
      startSeconds,
      teardownMs,
      how: batch ? 'engine.removeMany(ids, {force}): one kill pass over all cgroups (v1 freeze/kill/thaw), recycled into the pool' : 'engine.remove(id, {force}) in a loop',
      leaks,
    };
  } finally {
    if (ids.length) await engine.removeMany(ids, { force: true }).catch(() => undefined);
  }
}

async function leaksOf(engine: Engine, ids: string[]): Promise<string[]> {
  const leaks: string[] = [];
  const left = (await readdir(engine.home.containers).catch(() => [] as string[])).filter((d) => ids.includes(d));
  if (left.length) leaks.push(`${left.length} container dirs left`);
  const cgroups = await engine.ctx.cgroups.list();
  const mine = cgroups.filter((c) => ids.includes(c));
  if (mine.length) leaks.push(`${mine.length} cgroups left`);
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(engine.home.root));
  if (mounts.length) leaks.push(`${mounts.length} mounts left`);
  return leaks;
}

export async function teardownExperiment(opts: { n: number; oneByOneN: number; log: (s: string) => void }): Promise<TeardownRow[]> {
  const rows: TeardownRow[] = [];
  opts.log(`teardown: ${opts.n} bubblewrap`);
  rows.push(await bwrapTeardown(opts.n));
  const root = await mkdtemp(join(tmpdir(), 'reg-teardown-'));
  const engine = await Engine.open({ home: regHome(root) });
  try {
    const r = await buildFromHost(engine.home, '/usr/bin/sleep');
    const ref = `${r.runtime.name}@${r.runtime.version}`;
    opts.log(`teardown: ${opts.n} Reg, batch`);
    rows.push(await regTeardown(engine, ref, opts.n, true));
    if (opts.oneByOneN > 0) {
      opts.log(`teardown: ${opts.oneByOneN} Reg, one by one`);
      rows.push(await regTeardown(engine, ref, opts.oneByOneN, false));
    }
  } finally {
    await engine.disposeCgroupParent().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

export function formatTeardown(rows: TeardownRow[]): string {
  const bwrap = rows.find((r) => r.engine === 'bubblewrap');
  return [
    '| engine | containers | started in | teardown | per container | vs bubblewrap | leaks | how |',
    '| :--- | ---: | ---: | ---: | ---: | ---: | :--- | :--- |',
    ...rows.map((r) => `| ${r.engine} | ${r.n} | ${r.startSeconds.toFixed(1)} s | ${(r.teardownMs / 1000).toFixed(2)} s | ${(r.teardownMs / r.n).toFixed(2)} ms | ${bwrap ? `${(r.teardownMs / r.n / (bwrap.teardownMs / bwrap.n)).toFixed(2)}×` : '–'} | ${r.leaks.length ? r.leaks.join('; ') : 'none'} | ${r.how} |`),
  ].join('\n');
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} needs a whole number, got ${process.argv[i + 1]}`);
  return v;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.getuid?.() !== 0) {
    console.error('teardown: needs root (cgroups, namespaces)');
    process.exit(2);
  }
  const tmp = await mkdtemp(join(tmpdir(), 'reg-teardown-launcher-'));
  const { launcherPath } = await import('@reg/native');
  const pinned = join(tmp, 'reg-launch');
  await copyFile(process.env.REG_LAUNCHER || launcherPath, pinned);
  await chmod(pinned, 0o755);
  process.env.REG_LAUNCHER = pinned;
  const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
  try {
    const n = arg('n', 1000);
    const rows = await teardownExperiment({ n, oneByOneN: arg('one-by-one-n', n), log });
    console.log(formatTeardown(rows));
    console.log('\n' + JSON.stringify(rows));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
