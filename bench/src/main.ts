// `npm run bench`: sets up what the experiments need, runs the chosen ones side by side, writes
// results/<date>/report.md with SVG charts and results.json, prints a summary, and cleans up —
// containers, dockerd, mounts, temp dirs — whatever happens (try/finally and signal handlers).

import { chmod, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cleanup } from './cleanup.js';
import { BenchContext } from './context.js';
import { mixedExperiment, type MixedResult } from './experiments/mixed.js';
import { rushExperiment, type RushResult } from './experiments/rush.js';
import { startupExperiment, type StartupResult } from './experiments/startup.js';
import { cliStartupExperiment, type CliStartupResult } from './experiments/cli-startup.js';
import { stormExperiment, type StormResult } from './experiments/storm.js';
import { volumeExperiment, type VolumeResult } from './experiments/volume.js';
import { busyness, machineInfo, type MachineInfo } from './host.js';
import { parseOptions, USAGE } from './options.js';
import { RegHarness } from './reg-harness.js';
import { writeReport } from './report/write.js';

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: MachineInfo;
  busyBefore: string;
  busyAfter: string;
  quick: boolean;
  volume?: VolumeResult;
  startup?: StartupResult;
  storm?: StormResult;
  mixed?: MixedResult;
  rush?: RushResult;
  cli?: CliStartupResult;
  notes: string[];
  errors: string[];
}

const repoRoot = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/**
 * Other people rebuild packages/native on this machine (node-gyp deletes build/ first), which
 * would pull the launcher out from under a running bench. The bench runs a copy of it instead:
 * the engine and the CLI honour REG_LAUNCHER.
 */
async function pinLauncher(tmp: string): Promise<void> {
  const { launcherPath } = await import('@reg/native');
  const pinned = join(tmp, 'reg-launch');
  await copyFile(process.env.REG_LAUNCHER || launcherPath, pinned);
  await chmod(pinned, 0o755);
  process.env.REG_LAUNCHER = pinned;
}

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2), repoRoot);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  // Re-renders the report of an earlier run (after a change to the report code): no measuring.
  const from = process.argv.indexOf('--report-from');
  if (from >= 0) {
    const file = process.argv[from + 1];
    if (!file) {
      console.error('--report-from needs a results.json');
      return 2;
    }
    const r = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
    const out = await writeReport(r, { ...opts, latest: opts.latest && !r.quick }, repoRoot);
    console.log(`report: ${out.report}${out.latest ? ` (and ${out.latest})` : ''}\n\n${out.summary}`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error(`bench: must run as root (namespaces, cgroups, drop_caches, dockerd)\n${USAGE}`);
    return 2;
  }
  const t0 = Date.now();
  const log = (l: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${l}`);
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  // The engine's launchers run detached and unref'd; this keeps Node alive while we wait on them.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const tmp = await mkdtemp(join(tmpdir(), 'reg-bench-'));
  // Bare services run as an unprivileged uid and need to reach their dirs inside.
  await chmod(tmp, 0o755);
  if (!opts.keep) cleanup.add(`temp dir ${tmp}`, () => rm(tmp, { recursive: true, force: true }));
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: await machineInfo(),
    busyBefore: await busyness(),
    busyAfter: '',
    quick: opts.quick,
    notes: [],
    errors: [],
  };
  let code = 0;
  try {
    log(`temp dir ${tmp}; experiments: ${[...opts.only].join(', ')}${opts.quick ? ' (quick)' : ''}`);
    await pinLauncher(tmp);
    const reg = await RegHarness.open(join(tmp, 'reg-home'), cleanup);
    const ctx = new BenchContext(opts, tmp, cleanup, reg, log);
    const step = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
      log(`== ${name}`);
      try {
        return await fn();
      } catch (e) {
        const msg = `${name} failed: ${(e as Error).stack ?? e}`;
        results.errors.push(msg);
        console.error(msg);
        code = 1;
        return undefined;
      } finally {
        await reg.removeAll();
      }
    };
    if (opts.only.has('volume')) results.volume = await step('volume', () => volumeExperiment(ctx));
    if (opts.only.has('startup')) results.startup = await step('startup', () => startupExperiment(ctx));
    if (opts.only.has('storm')) results.storm = await step('storm', () => stormExperiment(ctx));
    if (opts.only.has('mixed')) results.mixed = await step('mixed', () => mixedExperiment(ctx));
    if (opts.only.has('rush')) results.rush = await step('rush', () => rushExperiment(ctx));
    if (opts.only.has('cli')) results.cli = await step('cli', () => cliStartupExperiment(ctx));
    results.notes = ctx.notes;
  } finally {
    log('cleaning up');
    await cleanup.runAll();
    clearInterval(keepAlive);
  }
  results.finishedAt = new Date().toISOString();
  results.busyAfter = await busyness();
  const out = await writeReport(results, opts, repoRoot);
  log(`report: ${out.report}${out.latest ? ` (and ${out.latest})` : ''}`);
  console.log(`\n${out.summary}`);
  return code;
}

process.exitCode = await main();
