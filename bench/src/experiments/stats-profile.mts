// Profiling aid for engine.stats(): N idle python containers, then stats() with REG_TRACE=1 phases.
// REG_TRACE=1 node --import tsx bench/src/experiments/stats-profile.mts N
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, buildFromHost, regHome } from '../reg-core.js';
const root = await mkdtemp(join(tmpdir(), 'reg-statsprof-'));
const engine = await Engine.open({ home: regHome(root) });
const ids: string[] = [];
try {
  const r = await buildFromHost(engine.home, '/usr/bin/python3.11');
  const ref = `${r.runtime.name}@${r.runtime.version}`;
  const n = Number(process.argv[2] ?? 100);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const s = await engine.generate({ ret: ref, command: ['/usr/bin/python3.11', '-c', 'import time; time.sleep(3600)'] }); ids.push(s.id); await engine.start(s.id); }
  console.log(`started ${n} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await new Promise((res) => setTimeout(res, 2000));
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    const st = await engine.stats();
    console.log(`stats() over ${st.containers.length}: ${(performance.now() - t).toFixed(0)} ms`);
  }
} finally {
  await engine.removeMany(ids, { force: true });
  await engine.disposeCgroupParent();
  await rm(root, { recursive: true, force: true });
}
