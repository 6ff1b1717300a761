// A host's part in a cluster (REG_CLUSTER=1), assembled: its identity and the cluster secret, its
// membership (register, heartbeat, mark dead hosts down), the failover it runs for a host it marked
// down, workspace leases, placement of "open terminal" (forwarding to the chosen host), and the
// cluster-authenticated routes the web origin and other hosts ask. Single-host mode never builds one.

import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Engine, listRets } from '@reg/core';
import type { Context } from 'hono';
import { RequestError } from '../auth/principal.js';
import type { ClassEvents } from '../classes/class-events.js';
import type { Db } from '../db/client.js';
import type { Host } from '../generated/prisma/client.js';
import type { Log } from '../log.js';
import { deriveKey, loadOrCreateClusterSecret } from './cluster-secret.js';
import { hostKey } from './host-signature.js';
import { loadOrCreateHostId, machineId } from './host-identity.js';
import { HostMembership, type HostFacts, type LiveHost } from './membership.js';
import { placeContainer, planClass, type Placement } from './placement.js';
import { prepullHere, summarise, type HostPrepull, type PrepullReport, type PrepullResult } from './prepull.js';
import { z } from 'zod';
import { audit } from '../admin/audit.js';
import type { Principal } from '../auth/principal.js';
import type { ClassCluster, PrepareResult } from '../classes/class-runner.js';
import { CLUSTER_HEADER, requestKey, signClusterRequest, verifyClusterRequest } from './request-auth.js';

export interface ClusterConfig {
  sharedDir: string;
  secretFile: string;
  hostId?: string;
  /** Where others reach this host; default http://<bind>:<port>. */
  address?: string;
  heartbeatMs: number;
  maxClockSkewMs: number;
}

/** The host's version (its package.json), recorded in its Host row. */
export const HOST_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What a student reads when their host was marked down. */
export const HOST_DOWN_MESSAGE = 'your sandbox host stopped; reopen the terminal to continue (your files are kept)';
/** How long a down host's workspace leases wait for its failover before anyone takes them over. */
export const FAILOVER_GRACE_MS = 60_000;
/** Free memory a host must have to be given one more terminal. */
export const PLACEMENT_NEED_BYTES = 128 * 2 ** 20;
/**
 * What Start class expects one more prepared container to take from a host's free memory when it
 * plans a whole class: a login shell in Reg costs 3–9 MiB PSS (README, Benchmarks: the storm and
 * density rows), so 16 MiB leaves room for the student's first program.
 */
export const PLACEMENT_EXPECTED_BYTES = 16 * 2 ** 20;

export interface ClusterNodeDeps {
  engine: () => Engine;
  /** Running terminals on this host. */
  terminals: () => number;
  /** End every terminal and unmount every workspace: this host lost its membership. */
  onFenced: (reason: string) => Promise<void>;
  /** The classroom's event bus (live class views learn that a dead host's students were disconnected). */
  events?: () => ClassEvents;
  /** Failover: the Start class runs a dead host coordinated are taken over here. */
  adoptRuns?: (hostId: string) => Promise<unknown>;
  log: Log;
}

export class ClusterNode implements ClassCluster {
  private deps: ClusterNodeDeps | undefined;
  private address = '';
  /** Workspaces this process leased (and so may have mounted), even if a failover freed the row since. */
  private readonly held = new Map<string, { classId: string; userId: string }>();
  /**
   * Opens this host has placed and not yet seen answered, per class and host. A container's row is
   * written only once it is generated, so without these a rush of simultaneous opens would all
   * read the same class counts and land on one host (969 / 1 / 30 of 1000 before they were kept).
   */
  private readonly placing = new Map<string, Map<string, number>>();
  private constructor(
    readonly id: string,
    readonly config: ClusterConfig,
    readonly provider: 'sqlite' | 'postgresql',
    private readonly requestKeyBytes: Buffer,
    /** Signs users' sessions and attach tokens, the same on every host. */
    readonly sessionKey: Buffer,
    private readonly hostKeyBytes: Buffer,
    private readonly machine: string,
    readonly regHome: string,
    readonly version: string,
  ) {}

  membership!: HostMembership;
  private db!: Db;

