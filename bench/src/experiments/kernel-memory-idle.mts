// What an idle pooled cgroup costs the kernel: SUnreclaim and the memory cgroup count before and
// after reserve(N) (then drained). One number per member; the machine is shared, so read it as
// an order of magnitude.   node --import tsx bench/src/experiments/kernel-memory-idle.mts [N]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, regHome } from '../reg-core.js';

const sample = async () => {
  const c = await readFile('/proc/cgroups', 'utf8');
  const m = await readFile('/proc/meminfo', 'utf8');
  return { memcgs: Number(/^memory\s+\d+\s+(\d+)/m.exec(c)?.[1]), sunreclaimKiB: Number(/^SUnreclaim:\s+(\d+)/m.exec(m)?.[1]) };
};
const n = Number(process.argv[2] ?? 1000);
const root = await mkdtemp(join(tmpdir(), 'reg-kmem-idle-'));
const engine = await Engine.open({ home: regHome(root) });
try {
  const before = await sample();
  const t = performance.now();
  await engine.ctx.cgroups.reserve!(n);
  const ms = performance.now() - t;
  await new Promise((r) => setTimeout(r, 1000));
  const after = await sample();
  const kib = (after.sunreclaimKiB - before.sunreclaimKiB) / n;
  console.log(`reserve(${n}) in ${ms.toFixed(0)} ms: memory cgroups ${before.memcgs} → ${after.memcgs}, SUnreclaim ${before.sunreclaimKiB} → ${after.sunreclaimKiB} KiB (${kib.toFixed(1)} KiB per idle member, all v1 controllers)`);
  // Then rmdir them all, as a pool-less engine does per container: do the memcgs go away?
  await engine.disposeCgroupParent();
  for (const waitS of [1, 10]) {
    await new Promise((r) => setTimeout(r, waitS * 1000));
    const later = await sample();
    console.log(`  ${waitS} s after rmdir of all ${n}: memory cgroups ${later.memcgs} (${later.memcgs - before.memcgs >= 0 ? '+' : ''}${later.memcgs - before.memcgs} vs before), SUnreclaim ${later.sunreclaimKiB} KiB (${((later.sunreclaimKiB - before.sunreclaimKiB) / 1024).toFixed(1)} MiB vs before)`);
  }
} finally {
  await engine.disposeCgroupParent();
  await rm(root, { recursive: true, force: true });
}
