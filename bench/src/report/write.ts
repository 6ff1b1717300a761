// Turns the results into results/<date>-<time>/report.md (+ SVG charts and results.json), a
// console summary, and — for full runs — bench/LATEST.md with its charts in bench/latest/. Targets are evaluated here, from
// ratios measured in the same run.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StartupResult } from '../experiments/startup.js';
import { cliStartupSection } from '../experiments/cli-startup.js';
import { BARE_NO_PYC, type StormResult, type StormSeries } from '../experiments/storm.js';
import type { MixedResult } from '../experiments/mixed.js';
import type { VolumeResult } from '../experiments/volume.js';
import type { BenchResults } from '../main.js';
import type { BenchOptions } from '../options.js';
import { median, mib, ms, ratio } from '../stats.js';
import { pct, table, textTable } from './markdown.js';
import { barChart, boxChart, lineChart } from './svg.js';
import { BENCH_UID } from '../peers/oci.js';

export interface Target {
  experiment: string;
  target: string;
  measured: string;
  met: boolean | undefined;
  why?: string;
}

const MiB = 2 ** 20;
const yesNo = (t: Target) => (t.met === undefined ? 'not measured' : t.met ? '**met**' : '**missed**');

export async function writeReport(r: BenchResults, o: BenchOptions, repoRoot: string): Promise<{ report: string; latest?: string; summary: string }> {
  const stamp = r.startedAt.replace(/:\d\d\.\d+Z$/, '').replace('T', '-').replace(':', '');
  const dir = join(o.resultsDir, `${stamp}${r.quick ? '-quick' : ''}`);
  await mkdir(dir, { recursive: true });
  const charts: Array<[string, string]> = [];
  const chart = (name: string, svg: string) => {
    charts.push([name, svg]);
    return `![${name}](${name})`;
  };
  const targets: Target[] = [];
  const sections: string[] = [];
  if (r.volume) sections.push(volumeSection(r.volume, targets, chart));
  if (r.startup) sections.push(startupSection(r.startup, targets, chart));
  if (r.storm) sections.push(stormSection(r.storm, targets, chart));
  if (r.mixed) sections.push(mixedSection(r.mixed, targets, chart));
  if (r.cli) sections.push(cliStartupSection(r.cli, targets));

  const minutes = ((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 60000).toFixed(1);
  const m = r.machine;
  const head = `# Reg benchmarks — ${r.startedAt.slice(0, 10)}${r.quick ? ' (quick smoke run: tiny sizes, not for comparison)' : ''}

- **Command:** \`${r.command}\` (from the repository root; ${minutes} min)
- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.memory}; ${m.os}, Linux ${m.kernel}; cgroups ${m.cgroups}; Node ${m.node}
- **Started:** ${r.startedAt}; busyness before: ${r.busyBefore}; after: ${r.busyAfter}
- The machine is shared: other developers ran builds and tests during the run. Timings are medians
  and ratios between engines measured in the same run, run by run in turn; memory is given three
  ways (see "How memory is measured") because the host-wide figure moves with everyone's work.
`;
  const targetTable = table(
    ['experiment', 'target', 'measured', 'result'],
    targets.map((t) => [t.experiment, t.target, t.measured, yesNo(t)]),
    ['l', 'l', 'l', 'l'],
  );
  const whys = targets.filter((t) => t.met === false && t.why).map((t) => `- **${t.experiment}: ${t.target}** — ${t.why}`);
  const notes = [...r.notes.map((n) => `- ${n}`), ...r.errors.map((e) => `- **error:** ${e.split('\n')[0]}`)];
  const md = [
    head,
    '## Targets',
    targetTable,
    whys.length ? `\nWhy the misses:\n\n${whys.join('\n')}` : '',
    ...sections,
    methodsSection(),
    notes.length ? `## Notes from this run\n\n${notes.join('\n')}` : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  await writeFile(join(dir, 'report.md'), `${md}\n`);
  for (const [name, svg] of charts) await writeFile(join(dir, name), svg);
  await writeFile(join(dir, 'results.json'), JSON.stringify({ ...r, targets }, null, 1));
  let latest: string | undefined;
  if (o.latest) {
    // bench/LATEST.md and its charts in bench/latest/ are committed (results/ is not).
    latest = join(repoRoot, 'bench', 'LATEST.md');
    const chartsDir = join(repoRoot, 'bench', 'latest');
    await rm(chartsDir, { recursive: true, force: true });
    await mkdir(chartsDir, { recursive: true });
    for (const [name, svg] of charts) await writeFile(join(chartsDir, name), svg);
    const relinked = md.replace(/!\[([^\]]+)\]\(([^)]+\.svg)\)/g, (_, alt: string, file: string) => `![${alt}](latest/${file})`);
    await writeFile(latest, `${relinked}\n`);
  }
  return { report: join(dir, 'report.md'), ...(latest && { latest }), summary: consoleSummary(r, targets) };
}

