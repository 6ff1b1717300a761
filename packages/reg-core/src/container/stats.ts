// Memory of running containers, from smaps_rollup of every process in their cgroups, plus what
// the cgroup itself counts (page cache included) and its OOM kills.
//
// At scale (thousands of idle containers) smaps_rollup is the cost: the kernel walks each
// process's page tables, 0.5–2 ms per process on a busy host. So a container's smaps figures are
// kept between calls and read again only when its cgroup says something changed (charged bytes or
// process count differ) or they are older than STATS_MAX_AGE_MS (a bounded number per call, oldest
// first: PSS drifts as other containers come and go even when this one is idle). Listing uses the
// cached state files and a synchronous pid check; cgroup files are read synchronously (cgroupfs.ts).

import { accountContainers, readHostUsedBytes } from '../memory/accounting.js';
import { type MemoryFigures, addFigures, zeroFigures } from '../memory/smaps.js';
import { forEachBounded } from '../cgroup/kill-loop.js';
import type { HostMemory } from '../memory/accounting.js';
import { cgroupName, type EngineContext } from './context.js';
import { isSameProcessSync } from './proc.js';
import { refresh } from './refresh.js';
import { listStates, type ContainerState } from './state.js';
import { tracer } from './trace.js';

export interface ContainerStats {
  id: string;
  name?: string;
  ret: string;
  pids: number;
  rss: number;
  pss: number;
  uss: number;
  shared: number;
  cgroupMemoryBytes: number;
  oomKills: number;
}

export interface HostStats {
  containers: ContainerStats[];
  total: HostMemory['total'];
  savedBySharing: number;
  hostUsedBytes: number;
}

/** smaps figures older than this are read again even if the container looks unchanged. */
export const STATS_MAX_AGE_MS = 60_000;
/** At most this many unchanged-but-old containers are re-read per call (the rest next time). */
const STALE_REFRESH_PER_CALL = 200;

interface Measured {
  /** cgroup charge and process count when measured: the cheap "did anything change" check. */
  key: string;
  pids: number;
  figures: MemoryFigures;
  at: number;
}

const measuredByCtx = new WeakMap<EngineContext, Map<string, Measured>>();

export async function stats(ctx: EngineContext): Promise<HostStats> {
  const trace = tracer('stats');
  let measured = measuredByCtx.get(ctx);
  if (!measured) measuredByCtx.set(ctx, (measured = new Map()));

  const running: ContainerState[] = [];
  for (const s of await listStates(ctx.home, { trustCached: true })) {
    if (s.status !== 'running' && s.status !== 'inserting') continue;
    if (isSameProcessSync(s.initPid, s.initStartTime)) {
      running.push(s);
      continue;
    }
    // Its pid 1 is gone: refresh finalises it (Stopped, cgroup recycled).
    const r = await refresh(ctx, s.id).catch(() => s);
    if (r.status === 'running' || r.status === 'inserting') running.push(r);
  }
  trace(`states (${running.length} running)`);

  const cgroupStats = new Map<string, { memoryBytes: number; oomKills: number; pids: number }>();
  await forEachBounded(running, 32, async (s) => {
    cgroupStats.set(s.id, await ctx.cgroups.stats(cgroupName(s.id)).catch(() => ({ memoryBytes: 0, oomKills: 0, pids: 0 })));
  });
  trace('cgroup stats');

  const now = Date.now();
  const toMeasure: ContainerState[] = [];
  const stale: ContainerState[] = [];
  for (const s of running) {
    const cg = cgroupStats.get(s.id)!;
    const m = measured.get(s.id);
    if (!m || m.key !== `${cg.memoryBytes}:${cg.pids}`) toMeasure.push(s);
    else if (now - m.at > STATS_MAX_AGE_MS) stale.push(s);
  }
  stale.sort((a, b) => measured!.get(a.id)!.at - measured!.get(b.id)!.at);
  toMeasure.push(...stale.slice(0, STALE_REFRESH_PER_CALL));

  const withPids = await Promise.all(toMeasure.map(async (s) => ({ id: s.id, pids: await ctx.cgroups.pids(cgroupName(s.id)).catch(() => [] as number[]) })));
  trace(`pids (${toMeasure.length} to measure)`);
  const [fresh, hostUsedBytes] = await Promise.all([accountContainers(withPids), readHostUsedBytes()]);
  for (const c of fresh.containers) {
    const cg = cgroupStats.get(c.id)!;
    measured.set(c.id, { key: `${cg.memoryBytes}:${cg.pids}`, pids: c.pids, figures: c.figures, at: now });
  }
  trace(`smaps_rollup (${withPids.reduce((n, w) => n + w.pids.length, 0)} processes)`);

  const live = new Set(running.map((s) => s.id));
  for (const id of measured.keys()) if (!live.has(id)) measured.delete(id);

  const total = zeroFigures();
  const containers: ContainerStats[] = running.map((s) => {
    const m = measured!.get(s.id);
    const f = m?.figures ?? zeroFigures();
    addFigures(total, f);
    const cg = cgroupStats.get(s.id)!;
    return {
      id: s.id,
      ...(s.name && { name: s.name }),
      ret: s.ret,
      pids: m?.pids ?? 0,
      rss: f.rss,
      pss: f.pss,
      uss: f.uss,
      shared: f.shared,
      cgroupMemoryBytes: cg.memoryBytes,
      oomKills: cg.oomKills,
    };
  });
  return { containers, total, savedBySharing: total.rss - total.pss, hostUsedBytes };
}
