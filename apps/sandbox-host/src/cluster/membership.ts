// A sandbox host's membership of the cluster: it registers (id, address, cgroup version, memory,
// free memory, the RETs in its store, version), heartbeats every few seconds, and, like every live
// host, marks down any host that missed MISSED_HEARTBEATS heartbeats; the host that wins that
// write (a conditional update, so exactly one) runs the failover (onHostDown).
//
// Time is the database's: heartbeatAt is the DB's now() and "missed" is judged against it, so
// hosts' clocks only have to be roughly right (a clock off by more than maxClockSkewMs is refused
// at registration: signed requests between hosts are only valid for ±30 s).
//
// Fencing: every row carries `instance` (random per process). A heartbeat updates only the row of
// its own instance while it is up; when that matches nothing the host was marked down or taken
// over by a newer process with its id, and it must stop serving (onFenced) before it touches a
// workspace again.

import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client.js';
import type { Host } from '../generated/prisma/client.js';
import type { Log } from '../log.js';
import { signHost, verifyHost, type UnsignedHost } from './host-signature.js';

export const MISSED_HEARTBEATS = 3;

export type ClusterErrorCode = 'CLOCK_SKEW' | 'HOST_ALREADY_RUNNING' | 'SECRET_MISMATCH';

/** A refusal to join the cluster (the host prints the message and exits). */
export class ClusterJoinError extends Error {
  constructor(
    readonly code: ClusterErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClusterJoinError';
  }
}

export interface HostFacts {
  cgroupVersion: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  /** "name@version" of every RET in the host's store. */
  rets: string[];
  /** Running terminals. */
  containers: number;
}

/** A verified, live host as placement and routing see it. */
export interface LiveHost {
  id: string;
  address: string;
  cgroupVersion: number;
  memoryBytes: number;
  freeMemoryBytes: number;
  rets: string[];
  containers: number;
  version: string;
  machineId: string;
  regHome: string;
  heartbeatAt: Date;
}

export interface MembershipOptions {
  id: string;
  address: string;
  version: string;
  machineId: string;
  regHome: string;
  /** Signs and verifies Host rows (hostKey(secret)). */
  key: Buffer;
  provider: 'sqlite' | 'postgresql';
  heartbeatMs: number;
  maxClockSkewMs: number;
  facts(): Promise<HostFacts>;
  log: Log;
  /** This host's clock (tests move it). */
  clock?: () => number;
  /** Called on the one host that marked `host` down: end its sessions, free its workspaces. */
  onHostDown?(host: Host): Promise<void>;
  /** This process no longer owns its row (marked down while stalled, or another process took over). */
  onFenced?(reason: string): void;
}

