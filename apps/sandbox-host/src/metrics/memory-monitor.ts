// The live memory monitor: takes a snapshot (metrics/memory-snapshot.ts) every `everyMs` while
// anyone watches (a dashboard socket) and at least once a minute for the history; hands each one
// to its listeners; keeps the raw samples of the last `rawKeepMs` in memory; writes one rollup row
// a minute (averages) and folds them into ten-minute rows; prunes rows past their retention.
// A /metrics scrape takes a fresh snapshot unless one is younger than `everyMs`.

import { statfs } from 'node:fs/promises';
import { storeStats, type Engine, type StoreStats } from '@reg/core';
import type { HistoryPoint, MemorySnapshot } from '@reg/protocol';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import { readMeminfo, readPsi } from './host-memory.js';
import { memorySnapshot, type ContainerMeta } from './memory-snapshot.js';

export const RETENTION = { rawMs: 15 * 60_000, minuteMs: 24 * 3600_000, tenMinuteMs: 30 * 24 * 3600_000 };
const STORE_EVERY_MS = 60_000;

/** The most a snapshot's CPU cost may stretch the watched period (× everyMs). */
const MAX_STRETCH = 4;

export interface MemoryMonitorOptions {
  everyMs: number;
  rawKeepMs?: number;
  /**
   * The share of one core watching may take (default 0.05): when a snapshot costs more CPU than
   * everyMs × budget (thousands of containers), the next one waits longer (at most 4 × everyMs,
   * so the figures are never staler than that), so a watching admin costs the students little.
   * The page shows the actual sampling time.
   */
  cpuBudget?: number;
}

export class MemoryMonitor {
  private timer: NodeJS.Timeout | undefined;
  private latest: MemorySnapshot | undefined;
  private taking: Promise<MemorySnapshot> | undefined;
  private readonly listeners = new Set<(s: MemorySnapshot) => void>();
  private readonly raw: HistoryPoint[] = [];
  private minute: { bucket: number; points: HistoryPoint[] } | undefined;
  private store: { at: number; value: (StoreStats & { diskTotal: number; diskFree: number }) | null } | undefined;
  private watchers = 0;
  private readonly limits = new Map<string, number | null>();
  /** The watched sampling period: everyMs, stretched when a snapshot's CPU exceeds the budget. */
  periodMs: number;
  private lastTick = 0;

  constructor(
    private readonly engine: Engine,
    private readonly db: Db,
    private readonly opts: MemoryMonitorOptions,
    private readonly log: Log,
  ) {
    this.periodMs = opts.everyMs;
  }