type Chart = (name: string, svg: string) => string;

function volumeSection(v: VolumeResult, targets: Target[], chart: Chart): string {
  const out: string[] = ['## 1. Volume: RETs and the store against Docker images'];
  out.push(
    table(
      ['runtime', 'RET build (in process, from host files)', 'RETs', 'new bytes stored'],
      v.builds.map((b) => [b.runtime, `${(b.ms / 1000).toFixed(2)} s`, b.rets, `${mib(b.newBytes)} MiB`]),
    ),
  );
  const pn = v.pythonNode;
  out.push(
    `python + node in one store: **${mib(pn.storeBytes)} MiB** on disk (${pn.storeBlobs} blobs) against ${mib(pn.closureBytes)} MiB for the two closures counted separately — deduplication saves ${mib(pn.savedBytes)} MiB (${((pn.savedBytes / pn.closureBytes) * 100).toFixed(1)}%: python and node share libc, libm, libgcc_s, libstdc++, ld.so, CA certificates; node links OpenSSL, ICU and zlib statically, so there is little more to share).`,
  );
  out.push(
    table(
      ['service', 'Reg closure: files', 'MiB', 'Docker image: files', 'MiB (tree)', 'MiB (`docker image inspect`)', 'closure / image', 'image content'],
      v.rows.map((row) => [
        row.service,
        row.closure.files,
        mib(row.closure.bytes),
        row.image?.files ?? '–',
        row.image ? mib(row.image.bytes) : '–',
        row.image?.dockerBytes !== undefined ? mib(row.image.dockerBytes) : '–',
        row.image ? ratio(row.closure.bytes, row.image.bytes) : '–',
        row.image ? `minbase + ${row.image.packages}` : '–',
      ]),
    ),
  );
  const a = v.all;
  out.push(
    `All five services: the Reg store holds **${mib(a.storeBytes)} MiB** (Σ closures ${mib(a.closureBytes)} MiB); the five Docker images ${a.dockerBytes !== undefined ? `**${mib(a.dockerBytes)} MiB**` : '–'} (${a.dockerBytes !== undefined ? ratio(a.storeBytes, a.dockerBytes) : '–'}). Each image is its own single-layer \`docker import\`, as images built separately are; with a shared base layer Docker would store the minbase tree once (${a.imageBytes !== undefined ? 'see the per-image sizes above' : ''}).`,
  );
  out.push(
    chart(
      'volume.svg',
      barChart({
        title: 'Reg closure vs Docker image (MiB)',
        yLabel: 'MiB',
        groups: v.rows.map((row) => ({ label: row.service, bars: [{ name: 'Reg closure', value: row.closure.bytes / MiB }, { name: 'Docker image', value: (row.image?.bytes ?? Number.NaN) / MiB }] })),
      }),
    ),
  );
  out.push(
    '### materialise(): the lower layers of one container',
    'The per-container cost of finding (and, the first time, building) the closure\'s layer trees: `materialise(home, ref)` in process. Layer trees are built once per RET and shared, so the median (the warm call every container start makes) must not grow with the number of files.',
    table(
      ['runtime', 'files', 'RETs', 'first call (builds layers)', 'median', 'p95'],
      v.materialise.map((m) => [m.label, m.files.toLocaleString('en'), m.rets, `${ms(m.firstMs)} ms`, `${ms(m.medianMs)} ms`, `${ms(m.p95Ms)} ms`]),
    ),
  );
  for (const name of ['python', 'node'] as const) {
    const row = v.rows.find((x) => x.service === name);
    if (!row) continue;
    const k = row.image ? row.closure.bytes / row.image.bytes : Number.NaN;
    targets.push({
      experiment: 'volume',
      target: `${name} closure ≤ ½ of its Docker image`,
      measured: row.image ? `${mib(row.closure.bytes)} / ${mib(row.image.bytes)} MiB = ${k.toFixed(2)}` : '–',
      met: row.image ? k <= 0.5 : undefined,
      why: name === 'node' ? 'the node binary alone is 94 MiB (V8, ICU and OpenSSL linked in); the closure is that plus npm, so it cannot drop below about half of a minbase image (126 MiB) + node' : 'see the table',
    });
  }
  const py = v.materialise[0];
  const synth = v.materialise.slice(1);
  if (py) {
    targets.push({
      experiment: 'volume',
      target: 'materialise python < 5 ms (median)',
      measured: `${ms(py.medianMs)} ms (${py.rets} RETs)`,
      met: py.medianMs < 5,
      why: `a warm call still walks the ${py.rets} RETs of the closure (see the table)`,
    });
  }
  if (synth.length > 1) {
    const lo = Math.min(...synth.map((s) => s.medianMs));
    const hi = Math.max(...synth.map((s) => s.medianMs));
    targets.push({
      experiment: 'volume',
      target: 'materialise flat as files grow',
      measured: `${synth.map((s) => `${s.files.toLocaleString('en')}: ${ms(s.medianMs)} ms`).join(', ')}`,
      met: hi <= Math.max(2 * lo, lo + 1),
    });
  }
  return out.join('\n\n');
}

