// Classes: creation, the environment (runtime, tools, limits within the admin's ceilings, idle
// policy, caps, workspace quota), members (students and TAs), roster import, join codes and
// archiving. Who may call what is decided before these methods run (the routes' scopes); they
// receive the caller's Access and keep to the class they were given.

import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { effectiveLimits, RegError, type Engine } from '@reg/core';
import type { ClassLimits, ClassRole, ClassRunView, ClassView, MemberView, RosterReply, UpdateEnvironment } from '@reg/protocol';
import { audit } from '../admin/audit.js';
import { loadLimitPolicy } from '../admin/limit-settings.js';
import { createOneTimeLogin } from '../auth/one-time-login.js';
import { hashPassword } from '../auth/password.js';
import { AccessError, type Principal } from '../auth/principal.js';
import { isAdmin, type Access } from '../auth/scopes.js';
import type { Db } from '../db/client.js';
import type { ClassEvents } from './class-events.js';
import { composeEnvironment } from './class-environment.js';
import { parseRoster } from './roster-file.js';

type ClassRow = NonNullable<Awaited<ReturnType<Db['class']['findUnique']>>>;
type RunRow = NonNullable<Awaited<ReturnType<Db['classRun']['findFirst']>>>;

/** Join codes: no 0/O, 1/I/L, so they read aloud and copy from a projector without mistakes. */
const JOIN_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

export function newJoinCode(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += JOIN_ALPHABET[randomInt(JOIN_ALPHABET.length)];
  return s;
}

/** A readable initial password: four groups, about 80 bits. */
function initialPassword(): string {
  return randomBytes(10).toString('base64url').replace(/(.{4})(?=.)/g, '$1-');
}

export function runView(r: RunRow | null | undefined, startedBy: string | null = null): ClassRunView | null {
  if (!r) return null;
  return {
    id: r.id,
    status: r.status as ClassRunView['status'],
    total: r.total,
    ready: r.ready,
    failed: r.failed,
    failures: JSON.parse(r.failures) as ClassRunView['failures'],
    startedAt: r.startedAt.toISOString(),
    readyAt: r.readyAt?.toISOString() ?? null,
    stoppedAt: r.stoppedAt?.toISOString() ?? null,
    startedBy,
  };
}

export class ClassService {
  constructor(
    private readonly db: Db,
    private readonly engine: Engine,
    private readonly events: ClassEvents,
    private readonly regHome: string,
  ) {}

  /** The class row, or NOT_FOUND (routes already checked membership; this catches races). */
  async row(classId: string): Promise<ClassRow> {
    const c = await this.db.class.findUnique({ where: { id: classId } });
    if (!c) throw new AccessError('NOT_FOUND', `no class ${classId}`, 'see your classes with GET /api/classes');
    return c;
  }

  /** Refuses changes to an archived class (its files and records stay readable). */
  async active(classId: string): Promise<ClassRow> {
    const c = await this.row(classId);
    if (c.archivedAt) throw new RegError('ILLEGAL_TRANSITION', `class "${c.name}" is archived`, { hint: 'unarchive it first (POST /api/classes/:classId/archive {"archived": false})' });
    return c;
  }

  async list(p: Principal, opts: { archived?: boolean } = {}): Promise<ClassView[]> {
    const admin = p.kind === 'admin' || p.user.role === 'admin';
    const uid = p.kind === 'user' ? p.user.id : '';
    const rows = await this.db.class.findMany({
      where: admin ? {} : { OR: [{ ownerId: uid }, { enrolments: { some: { userId: uid } } }] },
      include: { enrolments: { where: { userId: uid }, select: { role: true } } },
      orderBy: { createdAt: 'desc' },
    });
    const out: ClassView[] = [];
    for (const r of rows) {
      if (!opts.archived && r.archivedAt) continue;
      const role: ClassRole = admin || r.ownerId === uid ? 'instructor' : ((r.enrolments[0]?.role as ClassRole | undefined) ?? 'student');
      out.push(await this.view(r, role));
    }
    return out;
  }

  async get(access: Access, classId: string): Promise<ClassView> {
    return this.view(await this.row(classId), access.classRole ?? 'student');
  }