  start(): void {
    // One tick a second decides: sample now if watched and due, or once a minute for the history.
    this.timer = setInterval(() => void this.tick(), Math.min(1000, this.opts.everyMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A dashboard watches: samples every everyMs until the returned function is called. */
  watch(listener: (s: MemorySnapshot) => void): () => void {
    this.listeners.add(listener);
    this.watchers++;
    if (this.latest) listener(this.latest);
    void this.tick(true);
    return () => {
      if (this.listeners.delete(listener)) this.watchers--;
    };
  }

  /** A snapshot no older than everyMs (for /metrics and the REST route). */
  async current(): Promise<MemorySnapshot> {
    if (this.latest && Date.now() - Date.parse(this.latest.at) < this.opts.everyMs) return this.latest;
    return this.sample();
  }

  private async tick(force = false): Promise<void> {
    const now = Date.now();
    const due = this.watchers > 0 ? this.periodMs : 60_000;
    if (!force && now - this.lastTick < due - 50) return;
    this.lastTick = now;
    await this.sample().catch((e) => this.log.error('memory sample', e));
  }

  /** Takes one snapshot (concurrent callers share it). */
  sample(): Promise<MemorySnapshot> {
    this.taking ??= this.take().finally(() => (this.taking = undefined));
    return this.taking;
  }

  private async take(): Promise<MemorySnapshot> {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const [engineStats, meminfo, psi, store] = await Promise.all([this.engine.stats(), readMeminfo(), readPsi(), this.storeFigures()]);
    const ids = engineStats.containers.map((c) => c.id);
    // A container's limits are fixed for its life: inspected once, not on every sample.
    const fresh = ids.filter((id) => !this.limits.has(id));
    await Promise.all(fresh.map(async (id) => this.limits.set(id, (await this.engine.inspect(id).catch(() => undefined))?.limits?.memoryBytes ?? null)));
    const live = new Set(ids);
    for (const id of this.limits.keys()) if (!live.has(id)) this.limits.delete(id);
    const [rows, failedRuns] = await Promise.all([
      this.db.container.findMany({ where: { id: { in: ids } }, select: { id: true, ownerId: true, owner: { select: { username: true } }, classId: true, class: { select: { name: true } } } }),
      this.db.classRun.findMany({ where: { stoppedAt: null, OR: [{ status: 'failed' }, { failed: { gt: 0 } }], startedAt: { gt: new Date(Date.now() - 24 * 3600_000) } }, select: { classId: true, failed: true, status: true, class: { select: { name: true } } } }).catch(() => []),
    ]);
    const limitOf = this.limits;
    const meta = new Map<string, ContainerMeta>(
      rows.map((r) => [r.id, { user: r.owner?.username ?? null, userId: r.ownerId, class: r.class?.name ?? null, classId: r.classId, limitBytes: limitOf.get(r.id) ?? null }]),
    );
    for (const id of ids) if (!meta.has(id)) meta.set(id, { user: null, userId: null, class: null, classId: null, limitBytes: limitOf.get(id) ?? null });
    const cpu = process.cpuUsage(cpu0);
    // The process's CPU over the snapshot's window also counts whatever else the host did meanwhile
    // (starting containers, parking launchers under ptys): the stretch is capped so that a watching
    // admin never waits more than MAX_STRETCH periods for the next figures.
    const stretched = Math.ceil((cpu.user + cpu.system) / 1000 / (this.opts.cpuBudget ?? 0.05));
    this.periodMs = Math.min(Math.max(this.opts.everyMs, stretched), this.opts.everyMs * MAX_STRETCH);
    const snap = memorySnapshot({
      at: new Date(),
      sampleMs: performance.now() - t0,
      everyMs: this.periodMs,
      meminfo,
      psi,
      engine: engineStats,
      meta,
      regHostRss: process.memoryUsage.rss(),
      store,
      failedClassRuns: failedRuns.map((r) => ({ classId: r.classId, className: r.class.name, failed: r.failed, status: r.status })),
    });
    this.latest = snap;
    await this.record(snap).catch((e) => this.log.error('memory history', e));
    for (const l of this.listeners) l(snap);
    return snap;
  }

  private async storeFigures() {
    if (this.store && Date.now() - this.store.at < STORE_EVERY_MS) return this.store.value;
    let value: (StoreStats & { diskTotal: number; diskFree: number }) | null = null;
    try {
      const home = this.engine.home;
      const [s, fs] = await Promise.all([storeStats(home), statfs(home.root)]);
      value = { ...s, diskTotal: fs.blocks * fs.bsize, diskFree: fs.bavail * fs.bsize };
    } catch (e) {
      this.log.error('store stats', e);
    }
    this.store = { at: Date.now(), value };
    return value;
  }

  // ---- history ----

  private async record(s: MemorySnapshot): Promise<void> {
    const p = pointOf(s);
    this.raw.push(p);
    const keep = p.t - (this.opts.rawKeepMs ?? RETENTION.rawMs);
    while (this.raw.length && this.raw[0]!.t < keep) this.raw.shift();
    const bucket = Math.floor(p.t / 60_000) * 60_000;
    if (this.minute && this.minute.bucket !== bucket) await this.flushMinute(this.minute);
    if (!this.minute || this.minute.bucket !== bucket) this.minute = { bucket, points: [] };
    this.minute.points.push(p);
  }

  private async flushMinute(m: { bucket: number; points: HistoryPoint[] }): Promise<void> {
    await writeRollup(this.db, 60, m.bucket, m.points, m.points.length);
    const tenStart = Math.floor(m.bucket / 600_000) * 600_000;
    if (m.bucket + 60_000 === tenStart + 600_000) {
      // The last minute of a ten-minute bucket: fold its minutes into one row, then prune.
      const minutes = await this.db.memoryRollup.findMany({ where: { resolution: 60, bucket: { gte: new Date(tenStart), lt: new Date(tenStart + 600_000) } } });
      if (minutes.length) await writeRollup(this.db, 600, tenStart, minutes.map(pointOfRow), minutes.reduce((n, r) => n + r.samples, 0));
      await pruneHistory(this.db, Date.now());
    }
  }

  /** The last hour (minute rows + the raw samples of this minute), day (minutes) or month (ten minutes); raw: live. */
  async history(range: 'live' | 'hour' | 'day' | 'month'): Promise<{ range: typeof range; resolutionSeconds: number; points: HistoryPoint[] }> {
    if (range === 'live') return { range, resolutionSeconds: this.opts.everyMs / 1000, points: [...this.raw] };
    const now = Date.now();
    const [resolution, span] = range === 'month' ? [600, 30 * 24 * 3600_000] : range === 'day' ? [60, 24 * 3600_000] : [60, 3600_000];
    const rows = await this.db.memoryRollup.findMany({ where: { resolution, bucket: { gte: new Date(now - span) } }, orderBy: { bucket: 'asc' } });
    const points = rows.map(pointOfRow);
    if (range !== 'month' && this.minute?.points.length) points.push(average(this.minute.bucket, this.minute.points));
    return { range, resolutionSeconds: resolution, points };
  }
}

export function pointOf(s: MemorySnapshot): HistoryPoint {
  return {
    t: Date.parse(s.at),
    hostUsed: s.host.used,
    hostAvailable: s.host.available,
    pageCache: s.host.pageCache,
    swapUsed: s.host.swapUsed,
    pss: s.totals.pss,
    rss: s.totals.rss,
    uss: s.totals.uss,
    saved: s.sharing.saved,
    containers: s.totals.containers,
    psiSome10: s.host.psi?.some.avg10 ?? null,
  };
}

type RollupRow = { bucket: Date; hostUsed: bigint; hostAvailable: bigint; pageCache: bigint; swapUsed: bigint; pss: bigint; rss: bigint; uss: bigint; saved: bigint; containers: number; psiSome10: number | null };

function pointOfRow(r: RollupRow): HistoryPoint {
  return {
    t: r.bucket.getTime(),
    hostUsed: Number(r.hostUsed),
    hostAvailable: Number(r.hostAvailable),
    pageCache: Number(r.pageCache),
    swapUsed: Number(r.swapUsed),
    pss: Number(r.pss),
    rss: Number(r.rss),
    uss: Number(r.uss),
    saved: Number(r.saved),
    containers: r.containers,
    psiSome10: r.psiSome10,
  };
}

export function average(t: number, ps: HistoryPoint[]): HistoryPoint {
  const n = ps.length || 1;
  const avg = (k: keyof Omit<HistoryPoint, 't' | 'psiSome10'>) => Math.round(ps.reduce((s, p) => s + p[k], 0) / n);
  const psi = ps.filter((p) => p.psiSome10 !== null);
  return {
    t,
    hostUsed: avg('hostUsed'),
    hostAvailable: avg('hostAvailable'),
    pageCache: avg('pageCache'),
    swapUsed: avg('swapUsed'),
    pss: avg('pss'),
    rss: avg('rss'),
    uss: avg('uss'),
    saved: avg('saved'),
    containers: Math.round(ps.reduce((s, p) => s + p.containers, 0) / n),
    psiSome10: psi.length ? psi.reduce((s, p) => s + p.psiSome10!, 0) / psi.length : null,
  };
}

export async function writeRollup(db: Db, resolution: 60 | 600, bucket: number, points: HistoryPoint[], samples: number): Promise<void> {
  const a = average(bucket, points);
  const big = (n: number) => BigInt(Math.round(n));
  const hostTotal = big(a.hostUsed + a.hostAvailable);
  const data = { samples, hostTotal, hostUsed: big(a.hostUsed), hostAvailable: big(a.hostAvailable), pageCache: big(a.pageCache), swapUsed: big(a.swapUsed), psiSome10: a.psiSome10, containers: a.containers, rss: big(a.rss), pss: big(a.pss), uss: big(a.uss), saved: big(a.saved) };
  await db.memoryRollup.upsert({ where: { resolution_bucket: { resolution, bucket: new Date(bucket) } }, create: { resolution, bucket: new Date(bucket), ...data }, update: data });
}

/** Drops history past its retention: minute rows after a day, ten-minute rows after 30 days, per-container samples after a day. */
export async function pruneHistory(db: Db, now: number): Promise<{ minutes: number; tenMinutes: number; samples: number }> {
  const [a, b, c] = await Promise.all([
    db.memoryRollup.deleteMany({ where: { resolution: 60, bucket: { lt: new Date(now - RETENTION.minuteMs) } } }),
    db.memoryRollup.deleteMany({ where: { resolution: 600, bucket: { lt: new Date(now - RETENTION.tenMinuteMs) } } }),
    db.memorySample.deleteMany({ where: { takenAt: { lt: new Date(now - RETENTION.minuteMs) } } }),
  ]);
  return { minutes: a.count, tenMinutes: b.count, samples: c.count };
}