function startupSection(s: StartupResult, targets: Target[], chart: Chart): string {
  const out: string[] = [`## 2. Startup: ${s.runs} sequential runs per engine`];
  out.push(
    'Each run: from the caller\'s first action to the engine being done (the program exited and, for containers, the container removed). Engines take turns run by run. Reg (engine API) = `generate → start → wait → remove` in process, as the sandbox host does; the CLI row pays a Node start-up per run. Image-based peers run the `debootstrap` tree of the same runtime.',
  );
  for (const runtime of [...new Set(s.rows.map((r) => r.runtime))]) {
    const rows = s.rows.filter((r) => r.runtime === runtime);
    const bare = rows.find((r) => r.engine === 'bare process')?.summary.median ?? Number.NaN;
    const reg = rows.find((r) => r.engine === 'Reg (engine API)')?.summary.median ?? Number.NaN;
    const cmd = runtime === 'python' ? '`python3 -c pass`' : '`node -e 0`';
    out.push(
      `### ${runtime} (${cmd})`,
      table(
        ['engine', 'mean', 'median', 'p95', 'p99', 'median vs bare', 'median vs Reg'],
        rows.map((r) => [
          r.failed ? `${r.engine} (failed: ${r.failed.slice(0, 60)})` : r.engine,
          `${ms(r.summary.mean)} ms`,
          `**${ms(r.summary.median)} ms**`,
          `${ms(r.summary.p95)} ms`,
          `${ms(r.summary.p99)} ms`,
          ratio(r.summary.median, bare),
          ratio(r.summary.median, reg),
        ]),
      ),
      chart(`startup-${runtime}.svg`, boxChart({ title: `Start-to-finish latency, ${runtime} (${s.runs} runs; box p25–p75, whiskers p5–p99)`, xLabel: 'ms (log scale)', rows: rows.map((r) => ({ label: r.engine, samples: r.samples })) })),
    );
    const docker = rows.find((r) => r.engine === 'Docker')?.summary.median ?? Number.NaN;
    const b = s.breakdowns.find((x) => x.runtime === runtime);
    const L = (k: string) => b?.launcher[k] ?? Number.NaN;
    const direct = L('launcher + command, joining its cgroups (as the engine does)');
    const cgroupJoin = direct - L('launcher + command');
    const inLauncher = L('launcher + command') - L('bare command');
    const window = b?.phases.spawnToEnd ?? Number.NaN;
    targets.push({
      experiment: 'startup',
      target: `${runtime}: Reg median ≤ 1.2× bare`,
      measured: `${ms(reg)} / ${ms(bare)} ms = ${ratio(reg, bare)}`,
      met: Number.isFinite(reg / bare) ? reg / bare <= 1.2 : undefined,
      why: [
        `of Reg's ${ms(b?.phases.total ?? NaN)} ms (median of the phase runs), ${ms(b?.phases.nodeSide ?? NaN)} ms is Node-side work outside the launcher (generate ${ms(b?.phases.generate ?? NaN)}, cgroup set-up ${ms(b?.phases.beforeSpawn ?? NaN)}, remove ${ms(b?.phases.remove ?? NaN)} ms)`,
        `the launcher + program window as the engine sees it (spawn → wait() returned, which is the launcher's exit event, before its namespace teardown) is ${ms(window)} ms; the launcher run directly to its exit, joining cgroups as the engine does, takes ${ms(direct)} ms`,
        `inside the launcher: joining the four v1 cgroups ${ms(cgroupJoin)} ms (a v1 migration waits for an RCU grace period) and namespaces, mounts and teardown ${ms(inLauncher)} ms over the bare program`,
      ].join('; '),
    });
    if (Number.isFinite(docker)) {
      targets.push({ experiment: 'startup', target: `${runtime}: Reg ≥ 10× faster than Docker`, measured: `${ms(docker)} / ${ms(reg)} ms = ${ratio(docker, reg)}`, met: docker / reg >= 10, why: `Docker here is faster than in the paper (no bridge network, a local socket); 10× would need Reg at ${ms(docker / 10)} ms — below what the bare program alone plus the v1 cgroup join take` });
    }
  }
  out.push('### Where Reg\'s start time goes', 'Medians of the in-process runs above, split by wrapping the launcher spawner (Node side) and by running the launcher binary directly with the argv the engine gave it (launcher side: without cgroups, and joining cgroups of the bench’s own in the same four v1 controllers).');
  const rtNames = s.breakdowns.map((b) => b.runtime);
  const phaseRows: Array<[string, (b: StartupResult['breakdowns'][number]) => number]> = [
    ['total (generate → removed)', (b) => b.phases.total!],
    ['Node: generate (resolve + materialise, container dir, state file)', (b) => b.phases.generate!],
    ['Node: start before spawning the launcher (refresh, cgroup create + limits, events file)', (b) => b.phases.beforeSpawn!],
    ['launcher + program as the engine sees them: spawn → wait() returned', (b) => b.phases.spawnToEnd!],
    ['  of which spawn → start() returned (command exec\'d, event noticed)', (b) => b.phases.toStarted!],
    ['Node: remove (container dir, cgroup)', (b) => b.phases.remove!],
    ['**Node side outside the launcher window** (total − window)', (b) => b.phases.nodeSide!],
    ['launcher process lifetime (spawn → exit; teardown may outlast wait())', (b) => b.phases.launcherLifetime!],
    ['launcher alone: bare program', (b) => b.launcher['bare command']!],
    ['launcher alone: launcher + program', (b) => b.launcher['launcher + command']!],
    ['launcher alone: launcher + program, joining 4 v1 cgroups as the engine does', (b) => b.launcher['launcher + command, joining its cgroups (as the engine does)']!],
    ['launcher alone: exec fails (pure set-up + teardown)', (b) => b.launcher['launcher, exec fails (setup + teardown only)']!],
    ['launcher alone: exec fails, host network (no new network namespace)', (b) => b.launcher['launcher, exec fails, host network (no new netns)']!],
    ['launcher alone: exec fails, only namespaces + overlay + pivot_root', (b) => b.launcher['launcher, exec fails, only namespaces + overlay + pivot_root']!],
    ['launcher alone: + program, closure as one flat layer', (b) => b.launcher['launcher + command, one flat lower layer']!],
    ['bare program with its bytecode ignored (python: what stale .pyc would cost)', (b) => b.launcher['bare command, bytecode ignored'] ?? Number.NaN],
  ];
  out.push(table(['phase (median)', ...rtNames.map((n) => `${n} ms`)], phaseRows.map(([label, f]) => [label, ...s.breakdowns.map((b) => ms(f(b)))])));
  if (s.pythonStaleBytecode) {
    const p = s.pythonStaleBytecode;
    out.push(`\`python3 -v -c pass\` inside Reg: ${p.fromPyc} modules loaded from their .pyc, ${p.stale} found it stale${p.stale ? ' (the store lost the sources\' mtimes: python recompiles on every start)' : ' (the store keeps the sources\' mtimes)'}.`);
  }
  return out.join('\n\n');
}

