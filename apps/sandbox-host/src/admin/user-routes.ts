// The admin's user routes (scope admin): list/search, create, import, edit (role, disabled,
// name, email), reset a password, delete; and the audit log, filterable and paginated.

import {
  adminUserSchema,
  auditPageSchema,
  auditQuerySchema,
  createUserReplySchema,
  createUserSchema,
  deleteUserReplySchema,
  deleteUserSchema,
  importUsersReplySchema,
  importUsersSchema,
  resetPasswordSchema,
  updateUserSchema,
  userListQuerySchema,
  userListSchema,
} from '@reg/protocol';
import { clientAddress } from '../auth/client-address.js';
import type { Db } from '../db/client.js';
import { route, type ApiRoute } from '../http/api-routes.js';
import { readAuditLog } from './audit-log-query.js';
import type { UserService } from './user-service.js';

export function userRoutes(users: UserService, db: Db): ApiRoute[] {
  const userId = (c: { req: { param(n: string): string | undefined } }) => c.req.param('userId') ?? '';
  return [
    route({ method: 'get', path: '/api/admin/users', operationId: 'adminListUsers', scope: 'admin', summary: 'Users, searched (?q= username, name or email) and filtered (?role=, ?status=active|disabled), paginated (?page=, ?pageSize=)', status: 200, response: userListSchema, handle: ({ c }) => users.list(userListQuerySchema.parse(c.req.query())) }),
    route({ method: 'post', path: '/api/admin/users', operationId: 'adminCreateUser', scope: 'admin', summary: 'Create a user; the reply shows their initial password or one-time sign-in link once', body: createUserSchema, status: 201, response: createUserReplySchema, handle: ({ principal, body, c }) => users.create(principal, body, clientAddress(c)) }),
    route({ method: 'post', path: '/api/admin/users/import', operationId: 'adminImportUsers', scope: 'admin', summary: 'Create users from CSV (username, display name, email, role): all of them or, on any problem, none (400 naming each line and field)', body: importUsersSchema, maxBodyBytes: 2 * 1024 * 1024, status: 201, response: importUsersReplySchema, handle: ({ principal, body, c }) => users.import(principal, body.csv, body.credential, clientAddress(c)) }),
    route({ method: 'get', path: '/api/admin/users/:userId', operationId: 'adminGetUser', scope: 'admin', summary: 'One user', status: 200, response: adminUserSchema, handle: ({ c }) => users.get(userId(c)) }),
    route({ method: 'post', path: '/api/admin/users/:userId', operationId: 'adminUpdateUser', scope: 'admin', summary: 'Change a user\'s role, disable (signs them out everywhere, ends their containers) or enable them, or edit name and email', body: updateUserSchema, status: 200, response: adminUserSchema, handle: ({ principal, body, c }) => users.update(principal, userId(c), body, clientAddress(c)) }),
    route({ method: 'post', path: '/api/admin/users/:userId/reset-password', operationId: 'adminResetPassword', scope: 'admin', summary: 'Reset a password: the user is signed out everywhere and gets a new initial password or a one-time link (shown once)', body: resetPasswordSchema, status: 200, response: createUserReplySchema, handle: ({ principal, body, c }) => users.resetPassword(principal, userId(c), body.credential, clientAddress(c)) }),
    route({ method: 'post', path: '/api/admin/users/:userId/delete', operationId: 'adminDeleteUser', scope: 'admin', summary: 'Delete a user (confirm with their username): their containers end; their workspaces are kept on disk or removed', body: deleteUserSchema, status: 200, response: deleteUserReplySchema, handle: ({ principal, body, c }) => users.remove(principal, userId(c), body, clientAddress(c)) }),
    route({ method: 'get', path: '/api/admin/audit', operationId: 'adminAuditLog', scope: 'admin', summary: 'The audit log, newest first, filtered by ?actor= (username), ?action= (exact, or a prefix ending in "."), ?classId=, ?from= and ?to= (ISO times), paginated', status: 200, response: auditPageSchema, handle: ({ c }) => readAuditLog(db, auditQuerySchema.parse(c.req.query())) }),
  ];
}