  async view(r: ClassRow, role: ClassRole): Promise<ClassView> {
    const [owner, counts, run] = await Promise.all([
      this.db.user.findUnique({ where: { id: r.ownerId }, select: { username: true } }),
      this.db.enrolment.groupBy({ by: ['role'], where: { classId: r.id }, _count: true }),
      this.db.classRun.findFirst({ where: { classId: r.id }, orderBy: { startedAt: 'desc' } }),
    ]);
    const count = (role: string) => counts.find((c) => c.role === role)?._count ?? 0;
    return {
      id: r.id,
      name: r.name,
      owner: owner?.username ?? '(deleted)',
      role,
      archived: r.archivedAt !== null,
      createdAt: r.createdAt.toISOString(),
      environment: {
        ret: r.ret,
        tools: JSON.parse(r.tools) as string[],
        limits: JSON.parse(r.limits) as ClassView['environment']['limits'],
        maxContainersPerStudent: r.maxContainersPerStudent,
        workspaceQuotaMiB: r.workspaceQuotaMiB,
        workspaceQuotaInodes: r.workspaceQuotaInodes,
        idleTimeoutSeconds: r.idleTimeoutSeconds,
        idleWarnSeconds: r.idleWarnSeconds,
        scheduledStartAt: r.scheduledStartAt?.toISOString() ?? null,
      },
      ...(role === 'instructor' && { joinCode: r.joinCode }),
      students: count('student'),
      tas: count('ta'),
      run: runView(run),
    };
  }

  async create(p: Principal, body: { name: string; ret: string; tools: string[] }): Promise<ClassView> {
    if (p.kind !== 'user') throw new AccessError('FORBIDDEN', 'a class belongs to an instructor: create it signed in as one', 'sign in with an instructor account');
    // Composed now, so a missing RET or two tools that disagree about a file are named at once.
    await composeEnvironment(this.engine.home, body.ret, dedupe(body.tools));
    const c = await this.db.class.create({ data: { id: randomUUID(), name: body.name, ownerId: p.user.id, ret: body.ret, tools: JSON.stringify(dedupe(body.tools)), joinCode: newJoinCode() } });
    await audit(this.db, p, { action: 'class.create', targetType: 'class', targetId: c.id, classId: c.id, details: { name: c.name, ret: c.ret, tools: body.tools } });
    return this.view(c, 'instructor');
  }

  async updateEnvironment(p: Principal, classId: string, body: UpdateEnvironment): Promise<ClassView> {
    const c = await this.active(classId);
    const ret = body.ret ?? c.ret;
    const tools = body.tools ? dedupe(body.tools) : (JSON.parse(c.tools) as string[]);
    if (body.ret !== undefined || body.tools !== undefined) await composeEnvironment(this.engine.home, ret, tools);
    if (body.limits !== undefined) {
      // Within the admin's ceilings now (effectiveLimits names the field that is over).
      const policy = await loadLimitPolicy(this.db, this.regHome);
      try {
        effectiveLimits(policy, body.limits);
      } catch (e) {
        throw new RegError('INVALID_LIMITS', `limits: ${(e as Error).message}`, { field: `limits`, hint: 'the administrator sets the ceilings (admin → limits)' });
      }
    }
    if (body.idleWarnSeconds != null && (body.idleTimeoutSeconds ?? c.idleTimeoutSeconds) != null && body.idleWarnSeconds >= (body.idleTimeoutSeconds ?? c.idleTimeoutSeconds)!) {
      throw new RegError('USAGE', 'idleWarnSeconds must be shorter than idleTimeoutSeconds', { field: 'idleWarnSeconds' });
    }
    const updated = await this.db.class.update({
      where: { id: classId },
      data: {
        ...(body.name !== undefined && { name: body.name }),
        ret,
        tools: JSON.stringify(tools),
        ...(body.limits !== undefined && { limits: JSON.stringify(body.limits) }),
        ...(body.maxContainersPerStudent !== undefined && { maxContainersPerStudent: body.maxContainersPerStudent }),
        ...(body.workspaceQuotaMiB !== undefined && { workspaceQuotaMiB: body.workspaceQuotaMiB }),
        ...(body.workspaceQuotaInodes !== undefined && { workspaceQuotaInodes: body.workspaceQuotaInodes }),
        ...(body.idleTimeoutSeconds !== undefined && { idleTimeoutSeconds: body.idleTimeoutSeconds }),
        ...(body.idleWarnSeconds !== undefined && { idleWarnSeconds: body.idleWarnSeconds }),
        ...(body.scheduledStartAt !== undefined && { scheduledStartAt: body.scheduledStartAt ? new Date(body.scheduledStartAt) : null }),
      },
    });
    await audit(this.db, p, { action: 'class.environment', targetType: 'class', targetId: classId, classId, details: body as Record<string, unknown> });
    this.events.emit({ type: 'changed', classId, what: 'environment' });
    return this.view(updated, 'instructor');
  }

