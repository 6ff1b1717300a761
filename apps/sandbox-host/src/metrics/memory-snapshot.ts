// Every figure of the memory dashboard, computed by this one pure function from what was read
// (engine stats from smaps_rollup, /proc/meminfo, PSI, the store, the database's names). The
// page, the /metrics endpoint and the tests all use it, so a number means the same everywhere
// (house style 23). Definitions, also shown on the page:
//
// - RSS, PSS, USS, shared: Σ over a container's processes of smaps_rollup's Rss, Pss,
//   Private_Clean+Private_Dirty, Shared_Clean+Shared_Dirty.
// - saved by sharing = Σ RSS − Σ PSS over the running containers. RSS counts a page once for
//   every process that maps it, as if each had its own copy (what separately built images give:
//   the same libpython in ten images is ten sets of pages); PSS divides each page among the
//   processes that map it, so Σ PSS is what they occupy. Pages shared with processes outside the
//   containers lower PSS too, so the figure is an upper bound of the saving among containers; a
//   container whose own processes share pages (a shell and its python) counts that sharing too.
// - reconcile: host used (MemTotal − MemAvailable) = Σ PSS of containers + this host process's
//   RSS + other (the web app, the kernel's unreclaimable memory, every other process). Page cache
//   is not in "used": the kernel reclaims it on demand; it is shown beside.
// - capacity for a RET = ⌊ available ÷ mean USS of its running containers ⌋: an idle container's
//   private memory is what another one adds; its shared pages are already resident.

import type { HostStats, StoreStats } from '@reg/core';
import type { DashboardAlert, MemoryContainer, MemoryGroup, MemorySnapshot } from '@reg/protocol';
import type { Meminfo, Psi } from './host-memory.js';

export interface ContainerMeta {
  user: string | null;
  userId: string | null;
  class: string | null;
  classId: string | null;
  limitBytes: number | null;
}

export interface SnapshotInputs {
  at: Date;
  sampleMs: number;
  everyMs: number;
  meminfo: Meminfo;
  psi: Psi | null;
  engine: HostStats;
  meta: Map<string, ContainerMeta>;
  regHostRss: number;
  store: (StoreStats & { diskTotal: number; diskFree: number }) | null;
  failedClassRuns: Array<{ classId: string; className: string; failed: number; status: string }>;
}

export const ALERT_THRESHOLDS = {
  /** A container's cgroup memory at or above this share of its limit. */
  nearLimit: 0.9,
  /** PSI "some" avg10 (% of time some task stalled on memory) at or above this. */
  psiSomeAvg10: 10,
  /** Available below this share of total. */
  lowAvailable: 0.1,
  /** Free space of the store's filesystem below this share. */
  storeDiskFree: 0.1,
};