export class HostMembership {
  readonly instance = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** When heartbeats last started succeeding again (sweeping waits for a full window after a DB outage). */
  private healthySince: number | undefined;
  private fenced = false;
  private readonly forgedSeen = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly o: MembershipOptions,
  ) {}

  get id(): string {
    return this.o.id;
  }

  get downAfterMs(): number {
    return MISSED_HEARTBEATS * this.o.heartbeatMs;
  }

  /** The database's clock, in ms since the epoch. */
  async dbNow(): Promise<number> {
    const sql = this.o.provider === 'postgresql' ? 'SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS ms' : "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) AS ms";
    const rows = await this.db.$queryRawUnsafe<Array<{ ms: bigint | number }>>(sql);
    return Number(rows[0]!.ms);
  }

  private async row(now: number, status: 'up' | 'down' | 'left', startedAt: Date, facts?: HostFacts): Promise<Host> {
    const f = facts ?? (await this.o.facts());
    const unsigned: UnsignedHost = {
      id: this.o.id,
      address: this.o.address,
      instance: this.instance,
      status,
      cgroupVersion: f.cgroupVersion,
      memoryBytes: BigInt(Math.round(f.memoryBytes)),
      freeMemoryBytes: BigInt(Math.round(f.freeMemoryBytes)),
      rets: JSON.stringify([...f.rets].sort()),
      version: this.o.version,
      machineId: this.o.machineId,
      regHome: this.o.regHome,
      containers: f.containers,
      startedAt,
      heartbeatAt: new Date(now),
      downAt: status === 'up' ? null : new Date(now),
      downReason: status === 'left' ? 'stopped' : null,
    };
    return { ...unsigned, signature: signHost(this.o.key, unsigned) };
  }

  private startedAt = new Date(0);

  /**
   * Joins the cluster. Refused (ClusterJoinError) when this host's clock is far from the
   * database's, when another live process already holds this host id, or when the live hosts'
   * rows are signed with another secret.
   */
  async register(): Promise<void> {
    const local = (this.o.clock ?? Date.now)();
    const now = await this.dbNow();
    const skew = local - now;
    if (Math.abs(skew) > this.o.maxClockSkewMs) {
      throw new ClusterJoinError(
        'CLOCK_SKEW',
        `this host's clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the database's (allowed ${Math.round(this.o.maxClockSkewMs / 1000)} s): synchronise it (timedatectl set-ntp true, or chrony) and start again`,
      );
    }
    const live = await this.db.host.findMany({ where: { status: 'up', heartbeatAt: { gte: new Date(now - this.downAfterMs) }, id: { not: this.o.id } } });
    if (live.length > 0 && !live.some((h) => verifyHost(this.o.key, h))) {
      throw new ClusterJoinError('SECRET_MISMATCH', `the ${live.length} live host(s) of this cluster sign with another cluster secret: copy their REG_CLUSTER_SECRET_FILE to this host (mode 0600) and start again`);
    }
    this.startedAt = new Date(now);
    const mine = await this.row(now, 'up', this.startedAt);
    const old = await this.db.host.findUnique({ where: { id: this.o.id } });
    if (!old) {
      try {
        await this.db.host.create({ data: mine });
      } catch {
        throw this.alreadyRunning(await this.db.host.findUnique({ where: { id: this.o.id } }), now);
      }
    } else {
      if (old.status === 'up' && old.heartbeatAt.getTime() >= now - this.downAfterMs) throw this.alreadyRunning(old, now);
      // Taking over a dead (or stopped) process's id: only if nobody else did since we looked.
      const r = await this.db.host.updateMany({ where: { id: this.o.id, instance: old.instance, heartbeatAt: old.heartbeatAt }, data: mine });
      if (r.count !== 1) throw this.alreadyRunning(await this.db.host.findUnique({ where: { id: this.o.id } }), now);
    }
    this.healthySince = (this.o.clock ?? Date.now)();
    this.fenced = false;
  }

  private alreadyRunning(h: Host | null, now: number): ClusterJoinError {
    const ago = h ? `${Math.max(0, Math.round((now - h.heartbeatAt.getTime()) / 1000))} s ago` : 'just now';
    return new ClusterJoinError(
      'HOST_ALREADY_RUNNING',
      `host id ${this.o.id} is already registered by a live process (${h?.address ?? 'another process'}, last heartbeat ${ago}): stop that process, or give this one its own REG_HOME or REG_HOST_ID; a crashed process's id is free ${Math.round(this.downAfterMs / 1000)} s after its last heartbeat`,
    );
  }

  /** One heartbeat, then (if this host has been healthy for a full window) a sweep for dead hosts. */
  async heartbeat(): Promise<{ markedDown: string[] }> {
    if (this.fenced) return { markedDown: [] };
    let now: number;
    try {
      // The facts first, then the database's time: a slow fact must not make the heartbeat it
      // writes old already.
      const facts = await this.o.facts();
      now = await this.dbNow();
      const mine = await this.row(now, 'up', this.startedAt, facts);
      const r = await this.db.host.updateMany({ where: { id: this.o.id, instance: this.instance, status: 'up' }, data: { ...mine, instance: this.instance } });
      if (r.count !== 1) {
        this.fenced = true;
        const cur = await this.db.host.findUnique({ where: { id: this.o.id } }).catch(() => null);
        const reason = !cur ? 'its row was deleted' : cur.instance !== this.instance ? `another process took over host id ${this.o.id}` : `it was marked down (${cur.downReason ?? 'missed heartbeats'})`;
        this.o.log.error(`cluster: this host is fenced: ${reason}; ending its terminals`);
        this.o.onFenced?.(reason);
        return { markedDown: [] };
      }
    } catch (e) {
      if (this.healthySince !== undefined) this.o.log.error('cluster: heartbeat failed (database unreachable?)', e);
      this.healthySince = undefined;
      return { markedDown: [] };
    }
    const local = (this.o.clock ?? Date.now)();
    this.healthySince ??= local;
    // After a database outage nobody could heartbeat: give every host a full window to come back
    // before judging anyone dead.
    if (local - this.healthySince < this.downAfterMs) return { markedDown: [] };
    return { markedDown: await this.sweep(now) };
  }

  /** Marks down hosts whose heartbeat is older than the window, and rows that do not verify. */
  async sweep(now?: number): Promise<string[]> {
    now ??= await this.dbNow();
    const up = await this.db.host.findMany({ where: { status: 'up', id: { not: this.o.id } } });
    const down: string[] = [];
    for (const h of up) {
      const forged = !verifyHost(this.o.key, h);
      const stale = h.heartbeatAt.getTime() < now - this.downAfterMs;
      if (!forged && !stale) continue;
      const reason = forged ? 'forged: its registration is not signed with the cluster secret' : `missed ${MISSED_HEARTBEATS} heartbeats (last ${Math.round((now - h.heartbeatAt.getTime()) / 1000)} s ago)`;
      const unsigned: UnsignedHost = { ...h, status: 'down', downAt: new Date(now), downReason: reason };
      delete (unsigned as Partial<Host>).signature;
      const r = await this.db.host.updateMany({ where: { id: h.id, instance: h.instance, heartbeatAt: h.heartbeatAt, status: 'up' }, data: { status: 'down', downAt: unsigned.downAt, downReason: reason, signature: signHost(this.o.key, unsigned) } });
      if (r.count !== 1) continue; // another live host got there first, or it just heartbeat
      this.o.log.info(`cluster: host ${h.id} (${h.address}) marked down: ${reason}`);
      down.push(h.id);
      if (forged) continue; // nothing of ours runs on a host that never was one
      // Not awaited: a long failover (reaping many containers) must not delay this host's own
      // heartbeats, or it would look dead in turn.
      void this.o.onHostDown?.(h).catch((e) => this.o.log.error(`cluster: failover of host ${h.id}`, e));
    }
    return down;
  }

  /** Hosts that are up, heartbeating within the window and signed with the cluster secret. */
  async liveHosts(): Promise<LiveHost[]> {
    const now = await this.dbNow();
    const rows = await this.db.host.findMany({ where: { status: 'up', heartbeatAt: { gte: new Date(now - this.downAfterMs) } }, orderBy: { id: 'asc' } });
    const out: LiveHost[] = [];
    for (const h of rows) {
      if (!verifyHost(this.o.key, h)) {
        if (!this.forgedSeen.has(`${h.id}/${h.instance}`)) this.o.log.error(`cluster: ignoring host row ${h.id} (${h.address}): not signed with the cluster secret`);
        this.forgedSeen.add(`${h.id}/${h.instance}`);
        continue;
      }
      out.push(toLive(h));
    }
    return out;
  }

  /** Whether this process still owns its row (false once fenced). */
  get isMember(): boolean {
    return !this.fenced && this.healthySince !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.beating) return;
      this.beating = this.heartbeat()
        .then(() => undefined, (e) => this.o.log.error('cluster: heartbeat', e))
        .finally(() => (this.beating = undefined));
    }, this.o.heartbeatMs);
    this.timer.unref();
  }

  /** Stops heartbeating and records a clean leave (so nobody runs a failover for this host). */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    if (this.fenced) return;
    const now = await this.dbNow();
    const row = await this.row(now, 'left', this.startedAt);
    await this.db.host.updateMany({ where: { id: this.o.id, instance: this.instance }, data: row });
    this.fenced = true;
  }
}

export function toLive(h: Host): LiveHost {
  return {
    id: h.id,
    address: h.address,
    cgroupVersion: h.cgroupVersion,
    memoryBytes: Number(h.memoryBytes),
    freeMemoryBytes: Number(h.freeMemoryBytes),
    rets: safeJsonArray(h.rets),
    containers: h.containers,
    version: h.version,
    machineId: h.machineId,
    regHome: h.regHome,
    heartbeatAt: h.heartbeatAt,
  };
}

function safeJsonArray(s: string): string[] {
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