  static async open(config: ClusterConfig, o: { regHome: string; databaseUrl: string; version: string }): Promise<ClusterNode> {
    const secret = await loadOrCreateClusterSecret(config.secretFile);
    const id = config.hostId ?? (await loadOrCreateHostId(o.regHome));
    const provider = /^postgres(ql)?:/.test(o.databaseUrl) ? 'postgresql' : 'sqlite';
    return new ClusterNode(id, config, provider, requestKey(secret), deriveKey(secret, 'sessions'), hostKey(secret), await machineId(), o.regHome, o.version);
  }

  /** Workspaces (images, student uids) and starter files live here, reached by every host. */
  get sharedDir(): string {
    return this.config.sharedDir;
  }

  /**
   * The database as this host uses it: every Container row it creates records this host, so
   * routing, failover and restart reconciliation know whose it is.
   */
  scopeDb(db: Db): Db {
    const hostId = this.id;
    return db.$extends({
      query: {
        container: {
          async create({ args, query }) {
            args.data = { ...args.data, hostId: (args.data as { hostId?: string | null }).hostId ?? hostId } as typeof args.data;
            return query(args);
          },
        },
      },
    }) as unknown as Db;
  }

  /** Joins the cluster (refusals throw ClusterJoinError before the host touches anything). */
  async join(db: Db, deps: ClusterNodeDeps): Promise<void> {
    this.db = db;
    this.deps = deps;
    const self = this;
    this.membership = new HostMembership(db, {
      id: this.id,
      get address() {
        return self.address;
      },
      version: this.version,
      machineId: this.machine,
      regHome: this.regHome,
      key: this.hostKeyBytes,
      provider: this.provider,
      heartbeatMs: this.config.heartbeatMs,
      maxClockSkewMs: this.config.maxClockSkewMs,
      facts: () => this.facts(),
      log: deps.log,
      onHostDown: (h) => this.failover(h),
      onFenced: (reason) => void this.fenced(reason),
    });
    await this.membership.register();
  }

  /** Once listening: publish the address and start heartbeating. */
  async announce(address: string): Promise<void> {
    this.address = this.config.address ?? address;
    await this.membership.heartbeat();
    this.membership.start();
  }

  private rets: { list: string[]; refreshing?: Promise<void> } | undefined;

  /**
   * What the heartbeat publishes, without waiting on files: in a rush libuv's threadpool queues
   * every fs call behind the containers' own (seconds under load, measured by bench/cluster.mjs),
   * and a late heartbeat gets a busy host marked down. Memory comes from os.totalmem/freemem (the
   * kernel's MemTotal/MemAvailable, read synchronously), and the store's RET list is refreshed in
   * the background, the last one published meanwhile (placement only scores on it).
   */
  private async facts(): Promise<HostFacts> {
    const engine = this.deps!.engine();
    if (!this.rets) this.rets = { list: await this.listRets(engine).catch(() => []) };
    else {
      const last = this.rets;
      last.refreshing ??= this.listRets(engine).then(
        (list) => void (this.rets = { list }),
        () => void (this.rets = { list: last.list }), // kept as it was; tried again next time
      );
    }
    return { cgroupVersion: engine.ctx.cgroups.version, memoryBytes: totalmem(), freeMemoryBytes: freemem(), rets: this.rets.list, containers: this.deps!.terminals() };
  }

  private async listRets(engine: Engine): Promise<string[]> {
    return (await listRets(engine.home)).map((r) => `${r.name}@${r.version}`);
  }

  private async fenced(reason: string): Promise<void> {
    try {
      await this.deps!.onFenced(reason);
      await this.releaseLeases().catch(() => {});
      // Back as a fresh, empty member (a new instance): only after everything it ran is gone.
      await this.membership.register();
      this.membership.start();
      this.deps!.log.info(`cluster: rejoined as ${this.id} after being fenced`);
    } catch (e) {
      this.deps!.log.error('cluster: rejoining after being fenced', e);
    }
  }

