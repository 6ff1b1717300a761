// The Hono app: the route table, the caller's identity (unix socket → administrator, otherwise a
// session cookie or bearer token) and the error table. Bodies are parsed with the route's zod
// schema; anything that fails becomes a 4xx with the zod issues, never a crash.

import type { Socket } from 'node:net';
import { Hono, type Context } from 'hono';
import { isRegError } from '@reg/core';
import { getCookie } from 'hono/cookie';
import type { HttpBindings } from '@hono/node-server';
import { AccessError, RequestError, type Principal } from '../auth/principal.js';
import { authorize, isAdmin, type ClassMembership } from '../auth/scopes.js';
import { OPEN_WHILE_PASSWORD_CHANGE_REQUIRED } from '../auth/auth-routes.js';
import type { ApiRoute } from './api-routes.js';
import { DEFAULT_MAX_BODY_BYTES, readJsonCapped } from './body-limit.js';
import { errorResponseFor } from './error-status.js';

export const SESSION_COOKIE = 'reg_session';

/** Resolves a session token to a principal (undefined: not signed in). */
export type Authenticate = (token: string) => Promise<Principal | undefined>;

export function buildApp(routes: ApiRoute[], opts: { adminSockets: WeakSet<Socket>; authenticate: Authenticate; membership: ClassMembership; log?: (m: string) => void; logInfo?: (m: string) => void; logError?: (m: string) => void }): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();

  const principalOf = async (c: Context<{ Bindings: HttpBindings }>): Promise<Principal | undefined> => {
    if (opts.adminSockets.has(c.env.incoming.socket)) return { kind: 'admin' };
    const auth = c.req.header('authorization');
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : getCookie(c, SESSION_COOKIE);
    return token ? opts.authenticate(token) : undefined;
  };

  // Who asked, for the error handler: admins see engine errors whole, others a redacted copy.
  const callers = new WeakMap<Request, Principal>();

  for (const r of routes) {
    app.on(r.method.toUpperCase(), r.path, async (c) => {
      opts.log?.(`${r.method.toUpperCase()} ${c.req.path}`);
      const principal = await principalOf(c);
      if (principal) callers.set(c.req.raw, principal);
      // A password to change comes before anything else, whatever the route would answer (even
      // "no class"): the same 403 everywhere but the few routes that stay open.
      if (principal?.kind === 'user' && principal.mustChangePassword && !OPEN_WHILE_PASSWORD_CHANGE_REQUIRED.has(r.operationId)) {
        throw new RequestError('PASSWORD_CHANGE_REQUIRED', 'choose a new password first', 'POST /api/auth/password with {newPassword}');
      }
      // Who may is data on the route: checked here, once, before the body is even read.
      const access = await authorize(principal, r.scope, { classId: c.req.param(r.classParam ?? 'classId'), membership: opts.membership });
      let body: unknown;
      // Capped before it is read: a flood cannot make the host hold more than the route allows.
      if (r.body) body = r.body.parse(await readJsonCapped(c, r.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES));
      const result = await r.handle({ principal: access.principal, access, body: body as never, id: c.req.param('id') ?? '', c });
      // Downloads (zips) are streamed responses of their own.
      if (result instanceof Response) return result;
      return c.json(result as object, r.status);
    });
  }

  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}`, hint: 'see GET /api/openapi.json' } }, 404));
  app.onError((e, c) => {
    const caller = callers.get(c.req.raw);
    const { status, body, redacted } = errorResponseFor(e, caller !== undefined && isAdmin(caller));
    if (e instanceof RequestError && e.retryAfterSeconds) c.header('retry-after', String(e.retryAfterSeconds));
    if (status === 503) c.header('retry-after', '5');
    // A 5xx is the host's fault: its cause is logged at the default level, whatever the client saw.
    // The database away: one line each (no driver stack; an outage would print thousands).
    if (status === 503) (opts.logError ?? opts.log)?.(`${c.req.method} ${c.req.path} answered 503: the database is unreachable (${String((e as Error)?.message ?? e).trim().split('\n').at(-1)})`);
    else if (status >= 500) (opts.logError ?? opts.log)?.(`${c.req.method} ${c.req.path} failed (${status}): ${(e as Error)?.stack ?? String(e)}`);
    // What a non-admin did not see is logged whole (message, hint, file), for the admin.
    else if (redacted) {
      const full = isRegError(e) ? JSON.stringify(e.toJSON()) : String(e);
      (opts.logInfo ?? opts.log)?.(`${c.req.method} ${c.req.path} answered ${status} (redacted for ${caller?.kind === 'user' ? caller.user.username : 'an anonymous caller'}): ${full}`);
    }
    return c.json(body, status as 400);
  });
  return app;
}
