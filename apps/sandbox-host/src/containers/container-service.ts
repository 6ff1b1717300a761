// What the API does with containers, and who may: the engine does the work, the database records
// ownership, the session registry runs terminals. Students see and touch only their own
// containers (others' are reported as not found, so ids leak nothing); TAs and instructors may look
// at the containers of the classes they assist or teach (observing and stopping them go through the
// class routes and the live view); admins may do anything.

import { assertContainerCap, cgroupLimitsOf, diskQuotaOf, effectiveLimits, listRets, loadLimitPolicy, RegError, type ContainerState, type Engine, type Limits } from '@reg/core';
import { createContainerSchema, type ContainerView } from '@reg/protocol';
import type { z } from 'zod';
import { AccessError, principalId, type Principal } from '../auth/principal.js';
import type { TokenSigner } from '../auth/signed-token.js';
import type { Db } from '../db/client.js';
import type { SessionRegistry } from '../terminals/session-registry.js';

const ID_RE = /^[0-9a-f]{12}$/;

type OwnerRow = { id: string; ownerId: string | null; classId: string | null; owner: { username: string } | null };

export class ContainerService {
  constructor(
    private readonly engine: Engine,
    private readonly db: Db,
    private readonly sessions: SessionRegistry,
    private readonly signer: TokenSigner,
    private readonly attachTtlMs: number,
  ) {}

  /** Containers being created per user right now (counted against the cap before they exist). */
  private readonly creating = new Map<string, number>();

  /**
   * Limits come from the server: the policy ($REG_HOME/limits.json within the host's ceilings),
   * then the class layer (H4), never the request — except the administrator's, who may pass
   * `limits` and `command`. A user over their concurrent-container cap gets LIMIT_EXCEEDED (429).
   */
  async create(
    p: Principal,
    body: z.output<typeof createContainerSchema>,
    /** What the server decides (a class environment): limit layers over the policy, the command, the workspace. */
    server: { limits?: Array<Partial<Limits> | undefined>; command?: string[]; home?: { dir: string; target?: string } } = {},
  ): Promise<ContainerView> {
    const isAdmin = p.kind === 'admin' || p.user.role === 'admin';
    for (const field of ['limits', 'command'] as const) {
      if (!isAdmin && body[field] !== undefined) {
        throw new RegError('USAGE', `"${field}" may not be set in a request: ${field === 'limits' ? 'limits come from the class or the administrator' : 'the command comes from the environment'}`, { field, hint: `leave "${field}" out` });
      }
    }
    const policy = await loadLimitPolicy(this.engine.home);
    const requested = body.limits && { ...(body.limits.memoryBytes !== undefined && { memoryBytes: body.limits.memoryBytes }), ...(body.limits.pids !== undefined && { pids: body.limits.pids }), ...(body.limits.cpuMillicores !== undefined && { cpus: body.limits.cpuMillicores / 1000 }) };
    const limits = effectiveLimits(policy, ...(server.limits ?? []), requested);
    const ownerId = principalId(p);
    if (ownerId) {
      assertContainerCap(policy, (await this.activeCount(ownerId)) + (this.creating.get(ownerId) ?? 0));
      this.creating.set(ownerId, (this.creating.get(ownerId) ?? 0) + 1);
    }
    let state: ContainerState;
    try {
      state = await this.engine.generate({
        ret: body.ret,
        ...((body.command ?? server.command) && { command: body.command ?? server.command }),
        ...(server.home && { home: server.home }),
        ...(body.name && { name: body.name }),
        limits: cgroupLimitsOf(limits),
        disk: diskQuotaOf(limits),
        // A terminal's writable layer ends with it (a tmpfs of the quota in its namespace), as does
        // one asked to be ephemeral; a detached container keeps its upper dir across stop/start (a loop volume).
        writable: body.terminal || body.ephemeral ? 'ephemeral' : 'persistent',
        ptys: limits.ptys,
        tty: body.terminal,
      });
    } finally {
      if (ownerId) this.creating.set(ownerId, (this.creating.get(ownerId) ?? 1) - 1);
    }
    await this.db.container.create({ data: { id: state.id, ownerId, ret: state.ret, name: state.name ?? null, command: JSON.stringify(state.command), tty: state.tty, status: state.status } });
    if (!body.terminal) return this.view(state, await this.row(state.id));
    try {
      return this.view(await this.sessions.open(state, ownerId), await this.row(state.id));
    } catch (e) {
      await this.engine.remove(state.id, { force: true }).catch(() => {});
      await this.db.container.update({ where: { id: state.id }, data: { status: 'removed', endReason: 'exited', endedAt: new Date() } }).catch(() => {});
      throw e;
    }
  }

  /** A user's containers that hold resources: not yet stopped or removed. */
  private async activeCount(ownerId: string): Promise<number> {
    const rows = await this.db.container.findMany({ where: { ownerId, status: { not: 'removed' } }, select: { id: true } });
    let n = 0;
    for (const r of rows) {
      const s = await this.engine.inspect(r.id).catch(() => undefined);
      if (s && s.status !== 'stopped' && s.status !== 'removed') n++;
    }
    return n;
  }