  async archive(p: Principal, classId: string, archived: boolean): Promise<ClassView> {
    await this.row(classId);
    const c = await this.db.class.update({ where: { id: classId }, data: { archivedAt: archived ? new Date() : null, ...(archived && { joinCode: null }) } });
    await audit(this.db, p, { action: archived ? 'class.archive' : 'class.unarchive', targetType: 'class', targetId: classId, classId });
    this.events.emit({ type: 'changed', classId, what: 'class' });
    return this.view(c, 'instructor');
  }

  async joinCode(p: Principal, classId: string, action: 'rotate' | 'disable'): Promise<{ joinCode: string | null }> {
    await this.active(classId);
    const joinCode = action === 'rotate' ? newJoinCode() : null;
    await this.db.class.update({ where: { id: classId }, data: { joinCode } });
    await audit(this.db, p, { action: `class.join-code.${action}`, targetType: 'class', targetId: classId, classId });
    return { joinCode };
  }

  /** A student joins with a code; a wrong or disabled code says so without naming any class. */
  async join(p: Principal, code: string): Promise<ClassView> {
    if (p.kind !== 'user') throw new AccessError('FORBIDDEN', 'join a class signed in as a student');
    const c = await this.db.class.findUnique({ where: { joinCode: code.trim().toUpperCase() } });
    if (!c || c.archivedAt) throw new AccessError('NOT_FOUND', 'no class has this join code', 'check the code with your instructor (it may have been changed)');
    if (c.ownerId === p.user.id) return this.view(c, 'instructor');
    const existing = await this.db.enrolment.findUnique({ where: { classId_userId: { classId: c.id, userId: p.user.id } } });
    if (!existing) {
      await this.db.enrolment.create({ data: { classId: c.id, userId: p.user.id, role: 'student' } });
      await audit(this.db, p, { action: 'class.join', targetType: 'user', targetId: p.user.id, classId: c.id });
      this.events.emit({ type: 'changed', classId: c.id, what: 'roster' });
    }
    return this.view(c, (existing?.role as ClassRole | undefined) ?? 'student');
  }

  async members(classId: string): Promise<MemberView[]> {
    const c = await this.row(classId);
    const [rows, workspaces, owner] = await Promise.all([
      this.db.enrolment.findMany({ where: { classId }, include: { user: true }, orderBy: { user: { username: 'asc' } } }),
      this.db.workspace.findMany({ where: { classId } }),
      this.db.user.findUnique({ where: { id: c.ownerId } }),
    ]);
    const ws = new Map(workspaces.map((w) => [w.userId, w]));
    const out: MemberView[] = [];
    if (owner) out.push({ userId: owner.id, username: owner.username, displayName: owner.displayName, email: owner.email, role: 'instructor', joinedAt: c.createdAt.toISOString(), workspace: null });
    for (const e of rows) {
      if (e.userId === c.ownerId) continue;
      const w = ws.get(e.userId);
      out.push({
        userId: e.userId,
        username: e.user.username,
        displayName: e.user.displayName,
        email: e.user.email,
        role: e.role as ClassRole,
        joinedAt: e.createdAt.toISOString(),
        workspace: w ? { bytesUsed: w.bytesUsed, lastUsedAt: w.lastUsedAt?.toISOString() ?? null } : null,
        limits: JSON.parse(e.limits) as ClassLimits,
      });
    }
    return out;
  }

