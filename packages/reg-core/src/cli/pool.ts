// `reg pool`: the pools that make a start cheap, for this REG_HOME, shared by every process over
// it (the CLI, the host): parked launchers (launch/park.ts: a reg-launch already in its cgroup with
// its namespaces made, waiting for a container's plan) and idle cgroups made ahead of time and
// recycled after a container is removed (cgroup/pool.ts). Filling them from the CLI speeds up the
// next `reg run`s; each start uses up one parked launcher, a removal returns its cgroup.
//   reg pool [status] [--json]                   what is parked and idle now
//   reg pool fill N [--net none|host] [--cgroups-only]   N parked launchers (each with its cgroup), or N idle cgroups
//   reg pool drain                               end every parked launcher, remove every idle cgroup

import { RegError } from '../errors.js';
import { PooledCgroupDriver } from '../cgroup/pool.js';
import type { Engine } from '../container/engine.js';
import { parse } from './args.js';

const USAGE = `reg pool [status] [--json]
       reg pool fill N [--net none|host] [--cgroups-only] [--json]
       reg pool drain [--json]`;

/** The most a fill may ask for: each member is a cgroup in every controller (and a parked process). */
export const MAX_POOL_FILL = 10_000;

type LauncherKey = 'isolated' | 'shared-net';

/** The part of the engine's launcher pool (launch/park.ts) this command uses. */
interface LauncherPoolView {
  status(): Promise<{ dir: string; byKey: Record<LauncherKey, { ready: number; starting: number }> }>;
  fill(key: LauncherKey, n: number): Promise<void>;
  drain(): Promise<number>;
}

export interface PoolStatus {
  launchers: { enabled: boolean; dir?: string; isolated: number; sharedNet: number; starting: number };
  cgroups: { enabled: boolean; idle: number; parent?: string; version: 1 | 2 };
}

function pooledDriver(engine: Engine): PooledCgroupDriver | undefined {
  const d = engine.ctx.cgroups;
  return d instanceof PooledCgroupDriver ? d : undefined;
}

function launcherPool(engine: Engine): LauncherPoolView | undefined {
  return (engine as unknown as { pool?: LauncherPoolView }).pool;
}

export async function poolStatus(engine: Engine): Promise<PoolStatus> {
  const d = pooledDriver(engine);
  const lp = launcherPool(engine);
  let launchers: PoolStatus['launchers'] = { enabled: false, isolated: 0, sharedNet: 0, starting: 0 };
  if (lp) {
    const s = await lp.status();
    launchers = { enabled: true, dir: s.dir, isolated: s.byKey.isolated.ready, sharedNet: s.byKey['shared-net'].ready, starting: s.byKey.isolated.starting + s.byKey['shared-net'].starting };
  }
  if (!d) return { launchers, cgroups: { enabled: false, idle: 0, version: engine.ctx.cgroups.version } };
  // reserve(0) adopts the members already on the cgroupfs (left by earlier processes) and adds none.
  await d.reserve(0);
  return { launchers, cgroups: { enabled: true, idle: d.poolStats().idle, version: d.version, ...(d.parent && { parent: d.parent }) } };
}

function fillCount(v: string | undefined): number {
  if (v === undefined) throw new RegError('USAGE', 'missing N, the number of members to keep ready', { hint: `usage: ${USAGE}` });
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > MAX_POOL_FILL) {
    throw new RegError('USAGE', `N must be a whole number from 0 to ${MAX_POOL_FILL}, not "${v}"`, { field: 'N', hint: `usage: ${USAGE}` });
  }
  return n;
}

function describe(s: PoolStatus): string {
  const l = s.launchers;
  const lines = [
    l.enabled
      ? `launchers: ${l.isolated + l.sharedNet} parked (${l.isolated} with their own network, ${l.sharedNet} on the host's)${l.starting ? `, ${l.starting} starting` : ''}; a start takes one`
      : 'launchers: parking is off (REG_LAUNCHER_POOL=0, or this build has no parked launchers): each start spawns its own',
    s.cgroups.enabled
      ? `cgroups:   ${s.cgroups.idle} idle (cgroup v${s.cgroups.version}, parent ${s.cgroups.parent ?? '?'}); a start without a parked launcher takes one, a removal returns it`
      : 'cgroups:   pooling is off (REG_CGROUP_POOL=0): each container creates and removes its own',
  ];
  return lines.join('\n');
}

