// Who may: every API route and socket event names the scope it needs, and this one module decides,
// before any handler runs, whether the caller holds it (JupyterHub's RBAC scopes are the model:
// a scope, optionally narrowed to one class). The table below is the whole policy; a test walks
// the route table with every role and proves each route refuses the ones it should.
//
// Class-scoped refusals answer NOT_FOUND to people outside the class (a class id reveals nothing)
// and FORBIDDEN to members whose class role is too weak (a TA calling an instructor route).

import type { ClassRole, Role } from '@reg/protocol';
import { AccessError, type Principal } from './principal.js';

export const SCOPES = {
  /** No sign-in needed (sign-in itself, the OpenAPI description). */
  public: 'anyone',
  /** Any signed-in user: their own account, their own containers and workspaces. */
  self: 'any signed-in user',
  /** Create classes. */
  'classes:create': 'instructors and admins',
  /** See a class and use its environment: any member (student, TA, instructor). */
  'class:read': 'members of the class',
  /** The live class view, observing and helping students: TAs and instructors of the class. */
  'class:assist': 'TAs and instructors of the class',
  /** Roster, environment, start/stop, distribute/collect, archive: instructors of the class. */
  'class:manage': 'instructors of the class',
  /** Users, host-wide limits, the memory dashboard, metrics, the audit log. */
  admin: 'admins',
} as const;
export type Scope = keyof typeof SCOPES;

/** The class role each class scope needs, weakest first. */
const CLASS_ROLE_RANK: Record<ClassRole, number> = { student: 0, ta: 1, instructor: 2 };
const NEEDED_RANK: Partial<Record<Scope, number>> = { 'class:read': 0, 'class:assist': 1, 'class:manage': 2 };

export const isClassScope = (s: Scope): boolean => NEEDED_RANK[s] !== undefined;

/** How the caller stands in one class (undefined: not a member). Owners count as instructors. */
export type ClassMembership = (userId: string, classId: string) => Promise<ClassRole | undefined>;

export interface Access {
  principal: Principal;
  /** Global admin: the unix socket or a user with role admin. */
  isAdmin: boolean;
  /** The caller's role in the route's class (admins: 'instructor'), for class-scoped routes. */
  classRole?: ClassRole;
}

export const isAdmin = (p: Principal): boolean => p.kind === 'admin' || p.user.role === 'admin';
export const roleOf = (p: Principal): Role => (p.kind === 'admin' ? 'admin' : p.user.role);

/**
 * Checks that `principal` holds `scope` (for class scopes, in class `classId`). Throws
 * AccessError (UNAUTHENTICATED, FORBIDDEN or NOT_FOUND); returns what the handler may need.
 */
export async function authorize(principal: Principal | undefined, scope: Scope, opts: { classId?: string; membership: ClassMembership }): Promise<Access> {
  if (scope === 'public') {
    const p = principal ?? anonymous;
    return { principal: p, isAdmin: principal ? isAdmin(principal) : false };
  }
  if (!principal) throw new AccessError('UNAUTHENTICATED', 'sign in first', 'POST /api/auth/sign-in, then send the reg_session cookie or Authorization: Bearer <token>');
  const admin = isAdmin(principal);
  if (scope === 'self') return { principal, isAdmin: admin };
  if (scope === 'admin') {
    if (!admin) throw new AccessError('FORBIDDEN', 'this needs an administrator', 'sign in with an admin account');
    return { principal, isAdmin: true };
  }
  if (scope === 'classes:create') {
    if (!admin && roleOf(principal) !== 'instructor') throw new AccessError('FORBIDDEN', 'only instructors and admins create classes', 'ask an admin to make your account an instructor');
    return { principal, isAdmin: admin };
  }
  const needed = NEEDED_RANK[scope];
  if (needed === undefined) throw new Error(`unknown scope ${scope}`);
  const classId = opts.classId ?? '';
  if (admin) return { principal, isAdmin: true, classRole: 'instructor' };
  const notFound = new AccessError('NOT_FOUND', `no class ${classId}`, 'see your classes with GET /api/classes');
  if (principal.kind !== 'user' || !classId) throw notFound;
  const role = await opts.membership(principal.user.id, classId);
  if (role === undefined) throw notFound;
  if (CLASS_ROLE_RANK[role] < needed) {
    throw new AccessError('FORBIDDEN', `this needs ${SCOPES[scope]}; you are ${role === 'ta' ? 'a TA' : `a ${role}`} in this class`);
  }
  return { principal, isAdmin: false, classRole: role };
}

const anonymous: Principal = { kind: 'user', user: { id: '', username: '', role: 'student' } };