function stormSection(s: StormResult, targets: Target[], chart: Chart): string {
  const out: string[] = ['## 3. Start storm: long-lived python containers back to back'];
  out.push(
    'Each engine in turn starts N `python3 -c "import time; time.sleep(1e9)"` one after another (caches dropped before each engine). A start = until the command was exec\'d: Reg `generate + start` in process, `docker run -d` (CLI to exit), `spawn()` of a bare process. Then memory with all of them up and asleep, then teardown and a leak check.',
  );
  const first10 = (x: StormSeries) => median(x.latencies.slice(0, 10));
  out.push(
    table(
      ['engine', 'N', 'first', 'median', 'p95', 'p99', 'max', 'mean', 'p99 / first', 'p99 / median of first 10'],
      s.series.map((x) => [
        x.failed ? `${x.engine} (stopped at ${x.started}: ${x.failed.slice(0, 50)})` : x.engine,
        x.started,
        `${ms(x.latencies[0] ?? NaN)} ms`,
        `**${ms(x.summary.median)} ms**`,
        `${ms(x.summary.p95)} ms`,
        `${ms(x.summary.p99)} ms`,
        `${ms(x.summary.max)} ms`,
        `${ms(x.summary.mean)} ms`,
        ratio(x.summary.p99, x.latencies[0] ?? NaN),
        ratio(x.summary.p99, first10(x)),
      ]),
    ),
  );
  out.push(
    chart(
      'storm.svg',
      lineChart({
        title: 'Start latency by container index (dots: each start; line: rolling median of 21)',
        xLabel: 'container index',
        yLabel: 'start latency, ms (log)',
        yLog: true,
        series: s.series.map((x) => ({ name: `${x.engine} (N=${x.started})`, points: x.latencies.map((v, i): [number, number] => [i, v]), smooth: 10 })),
      }),
    ),
  );
  const bare = s.series.find((x) => x.engine === 'bare process');
  const bareNoPyc = s.series.find((x) => x.engine === BARE_NO_PYC);
  const memRows = s.series
    .filter((x) => x.memory)
    .map((x) => {
      const m = x.memory!;
      const per = (v: number) => `${mib(v / x.started)}`;
      return [
        x.engine,
        x.started,
        `${mib(m.chargedBytes)} (${per(m.chargedBytes)})`,
        `${mib(m.pss.pss)} (${per(m.pss.pss)})`,
        `${mib(m.commandPss)} (${per(m.commandPss)})`,
        `${mib(m.hostDeltaBytes)} (${per(m.hostDeltaBytes)})`,
        m.enginePss ? mib(m.enginePss.pss) : '–',
        bare?.memory && x !== bare ? pct(m.pss.pss / x.started, bare.memory.pss.pss / bare.started) : '',
        m.statsMs !== undefined ? `${ms(m.statsMs)} ms` : '–',
      ];
    });
  out.push(
    '### Memory with all containers up (MiB; per container in parentheses)',
    table(['engine', 'N', 'cgroup-charged', 'PSS, all processes', 'PSS, python only', 'host used Δ', 'engine daemons PSS', 'PSS/container vs bare', 'engine.stats() took'], memRows),
    'PSS "all processes" for Reg counts its launcher and init (two small C processes per container) besides python; engine.stats() is the dashboard\'s sampling call over all running containers.',
  );
  out.push(
    '### Teardown and leaks',
    table(
      ['engine', 'N', 'teardown', 'per container', 'how', 'leaks after teardown'],
      s.series.map((x) => [x.engine, x.started, x.teardownMs !== undefined ? `${(x.teardownMs / 1000).toFixed(2)} s` : '–', x.teardownMs !== undefined ? `${ms(x.teardownMs / Math.max(1, x.started))} ms` : '–', x.teardownHow, x.leaks.length ? x.leaks.join('; ') : 'none']),
      ['l', 'r', 'r', 'r', 'l', 'l'],
    ),
    'Leak check for Reg: no container left in the engine\'s list, no cgroup of these containers under any `reg*/` parent in any controller, none of their launcher or init pids alive, no mount under the REG_HOME in the host\'s mount table (container mounts live in their own mount namespaces and go with them).',
  );
  const reg = s.series.find((x) => x.engine === 'Reg');
  if (reg) {
    const first = reg.latencies[0] ?? NaN;
    targets.push({
      experiment: 'storm',
      target: 'Reg p99 ≤ 2× its first start',
      measured: `p99 ${ms(reg.summary.p99)} / first ${ms(first)} ms = ${ratio(reg.summary.p99, first)} (vs median of first 10: ${ratio(reg.summary.p99, first10(reg))})`,
      met: reg.summary.p99 <= 2 * first,
      why: (() => {
        const tenth = Math.max(1, Math.floor(reg.latencies.length / 10));
        const head = median(reg.latencies.slice(0, tenth));
        const tail = median(reg.latencies.slice(-tenth));
        return `the first start is cold (page cache just dropped); the median start goes from ${ms(head)} ms over the first tenth to ${ms(tail)} ms over the last tenth (${ratio(tail, head)}), the p99 is the noisiest few starts of the shared machine`;
      })(),
    });
    if (bare?.memory && reg.memory) {
      const k = reg.memory.pss.pss / reg.started / (bare.memory.pss.pss / bare.started);
      const noPyc = bareNoPyc?.memory ? `; against bare python with its .pyc ignored: ${pct(reg.memory.pss.pss / reg.started, bareNoPyc.memory.pss.pss / bareNoPyc.started)} (python alone ${pct(reg.memory.commandPss / reg.started, bareNoPyc.memory.commandPss / bareNoPyc.started)})` : '';
      targets.push({
        experiment: 'storm',
        target: 'Reg PSS within 5% of bare processes',
        measured: `${mib(reg.memory.pss.pss / reg.started)} vs ${mib(bare.memory.pss.pss / bare.started)} MiB per container (${pct(k, 1)}); python alone ${pct(reg.memory.commandPss / reg.started, bare.memory.commandPss / bare.started)}${noPyc}`,
        met: k <= 1.05,
        why: `per container: PSS of Reg's python ${mib(reg.memory.commandPss / reg.started)} MiB against bare ${mib(bare.memory.commandPss / bare.started)} MiB${bareNoPyc?.memory ? ` (bare with its .pyc ignored: ${mib(bareNoPyc.memory.commandPss / bareNoPyc.started)})` : ''}; Reg's launcher and init add ${mib((reg.memory.pss.pss - reg.memory.commandPss) / reg.started)} MiB; bare python shares libc and its own binary's pages with every other python on the host`,
      });
    }
    const leaks = s.series.flatMap((x) => x.leaks.map((l) => `${x.engine}: ${l}`));
    targets.push({ experiment: 'storm', target: 'nothing leaks after teardown', measured: leaks.length ? leaks.join('; ') : 'no container, cgroup, process or mount left', met: leaks.length === 0 });
  }
  return out.join('\n\n');
}