  async list(p: Principal): Promise<ContainerView[]> {
    const states = await this.engine.list({ all: true });
    const rows = await this.db.container.findMany({ where: { id: { in: states.map((s) => s.id) } }, include: { owner: { select: { username: true } } } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const assisted = await this.assistedClasses(p);
    return states.filter((s) => this.canSee(p, byId.get(s.id), assisted)).map((s) => this.view(s, byId.get(s.id)));
  }

  async get(p: Principal, id: string): Promise<ContainerView> {
    const { state, row } = await this.visible(p, id);
    return this.view(state, row);
  }

  async start(p: Principal, id: string): Promise<ContainerView> {
    const { state, row } = await this.changeable(p, id);
    const s = state.tty ? await this.sessions.open(state, row?.ownerId ?? null) : (await this.engine.start(id)).state;
    return this.view(s, row);
  }

  async stop(p: Principal, id: string): Promise<ContainerView> {
    const { row } = await this.changeable(p, id);
    // A terminal's container is removed when its session ends; others just stop.
    if (this.sessions.get(id)) {
      const before = await this.engine.inspect(id);
      await this.sessions.end(id, 'ended');
      return this.view({ ...before, status: 'removed' }, row);
    }
    const s = await this.engine.stop(id);
    await this.db.container.updateMany({ where: { id }, data: { status: s.status, outcome: s.outcome?.outcome ?? null, endedAt: new Date() } });
    return this.view(s, row);
  }

  async insert(p: Principal, id: string, ret: string): Promise<ContainerView> {
    const { row } = await this.changeable(p, id);
    return this.view(await this.engine.insert(id, ret), row);
  }

  async uninstall(p: Principal, id: string, ret: string): Promise<ContainerView> {
    const { row } = await this.changeable(p, id);
    return this.view(await this.engine.uninstall(id, ret), row);
  }

  async remove(p: Principal, id: string): Promise<ContainerView> {
    const { state, row } = await this.changeable(p, id);
    if (this.sessions.get(id)) {
      await this.sessions.end(id, 'removed');
      return this.view({ ...state, status: 'removed' }, row);
    }
    const s = await this.engine.remove(id, { force: true });
    await this.db.container.updateMany({ where: { id }, data: { status: 'removed', endReason: 'removed', endedAt: new Date() } });
    return this.view(s, row);
  }

  /** A short-lived token that lets the owner's browser attach to the container's terminal. */
  async attachToken(p: Principal, id: string): Promise<{ token: string; expiresAt: string }> {
    if (p.kind !== 'user') throw new AccessError('FORBIDDEN', 'terminal tokens are issued to signed-in users', 'sign in as the container\'s owner');
    const { row } = await this.changeable(p, id);
    if (!this.sessions.get(id)) throw new AccessError('NOT_FOUND', `container ${id} has no live terminal`, 'open a new terminal');
    if (row?.ownerId !== p.user.id) throw new AccessError('FORBIDDEN', `container ${id} is not yours`);
    const { token, expiresAt } = this.signer.sign({ kind: 'attach', sub: p.user.id, cid: id }, this.attachTtlMs);
    return { token, expiresAt: expiresAt.toISOString() };
  }

  async rets() {
    return (await listRets(this.engine.home)).map((r) => ({ name: r.name, version: r.version, kind: r.kind, requires: r.requires, ...(r.description && { description: r.description }) }));
  }

  private async row(id: string): Promise<OwnerRow | undefined> {
    return (await this.db.container.findUnique({ where: { id }, include: { owner: { select: { username: true } } } })) ?? undefined;
  }

  /** The classes whose containers this caller may look at: those they teach or assist. */
  private async assistedClasses(p: Principal): Promise<Set<string>> {
    if (p.kind === 'admin' || p.user.role === 'admin') return new Set();
    const [owned, helping] = await Promise.all([
      this.db.class.findMany({ where: { ownerId: p.user.id }, select: { id: true } }),
      this.db.enrolment.findMany({ where: { userId: p.user.id, role: { in: ['ta', 'instructor'] } }, select: { classId: true } }),
    ]);
    return new Set([...owned.map((c) => c.id), ...helping.map((e) => e.classId)]);
  }

  private canSee(p: Principal, row: OwnerRow | undefined, assisted: Set<string>): boolean {
    if (p.kind === 'admin' || p.user.role === 'admin') return true;
    if (row?.ownerId === p.user.id) return true;
    return row?.classId != null && assisted.has(row.classId);
  }

  private canChange(p: Principal, row: OwnerRow | undefined): boolean {
    if (p.kind === 'admin' || p.user.role === 'admin') return true;
    return row?.ownerId === p.user.id;
  }

  private async visible(p: Principal, id: string): Promise<{ state: ContainerState; row: OwnerRow | undefined }> {
    const notFound = new AccessError('NOT_FOUND', `no container ${id}`, 'list yours with GET /api/containers');
    if (!ID_RE.test(id)) throw notFound;
    const row = await this.row(id);
    if (!this.canSee(p, row, await this.assistedClasses(p))) throw notFound;
    const state = await this.engine.inspect(id).catch((e: { code?: string }) => {
      throw e.code === 'CONTAINER_NOT_FOUND' ? notFound : e;
    });
    return { state, row };
  }

  private async changeable(p: Principal, id: string) {
    const v = await this.visible(p, id);
    if (!this.canChange(p, v.row)) throw new AccessError('FORBIDDEN', `container ${id} belongs to someone else`);
    return v;
  }

  private view(s: ContainerState, row: OwnerRow | undefined): ContainerView {
    return {
      id: s.id,
      ...(s.name !== undefined && { name: s.name }),
      ret: s.ret,
      rets: s.rets,
      inserted: s.inserted.map((i) => ({ ref: i.ref, rets: i.rets })),
      command: s.command,
      status: s.status,
      tty: s.tty,
      createdAt: s.createdAt,
      ...(s.startedAt && { startedAt: s.startedAt }),
      ...(s.finishedAt && { finishedAt: s.finishedAt }),
      ...(s.outcome && { outcome: s.outcome }),
      owner: row?.owner?.username ?? null,
      attachable: this.sessions.get(s.id) !== undefined && s.status !== 'removed',
      ...(row?.classId && { classId: row.classId }),
    };
  }
}
