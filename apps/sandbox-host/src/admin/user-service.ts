// Account management for admins: list and search, create (one at a time or a CSV import, all or
// nothing), change role, disable/enable, reset a password, delete. A new or reset account gets a
// first credential shown to the admin once (an initial password the user must change, or a
// one-time sign-in link); only hashes are stored. Disabling, resetting and deleting sign the user
// out everywhere (AuthService.cutOff: sessions revoked, containers ended with a sentence they
// see). Every change is recorded with audit(). An admin cannot disable, demote or delete
// themselves, nor the last enabled admin: the host must never be left without one.

import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { Workspaces, type Engine } from '@reg/core';
import type { AdminUser, createUserSchema, Role, updateUserSchema, userListQuerySchema } from '@reg/protocol';
import { z, type ZodError } from 'zod';
import type { AuthService } from '../auth/auth-service.js';
import type { AuthSessions } from '../auth/auth-sessions.js';
import { createOneTimeLogin, DEFAULT_LINK_TTL_MS, ONE_TIME_LOGIN_PAGE, revokeOneTimeLogins } from '../auth/one-time-login.js';
import { hashPassword } from '../auth/password.js';
import { AccessError, RequestError, principalId, type Principal } from '../auth/principal.js';
import type { Db } from '../db/client.js';
import { audit } from './audit.js';
import { parsePeopleCsv } from '../auth/people-csv.js';

/** Stored for accounts whose first way in is a link: no password verifies against it. */
const NO_PASSWORD = '!no-password';
const PASSWORD_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

export function initialPassword(length = 14): string {
  let s = '';
  for (let i = 0; i < length; i++) s += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
  return s;
}

type Credential = { username: string; initialPassword?: string; link?: string; expiresAt?: string };

export interface UserServiceDeps {
  db: Db;
  engine: Engine;
  auth: AuthService;
  sessions: AuthSessions;
  /** Live containers per owner id (the session registry and the engine know). */
  runningByOwner(): Map<string, number>;
}

export class UserService {
  constructor(private readonly d: UserServiceDeps) {}

  async list(q: z.output<typeof userListQuerySchema>): Promise<{ users: AdminUser[]; total: number; page: number; pageSize: number }> {
    const where = {
      ...(q.q && { OR: [{ username: { contains: q.q } }, { displayName: { contains: q.q } }, { email: { contains: q.q } }] }),
      ...(q.role && { role: q.role }),
      ...(q.status === 'disabled' ? { disabledAt: { not: null } } : q.status === 'active' ? { disabledAt: null } : {}),
    };
    const [total, rows] = await Promise.all([
      this.d.db.user.count({ where }),
      this.d.db.user.findMany({ where, orderBy: { username: 'asc' }, skip: (q.page - 1) * q.pageSize, take: q.pageSize }),
    ]);
    return { users: await this.views(rows), total, page: q.page, pageSize: q.pageSize };
  }

  async get(userId: string): Promise<AdminUser> {
    const u = await this.d.db.user.findUnique({ where: { id: userId } });
    if (!u) throw new AccessError('NOT_FOUND', `no user ${userId}`, 'see GET /api/admin/users');
    return (await this.views([u]))[0]!;
  }

  async create(actor: Principal, body: z.output<typeof createUserSchema>, ip: string): Promise<{ user: AdminUser; credential: Credential }> {
    if (await this.d.db.user.findUnique({ where: { username: body.username } })) {
      throw new RequestError('CONFLICT', `username: "${body.username}" is taken`, 'choose another username');
    }
    const id = randomUUID();
    const pw = body.credential === 'password' ? initialPassword() : undefined;
    await this.d.db.user.create({
      data: { id, username: body.username, displayName: body.displayName ?? null, email: body.email ?? null, role: body.role, passwordHash: pw ? await hashPassword(pw) : NO_PASSWORD, mustChangePassword: true, createdById: principalId(actor) },
    });
    const credential = await this.credentialFor(actor, id, body.username, pw);
    await audit(this.d.db, actor, { action: 'user.create', targetType: 'user', targetId: id, details: { username: body.username, role: body.role, credential: body.credential }, ip });
    return { user: await this.get(id), credential };
  }

