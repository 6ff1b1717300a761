// `reg pool`: the pools that make a start cheap, for this REG_HOME. Cgroups made ahead of time
// and recycled after a container is removed (cgroup/pool.ts) are shared by every process over the
// home (the CLI, the host), so filling them from the CLI speeds up the next `reg run` too.
//   reg pool [status] [--json]   what is idle now
//   reg pool fill N              grow the idle pool to at least N (e.g. before a class starts)
//   reg pool drain               remove every idle member (before deleting a REG_HOME, or to give memory back)

import { RegError } from '../errors.js';
import { PooledCgroupDriver } from '../cgroup/pool.js';
import type { Engine } from '../container/engine.js';
import { parse } from './args.js';

const USAGE = `reg pool [status] [--json]
       reg pool fill N
       reg pool drain`;

/** The most a fill may ask for: each member is a cgroup in every controller (kernel memory). */
export const MAX_POOL_FILL = 10_000;

export interface PoolStatus {
  cgroups: { enabled: boolean; idle: number; parent?: string; version: 1 | 2 };
}

function pooledDriver(engine: Engine): PooledCgroupDriver | undefined {
  const d = engine.ctx.cgroups;
  return d instanceof PooledCgroupDriver ? d : undefined;
}

export async function poolStatus(engine: Engine): Promise<PoolStatus> {
  const d = pooledDriver(engine);
  if (!d) return { cgroups: { enabled: false, idle: 0, version: engine.ctx.cgroups.version } };
  // reserve(0) adopts the members already on the cgroupfs (left by earlier processes) and adds none.
  await d.reserve(0);
  return { cgroups: { enabled: true, idle: d.poolStats().idle, version: d.version, ...(d.parent && { parent: d.parent }) } };
}

function fillCount(v: string | undefined): number {
  if (v === undefined) throw new RegError('USAGE', 'missing N, the number of idle members to keep', { hint: `usage: ${USAGE}` });
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > MAX_POOL_FILL) {
    throw new RegError('USAGE', `N must be a whole number from 0 to ${MAX_POOL_FILL}, not "${v}"`, { field: 'N', hint: `usage: ${USAGE}` });
  }
  return n;
}

export async function poolCommand(engineP: () => Promise<Engine>, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, USAGE);
  const [sub = 'status', ...rest] = positionals;
  if (!['status', 'fill', 'drain'].includes(sub)) throw new RegError('USAGE', `unknown pool command "${sub}"`, { hint: `usage: ${USAGE}` });
  if (sub === 'fill') fillCount(rest[0]); // before opening anything: a bad N changes nothing
  if (rest.length > (sub === 'fill' ? 1 : 0)) throw new RegError('USAGE', `unexpected argument "${rest[sub === 'fill' ? 1 : 0]}"`, { hint: `usage: ${USAGE}` });
  const engine = await engineP();
  const d = pooledDriver(engine);
  switch (sub) {
    case 'status': {
      const s = await poolStatus(engine);
      if (values.json) console.log(JSON.stringify(s, null, 2));
      else if (!s.cgroups.enabled) console.log('cgroups: pooling is off (REG_CGROUP_POOL=0): each container creates and removes its own');
      else console.log(`cgroups: ${s.cgroups.idle} idle (cgroup v${s.cgroups.version}, parent ${s.cgroups.parent ?? '?'}); a start takes one, a removal returns it`);
      return 0;
    }
    case 'fill': {
      const n = fillCount(rest[0]);
      if (!d) throw new RegError('USAGE', 'cgroup pooling is off (REG_CGROUP_POOL=0): there is no pool to fill', { field: 'REG_CGROUP_POOL', hint: 'unset REG_CGROUP_POOL (pooling is on by default)' });
      const before = (await poolStatus(engine)).cgroups.idle;
      await d.reserve(n);
      const after = d.poolStats().idle;
      if (values.json) console.log(JSON.stringify({ cgroups: { before, idle: after } }));
      else console.log(`cgroups: ${after} idle (${after - before > 0 ? `made ${after - before}` : `already at least ${n}`})`);
      return 0;
    }
    case 'drain': {
      if (!d) {
        if (values.json) console.log(JSON.stringify({ cgroups: { removed: 0 } }));
        else console.log('cgroups: pooling is off (REG_CGROUP_POOL=0): nothing to drain');
        return 0;
      }
      const before = (await poolStatus(engine)).cgroups.idle;
      await d.drainPool();
      if (values.json) console.log(JSON.stringify({ cgroups: { removed: before } }));
      else console.log(`cgroups: removed ${before} idle`);
      return 0;
    }
  }
  return 0;
}