function mixedSection(mx: MixedResult, targets: Target[], chart: Chart): string {
  const out: string[] = ['## 4. Mixed services: memory as they are started one by one (the paper\'s figure 12)'];
  out.push(
    `Order (the paper's section 5): ${mx.order.join(' → ')}. After each start: the service listens on its port, ${mx.settleMs / 1000} s settle, caches dropped, then memory is read. Same command lines, same unprivileged uid (${BENCH_UID}), same JVM heap flags in every engine; each engine starts from a fresh baseline and everything is stopped before the next.`,
  );
  const steps = mx.order;
  const series = mx.series.filter((s) => s.steps.length);
  const bare = series.find((s) => s.engine.startsWith('bare'));
  for (const [key, label] of [
    ['chargedBytes', 'cgroup-charged memory'],
    ['pss', 'PSS of the service processes'],
    ['hostDeltaBytes', 'host used Δ (MemTotal − MemFree; moved by other work on the machine)'],
  ] as const) {
    const val = (st: MixedResult['series'][number]['steps'][number]) => (key === 'pss' ? st.pss.pss : st[key]);
    out.push(
      `### ${label} (MiB) after each start`,
      table(
        ['engine', ...steps.map((s, i) => (i === 0 ? s : `+${s}`)), 'last vs bare'],
        series.map((s) => {
          const last = s.steps[s.steps.length - 1];
          const bl = bare?.steps[s.steps.length - 1];
          // A percentage of the host figure would mostly measure the noise (see "How memory is measured").
          const vs = key === 'hostDeltaBytes' ? '–' : last && bl && s !== bare ? pct(val(last), val(bl)) : '';
          return [s.failed ? `${s.engine} (failed: ${s.failed.slice(0, 50)})` : s.engine, ...steps.map((_, i) => (s.steps[i] ? mib(val(s.steps[i]!)) : '–')), vs];
        }),
      ),
      chart(
        `mixed-${key}.svg`,
        lineChart({
          title: `Mixed services: ${label}`,
          xLabel: 'services running',
          yLabel: 'MiB',
          xTicks: steps.map((s, i): [number, string] => [i + 1, i === 0 ? s : `+${s}`]),
          series: series.map((s) => ({ name: s.engine, points: s.steps.map((st, i): [number, number] => [i + 1, val(st) / MiB]) })),
        }),
      ),
    );
  }
  const docker = series.find((s) => s.engine === 'Docker');
  if (docker?.steps.some((s) => s.enginePss)) {
    out.push(`Docker's own daemons (dockerd, containerd, one shim per container) had a PSS of ${docker.steps.map((s) => mib(s.enginePss?.pss ?? NaN)).join(' → ')} MiB over the steps; they are part of the charged and host figures, not of the PSS row.`);
  }
  const reg = series.find((s) => s.engine === 'Reg');
  const n = steps.length;
  if (reg && bare && reg.steps.length === n && bare.steps.length === n) {
    const r = reg.steps[n - 1]!;
    const b = bare.steps[n - 1]!;
    const k = r.chargedBytes / b.chargedBytes;
    targets.push({
      experiment: 'mixed',
      target: 'Reg within 3% of bare (all five up)',
      measured: `charged ${mib(r.chargedBytes)} vs ${mib(b.chargedBytes)} MiB (${pct(r.chargedBytes, b.chargedBytes)}); PSS ${pct(r.pss.pss, b.pss.pss)}`,
      met: k <= 1.03,
      why: 'bare services share their binaries\' and libraries\' pages with the rest of the host (the bench itself is a node process; libc, libssl, libstdc++ are mapped by everything), so those pages are neither charged to them nor fully in their PSS; Reg\'s services map the store\'s own copies — one copy per host, charged to the first container that maps it (node\'s 94 MiB binary is the big one); and each container has a launcher and an init. The storm shows the per-container cost once the copies are shared',
    });
    if (docker && docker.steps.length === n) {
      const d = docker.steps[n - 1]!;
      targets.push({ experiment: 'mixed', target: 'Docker\'s overhead shown beside it', measured: `Docker charged ${pct(d.chargedBytes, b.chargedBytes)} over bare, PSS ${pct(d.pss.pss, b.pss.pss)}`, met: true });
      targets.push({ experiment: 'mixed', target: 'Reg uses less than Docker', measured: `charged ${mib(r.chargedBytes)} vs ${mib(d.chargedBytes)} MiB (${pct(r.chargedBytes, d.chargedBytes)}); PSS ${pct(r.pss.pss, d.pss.pss)}`, met: r.chargedBytes < d.chargedBytes && r.pss.pss < d.pss.pss });
    }
  }
  return out.join('\n\n');
}