  /** The class's students (for start, distribute, collect). */
  async students(classId: string): Promise<Array<{ userId: string; username: string }>> {
    const rows = await this.db.enrolment.findMany({ where: { classId, role: 'student' }, include: { user: { select: { username: true, disabledAt: true } } }, orderBy: { user: { username: 'asc' } } });
    return rows.filter((r) => !r.user.disabledAt).map((r) => ({ userId: r.userId, username: r.user.username }));
  }

  async addMember(p: Principal, classId: string, body: { username: string; role: 'student' | 'ta' }): Promise<MemberView[]> {
    const c = await this.active(classId);
    const u = await this.db.user.findUnique({ where: { username: body.username.toLowerCase() } });
    if (!u) throw new RegError('FILE_NOT_FOUND', `no user "${body.username}"`, { field: 'username', hint: 'import them with a roster file, or ask them to join with the class code' });
    if (u.id === c.ownerId) throw new RegError('USAGE', `${u.username} is this class's instructor`, { field: 'username' });
    const refusal = enrolRefusal(p, u);
    if (refusal) throw new AccessError('FORBIDDEN', refusal, 'ask an admin to add this account, or add a student account');
    await this.db.enrolment.upsert({ where: { classId_userId: { classId, userId: u.id } }, create: { classId, userId: u.id, role: body.role }, update: { role: body.role } });
    await audit(this.db, p, { action: body.role === 'ta' ? 'class.ta.add' : 'class.student.add', targetType: 'user', targetId: u.id, classId, details: { username: u.username } });
    this.events.emit({ type: 'changed', classId, what: 'roster' });
    return this.members(classId);
  }

  /**
   * Sets one student's limits in the class: a layer over the class's, checked against the admin's
   * ceilings now (the same effectiveLimits the terminals use); `{}` clears it. Applies to the
   * student's next terminal.
   */
  async setMemberLimits(p: Principal, classId: string, userId: string, limits: ClassLimits): Promise<MemberView[]> {
    const c = await this.active(classId);
    const e = await this.db.enrolment.findUnique({ where: { classId_userId: { classId, userId } } });
    if (!e) throw new AccessError('NOT_FOUND', `user ${userId} is not a member of this class`);
    const policy = await loadLimitPolicy(this.db, this.regHome);
    try {
      effectiveLimits(policy, JSON.parse(c.limits) as ClassLimits, limits);
    } catch (err) {
      throw new RegError('INVALID_LIMITS', `limits: ${(err as Error).message}`, { field: 'limits', hint: 'the administrator sets the ceilings (admin → limits)' });
    }
    await this.db.enrolment.update({ where: { classId_userId: { classId, userId } }, data: { limits: JSON.stringify(limits) } });
    await audit(this.db, p, { action: 'class.member.limits', targetType: 'user', targetId: userId, classId, details: { before: JSON.parse(e.limits), after: limits } });
    this.events.emit({ type: 'changed', classId, what: 'roster' });
    return this.members(classId);
  }

  async removeMember(p: Principal, classId: string, userId: string): Promise<MemberView[]> {
    const c = await this.row(classId);
    if (userId === c.ownerId) throw new RegError('USAGE', 'the class owner cannot be removed', { field: 'userId' });
    const r = await this.db.enrolment.deleteMany({ where: { classId, userId } });
    if (r.count === 0) throw new AccessError('NOT_FOUND', `user ${userId} is not a member of this class`);
    await audit(this.db, p, { action: 'class.member.remove', targetType: 'user', targetId: userId, classId });
    this.events.emit({ type: 'changed', classId, what: 'roster' });
    return this.members(classId);
  }

