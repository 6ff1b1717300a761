// The cost of watching: N running containers (idle python interpreters, detached), the admin
// dashboard's sampler taking a snapshot every 2 s (what a watching admin causes), measured as CPU
// of the host process (user + system: smaps_rollup reads are kernel time) per wall second, and
// milliseconds per snapshot; plus engine.stats() alone; then watched on the monitor's own
// schedule (2 s, stretched to stay within its CPU budget of 5% of one core). Usage: npx tsx bench/admin-watch.ts [N] [samples]

import { ensurePythonRet, startTestHost, tempRegHome } from '../apps/sandbox-host/src/test-support/host-fixture.js';

const N = Number(process.argv[2] ?? 200);
const SAMPLES = Number(process.argv[3] ?? 20);
const PERIOD_MS = 2000;
const WATCH_MS = 40_000;

const home = await tempRegHome();
await ensurePythonRet(home.dir);
const host = await startTestHost(home.dir);
const ids: string[] = [];
try {
  const t0 = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < N) {
        next++;
        const s = await host.engine.generate({ ret: 'python@3.11', command: ['python3', '-c', 'import time\ntime.sleep(86400)'], tty: false });
        ids.push(s.id);
        await host.engine.start(s.id);
      }
    }),
  );
  console.error(`${N} containers running in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 3000));
  await host.monitor.sample(); // warm (store stats, prepared statements)

  const stats: number[] = [];
  for (let i = 0; i < 5; i++) {
    const a = performance.now();
    await host.engine.stats();
    stats.push(performance.now() - a);
  }

  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < SAMPLES; i++) {
    const a = performance.now();
    const snap = await host.monitor.sample();
    times.push(performance.now() - a);
    if (snap.containers.length < N) console.error(`sample ${i}: only ${snap.containers.length} containers`);
    await new Promise((r) => setTimeout(r, Math.max(0, PERIOD_MS - (performance.now() - a))));
  }
  const wall = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);

  // Watched as the dashboard watches: the monitor's own schedule, CPU budget included.
  let got = 0;
  const wcpu0 = process.cpuUsage();
  const ww0 = performance.now();
  const unwatch = host.monitor.watch(() => got++);
  host.monitor.start();
  await new Promise((r) => setTimeout(r, WATCH_MS));
  unwatch();
  host.monitor.stop();
  const wwall = performance.now() - ww0;
  const wcpu = process.cpuUsage(wcpu0);
  const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const result = {
    containers: N,
    samples: SAMPLES,
    periodMs: PERIOD_MS,
    cpuPercentOfOneCore: Math.round(((cpu.user + cpu.system) / 1000 / wall) * 1000) / 10,
    userMs: Math.round(cpu.user / 1000),
    systemMs: Math.round(cpu.system / 1000),
    snapshotMsMedian: Math.round(med(times) * 10) / 10,
    snapshotMsMax: Math.round(Math.max(...times) * 10) / 10,
    engineStatsMsMedian: Math.round(med(stats) * 10) / 10,
    engineStatsUsPerContainer: Math.round((med(stats) / N) * 1000),
    watched: { seconds: Math.round(wwall / 1000), snapshots: got, meanPeriodMs: Math.round(wwall / Math.max(1, got)), cpuPercentOfOneCore: Math.round(((wcpu.user + wcpu.system) / 1000 / wwall) * 1000) / 10, periodMsNow: host.monitor.periodMs },
  };
  console.log(JSON.stringify(result));
} finally {
  await Promise.all(ids.map((id) => host.engine.remove(id, { force: true }).catch(() => {})));
  await host.close();
  await home.cleanup();
}
