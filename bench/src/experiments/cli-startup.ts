// Experiment "cli" — the whole `reg` command, process start to exit, as a user at a shell waits
// for it, against the same program bare, under bubblewrap and under `docker run --rm`: R runs
// each, engines taking turns run by run (a noisy moment of the shared machine hits all alike).
// Also `reg --version` and `reg ps` (the CLI's own start-up, no container), each bundled (what
// bin/reg.js runs) and unbundled (REG_CLI_BUNDLE=0: the compiled modules loaded one by one), and
// `node -e 0`, the floor of any Node command. Then where a `reg run`'s time goes (REG_TRACE=1).

import type { BenchContext } from '../context.js';
import type { Target } from '../report/write.js';
import { bwrapArgs } from '../peers/oci.js';
import { CLEAN_ENV, capture, timeRun, type Timed } from '../processes.js';
import { median, ms, percentile, ratio, summarise, type Summary } from '../stats.js';
import { table } from '../report/markdown.js';

export interface CliRow {
  engine: string;
  command: string;
  samples: number[];
  summary: Summary;
  p90: number;
  failed?: string;
}

export interface CliStartupResult {
  runs: number;
  rows: CliRow[];
  /** Medians (ms) of REG_TRACE=1 phases of `reg run --rm`, in order. */
  phases: Array<{ phase: string; ms: number }>;
}

const REG_CLI = new URL('../../../packages/reg-core/bin/reg.js', import.meta.url).pathname;
const PROGRAM = ['python3', '-c', 'pass'];

function ok(t: Timed, what: string): number {
  if (t.code !== 0) throw new Error(`${what} exited with ${t.code ?? t.signal}`);
  return t.ms;
}

interface Engine {
  name: string;
  command: string;
  run: () => Promise<number>;
}

export async function cliStartupExperiment(ctx: BenchContext): Promise<CliStartupResult> {
  const R = ctx.opts.quick ? ctx.opts.runs : Math.max(30, ctx.opts.runs);
  const ref = await ctx.buildRuntime('/usr/bin/python3.11');
  const env = { ...CLEAN_ENV, ...(process.env.REG_LAUNCHER && { REG_LAUNCHER: process.env.REG_LAUNCHER }) };
  const unbundled = { ...env, REG_CLI_BUNDLE: '0' };
  const reg = (args: string[], e: NodeJS.ProcessEnv) => timeRun(process.execPath, [REG_CLI, '--home', ctx.reg.home.root, ...args], { env: e });
  const runArgs = ['run', '--rm', '-t', ref, '--', ...PROGRAM];
  const drainPool = () => capture(process.execPath, [REG_CLI, '--home', ctx.reg.home.root, 'pool', 'drain'], { env });
  // Whatever happens, no parked launcher outlives the run (they would wait an hour for a taker).
  ctx.cleanup.add('cli: parked launchers of the bench home', async () => void (await drainPool()));
  const engines: Engine[] = [
    { name: 'node -e 0 (any Node command\'s floor)', command: 'node -e 0', run: async () => ok(await timeRun(process.execPath, ['-e', '0'], { env }), 'node') },
    { name: 'reg --version', command: 'reg --version', run: async () => ok(await reg(['--version'], env), 'reg --version') },
    { name: 'reg --version, unbundled', command: 'REG_CLI_BUNDLE=0 reg --version', run: async () => ok(await reg(['--version'], unbundled), 'reg --version') },
    { name: 'reg ps', command: 'reg ps', run: async () => ok(await reg(['ps'], env), 'reg ps') },
    { name: 'reg ps, unbundled', command: 'REG_CLI_BUNDLE=0 reg ps', run: async () => ok(await reg(['ps'], unbundled), 'reg ps') },
    { name: 'bare python', command: 'python3.11 -c pass', run: async () => ok(await timeRun('/usr/bin/python3.11', ['-c', 'pass'], { env }), 'bare') },
    { name: 'reg run --rm', command: `reg run --rm -t ${ref} -- python3 -c pass`, run: async () => ok(await reg(runArgs, env), 'reg run') },
    { name: 'reg run --rm, unbundled', command: `REG_CLI_BUNDLE=0 reg run --rm -t ${ref} -- python3 -c pass`, run: async () => ok(await reg(runArgs, unbundled), 'reg run') },
    {
      // `reg pool fill 1` before each run (not timed): the run takes a parked launcher (launch/park.ts).
      name: 'reg run --rm, a parked launcher ready',
      command: `reg pool fill 1; reg run --rm -t ${ref} -- python3 -c pass`,
      run: async () => {
        ok(await reg(['pool', 'fill', '1'], env), 'reg pool fill');
        return ok(await reg(runArgs, env), 'reg run');
      },
    },
  ];
  const tree = await ctx.tree('python').catch((e: Error) => {
    ctx.note(`cli: image tree for python unavailable, bubblewrap and Docker skipped: ${e.message}`);
    return undefined;
  });
  if (tree) {
    if (await ctx.bwrap()) engines.push({ name: 'bubblewrap', command: 'bwrap --unshare-all … python3 -c pass', run: async () => ok(await timeRun('bwrap', bwrapArgs(tree, PROGRAM)), 'bwrap') });
    const d = await ctx.docker();
    const tag = d && (await ctx.image('python'));
    if (d && tag) engines.push({ name: 'docker run --rm', command: `docker run --rm --network none ${tag} python3 -c pass`, run: async () => ok(await d.timeDocker(['run', '--rm', '--network', 'none', tag, ...PROGRAM]), 'docker run') });
  }

  const samples = new Map<string, number[]>(engines.map((e) => [e.name, []]));
  const failures = new Map<string, number>();
  const failed = new Map<string, string>();
  ctx.log(`cli: ${R} runs × ${engines.length} commands, round robin`);
  for (let i = -2; i < R; i++) {
    for (const e of engines) {
      if (failed.has(e.name)) continue;
      try {
        const v = await e.run();
        if (i >= 0) samples.get(e.name)!.push(v);
      } catch (err) {
        const n = (failures.get(e.name) ?? 0) + 1;
        failures.set(e.name, n);
        ctx.note(`cli / ${e.name}: run ${i + 1} failed${n >= 3 ? ' (third failure: dropped)' : ''}: ${(err as Error).message}`);
        if (n >= 3) failed.set(e.name, (err as Error).message);
      }
    }
    if (i >= 0 && (i + 1) % Math.max(1, Math.floor(R / 4)) === 0) ctx.log(`  ${i + 1}/${R}`);
  }
  // Parked launchers left by the last fill end here (the harness removes containers, not pools).
  await drainPool();
  const rows = engines.map((e) => {
    const s = samples.get(e.name)!;
    return { engine: e.name, command: e.command, samples: s, summary: summarise(s), p90: percentile([...s].sort((a, b) => a - b), 90), ...(failed.has(e.name) && { failed: failed.get(e.name)! }) };
  });
  return { runs: R, rows, phases: await tracedPhases(ctx, runArgs, env, Math.min(R, 15)) };
}

