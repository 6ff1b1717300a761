// Memory of running containers, from smaps_rollup of every process in their cgroups, plus what
// the cgroup itself counts (page cache included) and its OOM kills.

import { accountContainers, type HostMemory } from '../memory/accounting.js';
import { cgroupName, type EngineContext } from './context.js';
import { refresh } from './refresh.js';
import { listStates } from './state.js';

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

export async function stats(ctx: EngineContext): Promise<HostStats> {
  const running = [];
  for (const s of await listStates(ctx.home)) {
    const r = s.status === 'running' || s.status === 'inserting' ? await refresh(ctx, s.id) : s;
    if (r.status === 'running' || r.status === 'inserting') running.push(r);
  }
  const withPids = await Promise.all(running.map(async (s) => ({ s, pids: await ctx.cgroups.pids(cgroupName(s.id)).catch(() => [] as number[]) })));
  const mem = await accountContainers(withPids.map(({ s, pids }) => ({ id: s.id, pids })));
  const byId = new Map(mem.containers.map((c) => [c.id, c]));
  const containers: ContainerStats[] = [];
  for (const { s } of withPids) {
    const m = byId.get(s.id);
    const cg = await ctx.cgroups.stats(cgroupName(s.id)).catch(() => ({ memoryBytes: 0, oomKills: 0 }));
    containers.push({
      id: s.id,
      ...(s.name && { name: s.name }),
      ret: s.ret,
      pids: m?.pids ?? 0,
      rss: m?.figures.rss ?? 0,
      pss: m?.figures.pss ?? 0,
      uss: m?.figures.uss ?? 0,
      shared: m?.figures.shared ?? 0,
      cgroupMemoryBytes: cg.memoryBytes,
      oomKills: cg.oomKills,
    });
  }
  return { containers, total: mem.total, savedBySharing: mem.savedBySharing, hostUsedBytes: mem.hostUsedBytes };
}