  /**
   * Run on the one live host that marked `h` down: its terminals are over (the students are told
   * why and reopen elsewhere), its workspace leases are free. A dead host on this very machine
   * is reaped too: its containers still running (a SIGKILLed host leaves its sandboxes) are
   * removed and its cgroups released, so nothing of it keeps writing to a workspace another host
   * is about to mount.
   */
  async failover(h: Host): Promise<void> {
    const log = this.deps!.log;
    const rows = await this.db.container.findMany({ where: { hostId: h.id, status: { not: 'removed' } }, select: { id: true, ownerId: true, classId: true } });
    await this.db.container.updateMany({ where: { hostId: h.id, status: { not: 'removed' } }, data: { status: 'removed', endReason: 'host-down', endMessage: HOST_DOWN_MESSAGE, endedAt: new Date() } });
    if (h.machineId && h.machineId === this.machine && h.regHome) await this.reapLocal(h).catch((e) => log.error(`cluster: removing the containers host ${h.id} left on this machine`, e));
    const leases = await this.db.workspaceLease.deleteMany({ where: { hostId: h.id } });
    const at = new Date().toISOString();
    for (const r of rows) {
      if (r.classId && r.ownerId) this.deps!.events?.().emit({ type: 'student', classId: r.classId, userId: r.ownerId, state: 'ended', containerId: r.id, at, endMessage: HOST_DOWN_MESSAGE });
    }
    log.info(`cluster: failover of ${h.id}: ${rows.length} terminal(s) ended, ${leases.count} workspace lease(s) freed`);
    // A class start it coordinated goes on here (its students, the dead host's share included,
    // are placed again on the live hosts).
    await this.deps!.adoptRuns?.(h.id).catch((e) => log.error(`cluster: taking over the class starts ${h.id} coordinated`, e));
  }

  private async reapLocal(h: Host): Promise<void> {
    if (!(await access(h.regHome).then(() => true, () => false))) return;
    const engine = await Engine.open({ home: h.regHome });
    await engine.reconcile();
    // All at once: the students of the dead host wait for this before their workspaces are free.
    await Promise.all((await engine.list({ all: true })).map((c) => engine.remove(c.id, { force: true }).catch((e) => this.deps!.log.error(`cluster: removing ${c.id} of ${h.id}`, e))));
    await engine.releaseSpareVolumes().catch(() => {});
    await engine.disposeCgroupParent().catch(() => {});
  }

  /**
   * Before this host mounts a student's workspace image: the lease must be free, ours, or held by
   * a host that is no longer live (then it is taken over, fenced by that host's liveness). A lease
   * held by a live host refuses (the image must never be mounted by two hosts). On this machine an
   * image still mounted by a dead host is the same filesystem (one kernel, one superblock): its
   * containers were reaped in failover, so the mount is adopted, and logged.
   */
  async leaseWorkspace(classId: string, userId: string, mountPoint: string): Promise<void> {
    const key = { classId_userId: { classId, userId } };
    for (let attempt = 0; attempt < 3; attempt++) {
      const lease = await this.db.workspaceLease.findUnique({ where: key });
      if (!lease) {
        try {
          await this.db.workspaceLease.create({ data: { classId, userId, hostId: this.id } });
          this.held.set(`${classId}/${userId}`, { classId, userId });
          return;
        } catch {
          continue; // another host created it a moment ago: look again
        }
      }
      if (lease.hostId === this.id) return void this.held.set(`${classId}/${userId}`, { classId, userId });
      const holderLive = (await this.membership.liveHosts()).some((h) => h.id === lease.hostId);
      if (holderLive) {
        throw new RequestError('CONFLICT', `this workspace is open on another sandbox host (${lease.hostId})`, 'close the terminal there first, or reopen it: it opens on that host');
      }
      // A holder marked down keeps its leases until its failover has removed what it left running
      // (then they are deleted): taking one over earlier could let a dead host's sandbox and a new
      // one write the same files. A failover that never finishes (its host died too) is not waited
      // for past FAILOVER_GRACE_MS.
      const holder = await this.db.host.findUnique({ where: { id: lease.hostId }, select: { status: true, downAt: true, heartbeatAt: true } });
      const since = holder ? (holder.downAt ?? holder.heartbeatAt).getTime() : 0;
      if (holder && holder.status !== 'left' && Date.now() - since < FAILOVER_GRACE_MS) {
        throw new RequestError('NO_HOST_AVAILABLE', 'your previous sandbox host stopped and what it left is being cleaned up', 'reopen the terminal in a few seconds: your files are kept');
      }
      const r = await this.db.workspaceLease.updateMany({ where: { classId, userId, hostId: lease.hostId }, data: { hostId: this.id, acquiredAt: new Date() } });
      if (r.count !== 1) continue;
      if (await isMounted(mountPoint)) this.deps!.log.info(`cluster: workspace ${classId}/${userId} was left mounted by host ${lease.hostId} (down): adopting the mount`);
      this.held.set(`${classId}/${userId}`, { classId, userId });
      return;
    }
    throw new RequestError('CONFLICT', 'this workspace is being opened on another sandbox host right now', 'try again in a moment');
  }