function methodsSection(): string {
  return `## How it was measured

- **Peers.** Docker = Debian's docker.io with a private dockerd (\`--bridge=none --iptables=false\`, data/exec root, pid file and socket in a temp dir, its own cgroup parent), containers \`--network none\`. Images: \`debootstrap --variant=minbase bookworm\` + the runtime's Debian packages installed in a chroot (python3, nginx, mariadb-server, tomcat10), apt lists and caches removed, \`docker import\`ed as one layer each. The host's node is NodeSource's 20.x, so the node image gets the host's \`/usr/bin/node\` and npm copied in (the same files as the Reg RET) instead of Debian's 18.x. crun and runc run an OCI bundle of the same tree (pid, mount, ipc, uts, network and cgroup namespaces; read-only root; tmpfs /tmp; uid ${BENCH_UID}; memory and pids limits), bubblewrap the same tree with \`--unshare-all\` (a user namespace; no cgroup limits, no seccomp). Reg: the engine in process over a REG_HOME in a temp dir (overlay of the RET layers, pid/mnt/ipc/uts/net/cgroup namespaces, cgroup limits, its own uid, seccomp).
- **Reg with sharing off.** After \`engine.generate()\`, the bench copies each lower layer with \`cp -a\` (new inodes: nothing shared with the store or another container) and rewrites \`lowerdirs\` in \`$REG_HOME/containers/<id>/state.json\` before \`engine.start()\`. The copy (and a \`sync\`) is not timed — it stands for an image pulled beforehand.
- **Clean environment.** Every measured command gets the same small environment (PATH, LANG, HOME) a container gets: the bench's own environment carries \`NODE_EXTRA_CA_CERTS\`, which makes every node parse a CA bundle at start-up (+30 ms).
- **How memory is measured.** Three figures, each after \`sync; echo 3 > /proc/sys/vm/drop_caches\` (so only what processes map or hold remains):
  - *cgroup-charged*: Σ \`memory.usage_in_bytes\` of the cgroups the engine's processes run in — Reg's container cgroups; Docker's container cgroups plus the growth of the cgroup the bench started dockerd in (dockerd, containerd, shims); a cgroup of the bench's own for bare processes. Includes page cache and kernel objects; a shared page is charged once, to the group that touched it first. Other people's work on the machine does not move it.
  - *PSS*: Σ Pss of \`/proc/PID/smaps_rollup\` of the processes (Reg: \`engine.stats()\`, launcher and init included); a page shared by k processes counts 1/k to each.
  - *host used Δ*: MemTotal − MemFree minus the same before the first start of that engine. Everything, but machine-wide: on this shared machine other sessions' builds and tests move it by hundreds of MiB, so read it only when it agrees with the others.
- **Timing.** \`performance.now()\` in the bench process around each operation; commands are spawned with no stdio. Medians and ratios are what the targets use.
`;
}