  /**
   * Imports a roster file: every problem named by line and field and nothing imported unless the
   * whole file is valid; then, in one transaction, new accounts are created (with an initial
   * password, shown once) and everyone is enrolled as a student. Existing users keep their
   * password; members keep their role.
   */
  async importRoster(p: Principal, classId: string, bytes: Uint8Array, credentials: 'password' | 'link' = 'password'): Promise<RosterReply> {
    await this.active(classId);
    const parsed = parseRoster(bytes);
    if (!parsed.ok) {
      const n = parsed.issues.length;
      throw new RegError('USAGE', `the roster has ${n} problem${n === 1 ? '' : 's'}; nothing was imported: fix ${n === 1 ? 'it' : 'them'} and upload the file again`, {
        field: 'roster',
        issues: parsed.issues.map((i) => ({ path: `line ${i.line}: ${i.field}`, message: i.message, line: i.line })),
      });
    }
    const rows = parsed.rows;
    const existing = await this.db.user.findMany({ where: { username: { in: rows.map((r) => r.username) } }, include: { enrolments: { where: { classId } } } });
    const byName = new Map(existing.map((u) => [u.username, u]));
    // Only accounts that are students may be enrolled by an instructor (an admin may enrol anyone);
    // members already in the class are left as they are.
    const refused = rows.flatMap((r) => {
      const u = byName.get(r.username);
      const why = u && u.enrolments.length === 0 ? enrolRefusal(p, u) : undefined;
      return why ? [{ path: `line ${r.line}: username`, message: why, line: r.line }] : [];
    });
    if (refused.length) {
      const n = refused.length;
      throw new RegError('USAGE', `the roster has ${n} account${n === 1 ? '' : 's'} that cannot be enrolled; nothing was imported: remove ${n === 1 ? 'that line' : 'those lines'} (or ask an admin to import the file)`, { field: 'roster', issues: refused });
    }
    // Hash outside the transaction (scrypt is slow); the transaction only writes.
    const fresh = rows.filter((r) => !byName.has(r.username));
    const passwords = new Map<string, string>();
    const hashes = new Map<string, string>();
    for (const r of fresh) {
      // With links, the password is random and never shown: the link is the way in.
      const pw = initialPassword();
      if (credentials === 'password') passwords.set(r.username, pw);
      hashes.set(r.username, await hashPassword(pw));
    }
    const createdById = p.kind === 'user' ? p.user.id : null;
    const reply: RosterReply = { created: [], enrolled: [], unchanged: [] };
    const newIds = new Map<string, string>();
    await this.db.$transaction(async (tx) => {
      for (const r of rows) {
        const u = byName.get(r.username);
        if (!u) {
          const id = randomUUID();
          await tx.user.create({ data: { id, username: r.username, displayName: r.displayName, email: r.email, role: 'student', passwordHash: hashes.get(r.username)!, mustChangePassword: true, createdById } });
          await tx.enrolment.create({ data: { classId, userId: id, role: 'student' } });
          reply.created.push({ username: r.username, displayName: r.displayName, ...(credentials === 'password' && { password: passwords.get(r.username)! }) });
          newIds.set(r.username, id);
        } else if (u.enrolments.length > 0) {
          reply.unchanged.push(r.username);
        } else {
          await tx.enrolment.create({ data: { classId, userId: u.id, role: 'student' } });
          reply.enrolled.push(r.username);
        }
      }
    });
    if (credentials === 'link') {
      for (const c of reply.created) {
        const link = await createOneTimeLogin(this.db, { userId: newIds.get(c.username)!, createdById });
        c.signInLink = link.path;
      }
    }
    await audit(this.db, p, { action: 'roster.import', targetType: 'class', targetId: classId, classId, details: { created: reply.created.length, enrolled: reply.enrolled.length, unchanged: reply.unchanged.length, credentials } });
    this.events.emit({ type: 'changed', classId, what: 'roster' });
    return reply;
  }
}

/**
 * Why `p` may not enrol account `u` in a class as `role` (undefined: they may). Enrolling someone
 * lets the class's instructors and TAs watch their terminals and download their workspace, so an
 * instructor may enrol only accounts that are students (as students or TAs); instructor and admin
 * accounts join a class only by an admin's hand (or themselves, with the join code).
 */
export function enrolRefusal(p: Principal, u: { username: string; role: string }): string | undefined {
  if (isAdmin(p) || u.role === 'student') return undefined;
  const what = u.role === 'admin' ? 'an admin' : u.role === 'instructor' ? 'an instructor' : `a ${u.role}`;
  return `${u.username} is ${what} account: an instructor may enrol only student accounts, as students or TAs; an admin can add it`;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}