export async function poolCommand(engineP: () => Promise<Engine>, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, net: { type: 'string' }, 'cgroups-only': { type: 'boolean' } }, USAGE);
  const [sub = 'status', ...rest] = positionals;
  if (!['status', 'fill', 'drain'].includes(sub)) throw new RegError('USAGE', `unknown pool command "${sub}"`, { hint: `usage: ${USAGE}` });
  // Everything is checked before anything is opened: bad input changes nothing.
  const n = sub === 'fill' ? fillCount(rest[0]) : 0;
  if (rest.length > (sub === 'fill' ? 1 : 0)) throw new RegError('USAGE', `unexpected argument "${rest[sub === 'fill' ? 1 : 0]}"`, { hint: `usage: ${USAGE}` });
  if ((values.net !== undefined || values['cgroups-only']) && sub !== 'fill') throw new RegError('USAGE', '--net and --cgroups-only belong to reg pool fill', { hint: `usage: ${USAGE}` });
  if (values.net !== undefined && values.net !== 'none' && values.net !== 'host') throw new RegError('USAGE', `--net must be none or host, not "${values.net}"`, { field: '--net', hint: 'the network of the containers that will take them (as reg run --net)' });
  if (values.net !== undefined && values['cgroups-only']) throw new RegError('USAGE', '--net is for parked launchers; --cgroups-only fills cgroups, which have no network', { field: '--net' });
  const engine = await engineP();
  const d = pooledDriver(engine);
  const lp = launcherPool(engine);
  const print = (json: unknown, text: string) => console.log(values.json ? JSON.stringify(json, null, 2) : text);
  switch (sub) {
    case 'status': {
      const s = await poolStatus(engine);
      print(s, describe(s));
      return 0;
    }
    case 'fill': {
      const before = await poolStatus(engine);
      if (lp && !values['cgroups-only']) {
        const key: LauncherKey = values.net === 'host' ? 'shared-net' : 'isolated';
        await lp.fill(key, n);
        const after = await poolStatus(engine);
        const had = key === 'isolated' ? before.launchers.isolated : before.launchers.sharedNet;
        const now = key === 'isolated' ? after.launchers.isolated : after.launchers.sharedNet;
        print(after, `${now >= n ? '' : `only ${now} of ${n} launchers parked (the pool's cap, or members that failed to start)\n`}${describe(after)}${now > had ? `\n(parked ${now - had})` : `\n(already at least ${n})`}`);
        return now >= n ? 0 : 1;
      }
      if (!d) {
        throw new RegError('USAGE', values['cgroups-only'] ? 'cgroup pooling is off (REG_CGROUP_POOL=0): there is no pool to fill' : 'both pools are off (REG_LAUNCHER_POOL=0, REG_CGROUP_POOL=0): there is nothing to fill', {
          field: 'REG_CGROUP_POOL',
          hint: 'unset REG_CGROUP_POOL / REG_LAUNCHER_POOL (pooling is on by default)',
        });
      }
      await d.reserve(n);
      const after = await poolStatus(engine);
      print(after, `${describe(after)}\n(${after.cgroups.idle > before.cgroups.idle ? `made ${after.cgroups.idle - before.cgroups.idle} cgroups` : `already at least ${n} cgroups`})`);
      return 0;
    }
    case 'drain': {
      // Launchers first: ending a parked launcher returns its cgroup to the cgroup pool, drained next.
      const launchers = lp ? await lp.drain() : 0;
      const cgroups = d ? (await poolStatus(engine)).cgroups.idle : 0;
      if (d) await d.drainPool();
      print({ launchers: { ended: launchers }, cgroups: { removed: cgroups } }, `launchers: ended ${launchers} parked\ncgroups:   removed ${cgroups} idle`);
      return 0;
    }
  }
  return 0;
}