/** `REG_TRACE=1 reg run …` a few times: the median of each phase line (the CLI's and the engine's). */
async function tracedPhases(ctx: BenchContext, runArgs: string[], env: NodeJS.ProcessEnv, n: number): Promise<Array<{ phase: string; ms: number }>> {
  const byPhase = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const r = await capture(process.execPath, [REG_CLI, '--home', ctx.reg.home.root, ...runArgs], { env: { ...env, REG_TRACE: '1' } });
    if (r.code !== 0) {
      ctx.note(`cli: traced reg run exited ${r.code}: ${r.stderr.slice(0, 200)}`);
      continue;
    }
    for (const line of r.stderr.split('\n')) {
      // "reg-trace cli run process start → run verb 63.20ms +0.02ms (0.02ms)" or "reg-trace start cgroup +9.97ms (12.98ms)"
      const m = /^reg-trace (.+?) \+([\d.]+)ms \([\d.]+ms\)$/.exec(line);
      if (!m) continue;
      let phase = m[1]!;
      let v = Number(m[2]);
      const boot = /^(cli run process start → run verb) ([\d.]+)ms$/.exec(phase);
      if (boot) [phase, v] = [boot[1]!, Number(boot[2])];
      if (!byPhase.has(phase)) byPhase.set(phase, []);
      byPhase.get(phase)!.push(v);
    }
  }
  return [...byPhase].map(([phase, v]) => ({ phase, ms: median(v) }));
}

export function cliStartupSection(c: CliStartupResult, targets: Target[]): string {
  const med = (name: string) => c.rows.find((r) => r.engine === name && !r.failed)?.summary.median ?? Number.NaN;
  const bare = med('bare python');
  const regRun = med('reg run --rm');
  const docker = med('docker run --rm');
  const bwrap = med('bubblewrap');
  const out = [
    `## The \`reg\` command: process start to exit (${c.runs} runs each, taking turns)`,
    'Each run is timed in the bench process from `spawn()` to the exit of the command a user types, as a shell waits for it; no stdio. ' +
      '`reg` is `node packages/reg-core/bin/reg.js` (what the `reg` bin runs): the bundled CLI (`dist/reg-cli.cjs` with V8\'s code cache), and unbundled (`REG_CLI_BUNDLE=0`: the compiled modules loaded one by one) for comparison. ' +
      '`reg run --rm` generates, starts, waits for and removes a container of the host-built python RET; Docker runs the same program in the python image (`--network none`), bubblewrap in the same tree with `--unshare-all`. The machine is shared and noisy: read the ratios.',
    table(
      ['command', 'median', 'p90', 'mean', 'vs bare python', 'vs reg run --rm'],
      c.rows.map((r) => [
        r.failed ? `${r.command} (failed: ${r.failed.slice(0, 60)})` : `\`${r.command}\``,
        `**${ms(r.summary.median)} ms**`,
        `${ms(r.p90)} ms`,
        `${ms(r.summary.mean)} ms`,
        ratio(r.summary.median, bare),
        ratio(r.summary.median, regRun),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
  ];
  if (c.phases.length) {
    out.push(
      'Where a `reg run --rm` goes (`REG_TRACE=1`, medians): Node\'s own start-up to the verb running, then the CLI\'s steps and the engine\'s start phases inside `engine.run`.',
      table(['phase', 'median'], c.phases.map((p) => [p.phase, `${ms(p.ms)} ms`]), ['l', 'r']),
    );
  }
  if (Number.isFinite(docker)) {
    const boot = c.phases.find((p) => p.phase === 'cli run process start → run verb')?.ms ?? Number.NaN;
    targets.push({
      experiment: 'cli',
      target: 'the whole `reg run` ≥ 5× faster than `docker run --rm`',
      measured: `${ms(docker)} / ${ms(regRun)} ms = ${ratio(docker, regRun)}`,
      met: docker / regRun >= 5,
      why: `5× needs reg run at ${ms(docker / 5)} ms; Node alone (\`node -e 0\`) takes ${ms(med('node -e 0 (any Node command\'s floor)'))} ms and reaching the run verb ${ms(boot)} ms; the container itself (bubblewrap's ${ms(bwrap)} ms for the same program) is the rest`,
    });
  }
  return out.join('\n\n');
}