  /** The workspaces this host may have mounted: its lease rows and what it leased in this process. */
  async leasedWorkspaces(): Promise<Array<{ classId: string; userId: string }>> {
    const rows = await this.db.workspaceLease.findMany({ where: { hostId: this.id }, select: { classId: true, userId: true } }).catch(() => []);
    const all = new Map(this.held);
    for (const r of rows) all.set(`${r.classId}/${r.userId}`, r);
    return [...all.values()];
  }

  async releaseLeases(): Promise<void> {
    await this.db.workspaceLease.deleteMany({ where: { hostId: this.id } });
    this.held.clear();
  }

  /**
   * Where a student's next terminal in a class goes. The class counts include the opens this host
   * has placed and not yet seen answered, and each of those takes the expected use of a container
   * off its host's free memory (the heartbeat has not seen it yet). The choice is counted as in
   * flight in the same tick it is made, so concurrent opens see each other; `done` ends that.
   */
  async place(classId: string, userId: string): Promise<{ placement: Placement; hosts: LiveHost[]; done: () => void }> {
    const [hosts, cls, lease, counts] = await Promise.all([
      this.membership.liveHosts(),
      this.db.class.findUnique({ where: { id: classId }, select: { ret: true } }),
      this.db.workspaceLease.findUnique({ where: { classId_userId: { classId, userId } } }),
      this.db.container.groupBy({ by: ['hostId'], where: { classId, status: { not: 'removed' }, hostId: { not: null } }, _count: { _all: true } }),
    ]);
    const routable = hosts.filter((h) => h.address);
    const classCounts = new Map(counts.map((c) => [c.hostId!, c._count._all]));
    for (const [h, n] of this.placing.get(classId) ?? []) classCounts.set(h, (classCounts.get(h) ?? 0) + n);
    const pending = this.placingPerHost();
    const placement = placeContainer(
      routable.map((h) => ({ ...h, freeMemoryBytes: h.freeMemoryBytes - (pending.get(h.id) ?? 0) * PLACEMENT_EXPECTED_BYTES })),
      { ret: cls?.ret ?? '', needBytes: PLACEMENT_NEED_BYTES, classCounts, ...(lease && { leaseHolder: lease.hostId }) },
    );
    return { placement, hosts: routable, done: placement.ok ? this.countPlacing(classId, placement.hostId) : () => {} };
  }

  private placingPerHost(): Map<string, number> {
    const per = new Map<string, number>();
    for (const hosts of this.placing.values()) for (const [h, n] of hosts) per.set(h, (per.get(h) ?? 0) + n);
    return per;
  }