function consoleSummary(r: BenchResults, targets: Target[]): string {
  const lines: string[] = [];
  if (r.startup) {
    const rows = r.startup.rows.map((x) => [`${x.runtime}: ${x.engine}`, ms(x.summary.median), ms(x.summary.p95), ms(x.summary.p99), ms(x.summary.mean)]);
    lines.push('Startup (ms)', textTable(['engine', 'median', 'p95', 'p99', 'mean'], rows), '');
  }
  if (r.cli) {
    lines.push('The reg command, process start to exit (ms)', textTable(['command', 'median', 'p90'], r.cli.rows.map((x) => [x.command.length > 60 ? `${x.command.slice(0, 57)}...` : x.command, ms(x.summary.median), ms(x.p90)])), '');
  }
  if (r.storm) {
    const rows = r.storm.series.map((x) => [x.engine, String(x.started), ms(x.latencies[0] ?? NaN), ms(x.summary.median), ms(x.summary.p99), x.memory ? mib(x.memory.pss.pss / x.started) : '–', x.memory ? mib(x.memory.chargedBytes / x.started) : '–', x.leaks.length ? 'LEAKS' : 'none']);
    lines.push('Storm', textTable(['engine', 'N', 'first ms', 'median ms', 'p99 ms', 'PSS MiB/ctr', 'charged MiB/ctr', 'leaks'], rows), '');
  }
  if (r.mixed) {
    const rows = r.mixed.series.map((s) => {
      const last = s.steps[s.steps.length - 1];
      return [s.engine, String(s.steps.length), last ? mib(last.chargedBytes) : '–', last ? mib(last.pss.pss) : '–', last ? mib(last.hostDeltaBytes) : '–'];
    });
    lines.push('Mixed services (MiB with all started)', textTable(['engine', 'services', 'charged', 'PSS', 'host Δ'], rows), '');
  }
  if (r.volume) {
    const rows = r.volume.rows.map((x) => [x.service, mib(x.closure.bytes), x.image ? mib(x.image.bytes) : '–', x.image ? ratio(x.closure.bytes, x.image.bytes) : '–']);
    lines.push('Volume (MiB)', textTable(['service', 'Reg closure', 'Docker image', 'ratio'], rows), '');
  }
  lines.push('Targets', textTable(['target', 'measured', 'result'], targets.map((t) => [t.target, t.measured.length > 70 ? `${t.measured.slice(0, 67)}...` : t.measured, t.met === undefined ? '-' : t.met ? 'met' : 'MISSED'])));
  if (r.errors.length) lines.push('', `Errors: ${r.errors.length} (see the report)`);
  return lines.join('\n');
}
