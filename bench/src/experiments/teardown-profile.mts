// Profiling aid for the teardown path: N sleeping containers, then removeMany with REG_TRACE=1 phases.
// REG_TRACE=1 node --import tsx bench/src/experiments/teardown-profile.mts N
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, buildFromHost, regHome } from '../reg-core.js';
const root = await mkdtemp(join(tmpdir(), 'reg-tdprof-'));
const engine = await Engine.open({ home: regHome(root) });
try {
  const r = await buildFromHost(engine.home, '/usr/bin/sleep');
  const ref = `${r.runtime.name}@${r.runtime.version}`;
  const ids: string[] = [];
  const n = Number(process.argv[2] ?? 100);
  for (let i = 0; i < n; i++) { const s = await engine.generate({ ret: ref, command: ['/usr/bin/sleep', '3600'] }); ids.push(s.id); await engine.start(s.id); }
  await new Promise((res) => setTimeout(res, 1000));
  const t = performance.now();
  const out = await engine.removeMany(ids, { force: true });
  console.log(`removeMany(${n}) ${(performance.now() - t).toFixed(0)} ms, failed ${out.failed.length}`);
} finally {
  await engine.disposeCgroupParent();
  await rm(root, { recursive: true, force: true });
}
