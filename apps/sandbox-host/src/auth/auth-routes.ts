// The account routes beyond sign-in/sign-out/me (which http/api-routes.ts lists): changing one's
// own password and signing in with a one-time link.

import { changePasswordSchema, linkSignInSchema, signInReplySchema } from '@reg/protocol';
import { z } from 'zod';
import { route, type ApiRoute } from '../http/api-routes.js';
import type { AuthService } from './auth-service.js';

export function authRoutes(auth: AuthService): ApiRoute[] {
  return [
    route({
      method: 'post',
      path: '/api/auth/password',
      operationId: 'changePassword',
      summary: 'Change your password (the current one is required unless the account must replace its initial password); your other sessions are signed out and their terminals end',
      scope: 'self',
      body: changePasswordSchema,
      status: 200,
      response: z.object({ ok: z.literal(true), sessionsRevoked: z.number(), containersEnded: z.number() }),
      handle: ({ principal, body }) => auth.changePassword(principal, body),
    }),
    route({
      method: 'post',
      path: '/api/auth/link',
      operationId: 'linkSignIn',
      summary: 'Sign in with a one-time link\'s token (works once); sets the reg_session cookie like sign-in',
      scope: 'public',
      body: linkSignInSchema,
      status: 200,
      response: signInReplySchema,
      handle: ({ c, body }) => auth.linkSignIn(c, body.token),
    }),
  ];
}

/** What a user who must change their initial password may still call. */
export const OPEN_WHILE_PASSWORD_CHANGE_REQUIRED: ReadonlySet<string> = new Set(['signIn', 'signOut', 'me', 'changePassword', 'linkSignIn', 'openapi']);