  /** Creates every account of the file, or none: problems are reported by line and field. */
  async import(actor: Principal, csv: string, mode: 'password' | 'link', ip: string): Promise<{ created: Credential[] }> {
    const parsed = parsePeopleCsv(csv, { noun: 'user', withRole: true });
    if (!parsed.ok) throw importError(parsed.issues);
    const taken = await this.d.db.user.findMany({ where: { username: { in: parsed.rows.map((r) => r.username) } }, select: { username: true } });
    if (taken.length) {
      const names = new Set(taken.map((t) => t.username));
      throw importError(parsed.rows.filter((r) => names.has(r.username)).map((r) => ({ line: r.line, field: 'username', message: `"${r.username}" already exists` })));
    }
    const creatorId = principalId(actor);
    const prepared = await mapLimit(parsed.rows, 4, async (r) => {
      const pw = mode === 'password' ? initialPassword() : undefined;
      const token = mode === 'link' ? randomBytes(32).toString('base64url') : undefined;
      return { r, id: randomUUID(), pw, token, hash: pw ? await hashPassword(pw) : NO_PASSWORD };
    });
    const expiresAt = new Date(Date.now() + DEFAULT_LINK_TTL_MS);
    await this.d.db.$transaction(async (tx) => {
      await tx.user.createMany({
        data: prepared.map((p) => ({ id: p.id, username: p.r.username, displayName: p.r.displayName, email: p.r.email, role: p.r.role, passwordHash: p.hash, mustChangePassword: true, createdById: creatorId })),
      });
      const links = prepared.filter((p) => p.token);
      if (links.length) {
        await tx.oneTimeLogin.createMany({
          data: links.map((p) => ({ id: randomUUID(), userId: p.id, tokenHash: createHash('sha256').update(p.token!).digest('hex'), expiresAt, createdById: creatorId })),
        });
      }
    });
    await audit(this.d.db, actor, { action: 'user.import', targetType: 'user', details: { count: prepared.length, credential: mode, usernames: prepared.slice(0, 50).map((p) => p.r.username) }, ip });
    return {
      created: prepared.map((p) => ({
        username: p.r.username,
        ...(p.pw && { initialPassword: p.pw }),
        ...(p.token && { link: `${ONE_TIME_LOGIN_PAGE}#${p.token}`, expiresAt: expiresAt.toISOString() }),
      })),
    };
  }

  async update(actor: Principal, userId: string, body: z.output<typeof updateUserSchema>, ip: string): Promise<AdminUser> {
    const u = await this.d.db.user.findUnique({ where: { id: userId } });
    if (!u) throw new AccessError('NOT_FOUND', `no user ${userId}`);
    const self = principalId(actor) === userId;
    if (self && (body.disabled === true || (body.role && body.role !== 'admin'))) {
      throw new AccessError('FORBIDDEN', 'you cannot disable or demote your own account', 'ask another admin');
    }
    if (u.role === 'admin' && !u.disabledAt && (body.disabled === true || (body.role && body.role !== 'admin'))) await this.keepOneAdmin(userId);
    await this.d.db.user.update({
      where: { id: userId },
      data: {
        ...(body.role && { role: body.role }),
        ...(body.disabled !== undefined && { disabledAt: body.disabled ? (u.disabledAt ?? new Date()) : null }),
        ...(body.displayName !== undefined && { displayName: body.displayName }),
        ...(body.email !== undefined && { email: body.email }),
      },
    });
    if (body.disabled === true && !u.disabledAt) {
      const r = await this.d.auth.cutOff(userId, 'disabled', 'your account was disabled by an administrator');
      await audit(this.d.db, actor, { action: 'user.disable', targetType: 'user', targetId: userId, details: { username: u.username, ...r }, ip });
    }
    if (body.disabled === false && u.disabledAt) await audit(this.d.db, actor, { action: 'user.enable', targetType: 'user', targetId: userId, details: { username: u.username }, ip });
    if (body.role && body.role !== u.role) {
      // Sessions stay, but their cached role must not: the next request re-reads it.
      this.d.sessions.forgetUser(userId);
      await audit(this.d.db, actor, { action: 'user.role', targetType: 'user', targetId: userId, details: { username: u.username, from: u.role, to: body.role }, ip });
    }
    if (body.displayName !== undefined || body.email !== undefined) {
      await audit(this.d.db, actor, { action: 'user.edit', targetType: 'user', targetId: userId, details: { username: u.username, ...(body.displayName !== undefined && { displayName: body.displayName }), ...(body.email !== undefined && { email: body.email }) }, ip });
    }
    return this.get(userId);
  }

  async resetPassword(actor: Principal, userId: string, mode: 'password' | 'link', ip: string): Promise<{ user: AdminUser; credential: Credential }> {
    const u = await this.d.db.user.findUnique({ where: { id: userId } });
    if (!u) throw new AccessError('NOT_FOUND', `no user ${userId}`);
    const pw = mode === 'password' ? initialPassword() : undefined;
    await this.d.db.user.update({ where: { id: userId }, data: { passwordHash: pw ? await hashPassword(pw) : NO_PASSWORD, mustChangePassword: true } });
    const r = await this.d.auth.cutOff(userId, 'password-reset', 'your password was reset by an administrator; sign in again');
    const credential = await this.credentialFor(actor, userId, u.username, pw);
    await audit(this.d.db, actor, { action: 'user.reset-password', targetType: 'user', targetId: userId, details: { username: u.username, credential: mode, ...r }, ip });
    return { user: await this.get(userId), credential };
  }

