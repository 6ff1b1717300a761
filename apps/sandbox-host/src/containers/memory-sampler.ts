// Periodically records the memory of the running containers this host knows (reg-core's smaps
// accounting) as MemorySample rows, for the dashboards to come.

import type { Engine } from '@reg/core';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';

export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly engine: Engine,
    private readonly db: Db,
    private readonly everyMs: number,
    private readonly log: Log,
  ) {}

  start(): void {
    if (this.everyMs <= 0) return;
    this.timer = setInterval(() => void this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async sample(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const stats = await this.engine.stats();
      const known = new Set((await this.db.container.findMany({ where: { id: { in: stats.containers.map((c) => c.id) } }, select: { id: true } })).map((r) => r.id));
      const rows = stats.containers.filter((c) => known.has(c.id)).map((c) => ({ containerId: c.id, rss: c.rss, pss: c.pss, uss: c.uss, shared: c.shared }));
      if (rows.length) await this.db.memorySample.createMany({ data: rows });
      return rows.length;
    } catch (e) {
      this.log.error('memory sample', e);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