export function memorySnapshot(i: SnapshotInputs): MemorySnapshot {
  const m = i.meminfo;
  const hostUsed = Math.max(0, m.total - m.available);
  const containers: MemoryContainer[] = i.engine.containers.map((c) => {
    const meta = i.meta.get(c.id);
    const limit = meta?.limitBytes ?? null;
    return {
      id: c.id,
      user: meta?.user ?? null,
      userId: meta?.userId ?? null,
      class: meta?.class ?? null,
      classId: meta?.classId ?? null,
      ret: c.ret,
      pids: c.pids,
      rss: c.rss,
      pss: c.pss,
      uss: c.uss,
      shared: c.shared,
      cgroupBytes: c.cgroupMemoryBytes,
      limitBytes: limit,
      limitUse: limit ? c.cgroupMemoryBytes / limit : null,
      oomKills: c.oomKills,
    };
  });
  const totals = { rss: 0, pss: 0, uss: 0, shared: 0, containers: containers.length };
  for (const c of containers) {
    totals.rss += c.rss;
    totals.pss += c.pss;
    totals.uss += c.uss;
    totals.shared += c.shared;
  }
  const group = (key: (c: MemoryContainer) => string, label: (c: MemoryContainer) => string): MemoryGroup[] => {
    const g = new Map<string, MemoryGroup>();
    for (const c of containers) {
      const k = key(c);
      const e = g.get(k) ?? { key: k, label: label(c), containers: 0, rss: 0, pss: 0, uss: 0, shared: 0 };
      e.containers++;
      e.rss += c.rss;
      e.pss += c.pss;
      e.uss += c.uss;
      e.shared += c.shared;
      g.set(k, e);
    }
    return [...g.values()].sort((a, b) => b.pss - a.pss);
  };
  const byRet = group((c) => c.ret, (c) => c.ret);
  const capacity = byRet
    .filter((r) => r.uss > 0)
    .map((r) => {
      const perContainerUss = r.uss / r.containers;
      return { ret: r.key, perContainerUss: Math.round(perContainerUss), measuredOn: r.containers, fits: Math.floor(m.available / perContainerUss) };
    });

  const alerts: DashboardAlert[] = [];
  for (const c of containers) {
    if (c.limitUse !== null && c.limitUse >= ALERT_THRESHOLDS.nearLimit) {
      alerts.push({ kind: 'near-limit', severity: c.limitUse >= 0.98 ? 'critical' : 'warning', target: c.id, message: `container ${c.id}${c.user ? ` (${c.user})` : ''} uses ${Math.round(c.limitUse * 100)}% of its memory limit` });
    }
  }
  if (i.psi && i.psi.some.avg10 >= ALERT_THRESHOLDS.psiSomeAvg10) {
    alerts.push({ kind: 'host-pressure', severity: i.psi.some.avg10 >= 4 * ALERT_THRESHOLDS.psiSomeAvg10 ? 'critical' : 'warning', message: `memory pressure: some task stalled on memory ${i.psi.some.avg10.toFixed(1)}% of the last 10 s` });
  }
  if (m.total > 0 && m.available / m.total < ALERT_THRESHOLDS.lowAvailable) {
    alerts.push({ kind: 'host-low-memory', severity: m.available / m.total < 0.05 ? 'critical' : 'warning', message: `only ${Math.round((m.available / m.total) * 100)}% of the host's memory is available` });
  }
  if (i.store && i.store.diskTotal > 0 && i.store.diskFree / i.store.diskTotal < ALERT_THRESHOLDS.storeDiskFree) {
    alerts.push({ kind: 'store-disk', severity: i.store.diskFree / i.store.diskTotal < 0.03 ? 'critical' : 'warning', message: `the store's disk is ${Math.round((1 - i.store.diskFree / i.store.diskTotal) * 100)}% full` });
  }
  for (const r of i.failedClassRuns) {
    alerts.push({ kind: 'class-start-failed', severity: r.status === 'failed' ? 'critical' : 'warning', target: r.classId, message: r.status === 'failed' ? `starting class ${r.className} failed` : `starting class ${r.className}: ${r.failed} student(s) could not be started` });
  }

  return {
    at: i.at.toISOString(),
    sampleMs: Math.round(i.sampleMs * 10) / 10,
    everyMs: i.everyMs,
    host: {
      total: m.total,
      used: hostUsed,
      available: m.available,
      free: m.free,
      pageCache: m.pageCache,
      swapTotal: m.swapTotal,
      swapUsed: Math.max(0, m.swapTotal - m.swapFree),
      psi: i.psi,
    },
    reconcile: { hostUsed, containersPss: totals.pss, regHostRss: i.regHostRss, other: hostUsed - totals.pss - i.regHostRss },
    totals,
    sharing: { withoutSharing: totals.rss, withSharing: totals.pss, saved: totals.rss - totals.pss },
    containers: containers.sort((a, b) => b.pss - a.pss),
    byUser: group((c) => c.userId ?? '(admin)', (c) => c.user ?? '(admin)'),
    byClass: group((c) => c.classId ?? '(no class)', (c) => c.class ?? '(no class)'),
    byRet,
    capacity,
    store: i.store
      ? {
          rets: i.store.rets,
          blobs: i.store.blobs,
          bytes: i.store.bytes,
          logicalBytes: i.store.logicalBytes,
          savedBytes: i.store.savedBytes,
          diskTotal: i.store.diskTotal,
          diskFree: i.store.diskFree,
          closures: i.store.closures,
          shared: i.store.shared.slice(0, 20),
        }
      : null,
    alerts,
  };
}