  /** Deletes an account: containers end, workspaces are kept on disk or removed, as the admin chose. */
  async remove(actor: Principal, userId: string, opts: { workspaces: 'keep' | 'remove'; confirm: string }, ip: string): Promise<{ ok: true; containersEnded: number; workspaces: 'kept' | 'removed' }> {
    const u = await this.d.db.user.findUnique({ where: { id: userId }, include: { workspaces: { select: { classId: true } }, ownedClasses: { select: { id: true, name: true } } } });
    if (!u) throw new AccessError('NOT_FOUND', `no user ${userId}`);
    if (opts.confirm !== u.username) throw new AccessError('BAD_REQUEST', `confirm: type the username "${u.username}" to confirm the deletion`);
    if (principalId(actor) === userId) throw new AccessError('FORBIDDEN', 'you cannot delete your own account', 'ask another admin');
    if (u.ownedClasses.length) {
      throw new RequestError('CONFLICT', `${u.username} owns ${u.ownedClasses.length} class(es) (${u.ownedClasses.map((c) => c.name).slice(0, 3).join(', ')})`, 'archive them or give them to another instructor first, or disable the account instead');
    }
    if (u.role === 'admin' && !u.disabledAt) await this.keepOneAdmin(userId);
    const { containersEnded } = await this.d.auth.cutOff(userId, 'deleted', 'your account was deleted by an administrator');
    if (opts.workspaces === 'remove' && u.workspaces.length) {
      const ws = await Workspaces.open(this.d.engine.home);
      for (const w of u.workspaces) await ws.remove({ classId: w.classId, userId });
    }
    await this.d.db.user.delete({ where: { id: userId } });
    await audit(this.d.db, actor, { action: 'user.delete', targetType: 'user', targetId: userId, details: { username: u.username, role: u.role, containersEnded, workspaces: opts.workspaces, workspaceCount: u.workspaces.length }, ip });
    return { ok: true, containersEnded, workspaces: opts.workspaces === 'remove' ? 'removed' : 'kept' };
  }

  private async keepOneAdmin(leavingId: string): Promise<void> {
    const others = await this.d.db.user.count({ where: { role: 'admin', disabledAt: null, id: { not: leavingId } } });
    if (others === 0) throw new RequestError('CONFLICT', 'this is the last enabled admin account', 'make another account an admin first');
  }

  private async credentialFor(actor: Principal, userId: string, username: string, pw: string | undefined): Promise<Credential> {
    if (pw) return { username, initialPassword: pw };
    await revokeOneTimeLogins(this.d.db, userId);
    const link = await createOneTimeLogin(this.d.db, { userId, createdById: principalId(actor) });
    return { username, link: link.path, expiresAt: link.expiresAt.toISOString() };
  }

  private async views(rows: Array<{ id: string; username: string; displayName: string | null; email: string | null; role: string; disabledAt: Date | null; mustChangePassword: boolean; createdAt: Date }>): Promise<AdminUser[]> {
    const ids = rows.map((r) => r.id);
    const now = new Date();
    const [sessions, classes, seen] = await Promise.all([
      this.d.db.authSession.groupBy({ by: ['userId'], where: { userId: { in: ids }, revokedAt: null, expiresAt: { gt: now } }, _count: { _all: true } }),
      this.d.db.enrolment.groupBy({ by: ['userId'], where: { userId: { in: ids } }, _count: { _all: true } }),
      this.d.db.authSession.groupBy({ by: ['userId'], where: { userId: { in: ids } }, _max: { lastSeenAt: true, createdAt: true } }),
    ]);
    const sessionsOf = new Map(sessions.map((s) => [s.userId, s._count._all]));
    const classesOf = new Map(classes.map((s) => [s.userId, s._count._all]));
    const seenOf = new Map(seen.map((s) => [s.userId, s._max.lastSeenAt ?? s._max.createdAt]));
    const running = this.d.runningByOwner();
    return rows.map((u) => ({
      id: u.id,
      username: u.username,
      displayName: u.displayName,
      email: u.email,
      role: u.role as Role,
      disabled: u.disabledAt !== null,
      mustChangePassword: u.mustChangePassword,
      createdAt: u.createdAt.toISOString(),
      sessions: sessionsOf.get(u.id) ?? 0,
      runningContainers: running.get(u.id) ?? 0,
      classes: classesOf.get(u.id) ?? 0,
      lastSeenAt: seenOf.get(u.id)?.toISOString() ?? null,
    }));
  }
}

/** A 400 naming each line and field, in the same shape as a request that fails its schema. */
function importError(issues: Array<{ line: number; field: string; message: string }>): ZodError {
  // Built by a real parse: a hand-constructed ZodError is not an Error the HTTP layer catches.
  const r = z
    .unknown()
    .superRefine((_, ctx) => {
      for (const i of issues) ctx.addIssue({ code: 'custom', path: [`line ${i.line}`, i.field], message: i.message });
    })
    .safeParse(null);
  return r.error!;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