  private countPlacing(classId: string, hostId: string): () => void {
    const hosts = this.placing.get(classId) ?? new Map<string, number>();
    this.placing.set(classId, hosts);
    hosts.set(hostId, (hosts.get(hostId) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const n = (hosts.get(hostId) ?? 1) - 1;
      if (n > 0) hosts.set(hostId, n);
      else hosts.delete(hostId);
      if (hosts.size === 0 && this.placing.get(classId) === hosts) this.placing.delete(classId);
    };
  }

  /** Whether a request carries a valid cluster header (then it was forwarded and is served here). */
  verify(c: Context): { ok: true; sender: string } | { ok: false; reason: string } {
    const url = new URL(c.req.url);
    return verifyClusterRequest(this.requestKeyBytes, c.req.header(CLUSTER_HEADER), c.req.method, url.pathname + url.search);
  }

  sign(method: string, pathWithQuery: string): string {
    return signClusterRequest(this.requestKeyBytes, this.id, method, pathWithQuery);
  }

  /**
   * POST /api/classes/:classId/terminals arriving here: placed on this host (`here` serves it), or
   * forwarded to the chosen host with the caller's credentials and the cluster header, its answer
   * returned as is. A chosen host that does not answer is skipped (served here if this host has
   * room), so one host dying mid-request does not fail the student's click.
   */
  async open<T>(c: Context, classId: string, userId: string, here: () => Promise<T>): Promise<T | Response> {
    // Forwarded by another host: served here (the sender counts it as in flight). The web origin
    // signs every request it forwards too (sender "web"), and those still need placing.
    const forwarded = this.verify(c);
    if (forwarded.ok && forwarded.sender !== 'web') return here();
    const { placement, hosts, done } = await this.place(classId, userId);
    try {
      if (!placement.ok) throw new RequestError('NO_HOST_AVAILABLE', `no sandbox host can take your terminal now: ${placement.reason}`, 'try again in a minute; tell your instructor if it persists');
      if (placement.hostId === this.id) return await here();
      const target = hosts.find((h) => h.id === placement.hostId)!;
      const url = new URL(c.req.url);
      const path = url.pathname + url.search;
      const headers: Record<string, string> = { [CLUSTER_HEADER]: this.sign('POST', path), 'x-forwarded-for': c.req.header('x-forwarded-for') ?? '' };
      for (const h of ['cookie', 'authorization', 'user-agent', 'content-type']) {
        const v = c.req.header(h);
        if (v) headers[h] = v;
      }
      try {
        const res = await fetch(new URL(path, target.address), { method: 'POST', headers, signal: c.req.raw.signal });
        return new Response(res.body, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? 'application/json', 'x-reg-host': target.id } });
      } catch (e) {
        if (c.req.raw.signal.aborted) throw e;
        // The host holding the student's workspace does not answer: it is probably dead but not yet
        // marked down, and its lease keeps the workspace from every other host until its failover.
        if (placement.why === 'lease') {
          this.deps!.log.error(`cluster: the host holding a workspace, ${target.id} (${target.address}), does not answer a terminal open`, e);
          throw new RequestError('NO_HOST_AVAILABLE', 'the sandbox host holding your workspace is not answering (it may have stopped)', 'reopen the terminal in a few seconds: your files are kept');
        }
        this.deps!.log.error(`cluster: forwarding a terminal to ${target.id} (${target.address}) failed; serving it here`, e);
        return await here();
      }
    } finally {
      done();
    }
  }

  async liveHostIds(): Promise<string[]> {
    return (await this.membership.liveHosts()).map((h) => h.id);
  }

  /**
   * Start class: which host prepares which student. Placement runs for each student in turn (free
   * memory taken as it goes, the class spread growing), a student whose workspace is leased to a
   * live host staying there. This host takes part even before it has published its address.
   */
  async assign(classId: string, userIds: string[], o: { only?: string[]; signal?: AbortSignal } = {}): Promise<Map<string, string[]>> {
    // Workspaces still leased to a host that is no longer live move once its failover has freed them.
    let hosts = await this.membership.liveHosts();
    const stale = await this.db.workspaceLease.findMany({ where: { classId, hostId: { notIn: hosts.map((h) => h.id) } }, distinct: ['hostId'], select: { hostId: true } });
    if (stale.length) {
      await Promise.all(stale.map((l) => this.settled(l.hostId, o.signal)));
      hosts = await this.membership.liveHosts();
    }
    const [cls, leases, counts] = await Promise.all([
      this.db.class.findUnique({ where: { id: classId }, select: { ret: true } }),
      this.db.workspaceLease.findMany({ where: { classId }, select: { userId: true, hostId: true } }),
      this.db.container.groupBy({ by: ['hostId'], where: { classId, status: { not: 'removed' }, hostId: { not: null } }, _count: { _all: true } }),
    ]);
    // `only`: the hosts allowed (those holding the class's RETs), except that a workspace leased
    // to another live host stays there (it cannot be mounted twice).
    const candidates = hosts.filter((h) => (h.address || h.id === this.id) && (!o.only || o.only.includes(h.id)));
    const liveNow = new Set(hosts.map((h) => h.id));
    const leaseOf = new Map(leases.map((l) => [l.userId, l.hostId]));
    const share = new Map<string, string[]>();
    const students: Array<{ userId: string; leaseHolder?: string }> = [];
    for (const userId of userIds) {
      const holder = leaseOf.get(userId);
      if (holder && o.only && !o.only.includes(holder) && liveNow.has(holder)) share.set(holder, [...(share.get(holder) ?? []), userId]);
      else students.push({ userId, ...(holder && { leaseHolder: holder }) });
    }
    const plan = planClass(candidates.length ? candidates : [{ id: this.id, freeMemoryBytes: 0, rets: [], containers: 0 }], {
      ret: cls?.ret ?? '',
      needBytes: PLACEMENT_NEED_BYTES,
      expectedBytes: PLACEMENT_EXPECTED_BYTES,
      classCounts: new Map(counts.map((c) => [c.hostId!, c._count._all])),
      students,
    });
    for (const [h, ids] of plan) share.set(h, [...(share.get(h) ?? []), ...ids]);
    return share;
  }

  /** Pre-pulls the class environment's RETs onto these hosts (this one directly, others over HTTP); audited as class.prepull. */
  async prepull(classId: string, hostIds: string[], who: Principal, signal?: AbortSignal): Promise<PrepullReport> {
    const cls = await this.db.class.findUnique({ where: { id: classId }, select: { ret: true, tools: true } });
    if (!cls) return summarise(classId, []);
    const refs = [cls.ret, ...(JSON.parse(cls.tools) as string[])];
    const hosts = await this.membership.liveHosts();
    const per = await Promise.all(
      hostIds.map(async (id): Promise<HostPrepull> => {
        if (id === this.id) return { hostId: id, results: await prepullHere(this.deps!.engine().home, refs) };
        const h = hosts.find((x) => x.id === id);
        return { hostId: id, results: h ? await this.remotePrepull(h, refs, signal) : refs.map((ref) => ({ ref, status: 'failed' as const, message: `host ${id} is no longer live`, ms: 0 })) };
      }),
    );
    const report = summarise(classId, per);
    for (const f of report.failed) this.deps!.log.error(`cluster: pre-pull for class ${classId} on ${f.hostId}: ${f.message}`);
    await audit(this.db, who, { action: 'class.prepull', targetType: 'class', targetId: classId, classId, details: { ...report } });
    return report;
  }

  /**
   * A signal that fires when host `hostId` stops being live (checked every heartbeat), or with
   * `signal`: a request to a host that froze or died must not wait for TCP to notice.
   */
  private whileLive(hostId: string, signal?: AbortSignal): { signal: AbortSignal; done: () => void } {
    const ac = new AbortController();
    const onAbort = () => ac.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setInterval(() => {
      void this.membership.liveHosts().then(
        (hosts) => {
          if (!hosts.some((h) => h.id === hostId)) ac.abort(new Error(`host ${hostId} stopped heartbeating`));
        },
        () => {},
      );
    }, this.config.heartbeatMs);
    timer.unref();
    return { signal: ac.signal, done: () => (clearInterval(timer), signal?.removeEventListener('abort', onAbort)) };
  }

  /**
   * Waits until a host that is no longer live has been failed over (its workspace leases freed),
   * so its students can be prepared elsewhere; at most FAILOVER_GRACE_MS (then leases are taken over anyway).
   */
  async settled(hostId: string, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + FAILOVER_GRACE_MS;
    while (Date.now() < deadline && !signal?.aborted) {
      if ((await this.membership.liveHosts()).some((h) => h.id === hostId)) return;
      const [leases, h] = await Promise.all([this.db.workspaceLease.count({ where: { hostId } }), this.db.host.findUnique({ where: { id: hostId }, select: { status: true } })]);
      if (leases === 0 && h?.status !== 'up') return;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Asks host `hostId` to prepare its share of a class start; each student's result as it streams in. */
  async prepareOn(hostId: string, classId: string, runId: string, userIds: string[], onResult: (r: PrepareResult) => void, signal: AbortSignal): Promise<void> {
    const h = (await this.membership.liveHosts()).find((x) => x.id === hostId && x.address);
    if (!h) throw new Error(`host ${hostId} is no longer live`);
    const watch = this.whileLive(hostId, signal);
    try {
      await this.readPrepare(h, classId, runId, userIds, onResult, watch.signal);
    } catch (e) {
      throw watch.signal.aborted && watch.signal.reason instanceof Error ? watch.signal.reason : e;
    } finally {
      watch.done();
    }
  }

  private async readPrepare(h: LiveHost, classId: string, runId: string, userIds: string[], onResult: (r: PrepareResult) => void, signal: AbortSignal): Promise<void> {
    const path = `/api/cluster/classes/${encodeURIComponent(classId)}/prepare`;
    const res = await fetch(new URL(path, h.address), { method: 'POST', headers: { 'content-type': 'application/json', [CLUSTER_HEADER]: this.sign('POST', path) }, body: JSON.stringify({ runId, userIds }), signal });
    if (res.status !== 200 || !res.body) throw new Error(`answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    let rest = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        const m = prepareLineSchema.safeParse(JSON.parse(line));
        if (!m.success) throw new Error(`sent a line that is not a result: ${line.slice(0, 200)}`);
        if ('done' in m.data) return;
        if ('error' in m.data) throw new Error(`${m.data.error.code}: ${m.data.error.message}`);
        onResult(m.data);
      }
    }
    throw new Error('stopped answering before it finished');
  }

  /** Stop class on every other live host (their share of a start cancelled, their sessions of the class ended). */
  async stopElsewhere(classId: string): Promise<number> {
    const others = (await this.membership.liveHosts()).filter((h) => h.id !== this.id && h.address);
    const path = `/api/cluster/classes/${encodeURIComponent(classId)}/stop`;
    const ended = await Promise.all(
      others.map(async (h) => {
        try {
          const res = await fetch(new URL(path, h.address), { method: 'POST', headers: { [CLUSTER_HEADER]: this.sign('POST', path) }, signal: AbortSignal.timeout(120_000) });
          if (res.status !== 200) throw new Error(`answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
          return ((await res.json()) as { ended: number }).ended;
        } catch (e) {
          // Its sessions end with it (failover) if it is going down; otherwise this is worth a look.
          this.deps!.log.error(`cluster: Stop class ${classId} on host ${h.id} (${h.address}) failed: ${(e as Error).message}`);
          return 0;
        }
      }),
    );
    return ended.reduce((a, b) => a + b, 0);
  }

  private async remotePrepull(h: LiveHost, refs: string[], signal?: AbortSignal): Promise<PrepullResult[]> {
    const path = '/api/cluster/prepull';
    const t0 = performance.now();
    const watch = this.whileLive(h.id, signal ? AbortSignal.any([signal, AbortSignal.timeout(10 * 60_000)]) : AbortSignal.timeout(10 * 60_000));
    try {
      const res = await fetch(new URL(path, h.address), { method: 'POST', headers: { 'content-type': 'application/json', [CLUSTER_HEADER]: this.sign('POST', path) }, body: JSON.stringify({ refs }), signal: watch.signal });
      if (res.status !== 200) throw new Error(`answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      return ((await res.json()) as { results: PrepullResult[] }).results;
    } catch (e) {
      const ms = Math.round(performance.now() - t0);
      const why = watch.signal.aborted && watch.signal.reason instanceof Error ? watch.signal.reason : (e as Error);
      return refs.map((ref) => ({ ref, status: 'failed' as const, message: `host ${h.id} (${h.address}) did not pre-pull: ${why.message}`, ms }));
    } finally {
      watch.done();
    }
  }

  async close(): Promise<void> {
    await this.membership?.leave().catch((e) => this.deps?.log.error('cluster: leaving', e));
    await this.releaseLeases().catch(() => {});
  }
}

/** Whether a path is a mount point in this mount namespace (octal escapes of mountinfo decoded). */
async function isMounted(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === path);
}

/** One line of a host's answer to a prepare request (NDJSON). */
const prepareLineSchema = z.union([
  z.object({ userId: z.string(), ok: z.literal(true) }),
  z.object({ userId: z.string(), ok: z.literal(false), code: z.string(), message: z.string() }),
  z.object({ done: z.literal(true) }),
  z.object({ error: z.object({ code: z.string(), message: z.string() }) }),
]);

export function sharedWorkspacesDir(sharedDir: string): string {
  return join(sharedDir, 'workspaces');
}
