// Signing in and out, changing one's password and using a one-time link: the account side of the
// host. Sign-in is rate limited per account and per address (429 with Retry-After) and checks the
// password against a dummy hash for unknown users so that timing tells nothing; a disabled account
// answers exactly like a wrong password. Every way in ends in AuthSessions.create().

import type { z } from 'zod';
import type { Role, signInReplySchema } from '@reg/protocol';
import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import type { Db } from '../db/client.js';
import type { AuthSessions, RevokeReason, SignInMethod } from './auth-sessions.js';
import { clientAddress } from './client-address.js';
import { consumeOneTimeLogin, revokeOneTimeLogins } from './one-time-login.js';
import { hashPassword, verifyPassword } from './password.js';
import { AccessError, RequestError, type Principal } from './principal.js';
import type { SignInLimiter } from './sign-in-limiter.js';

const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export interface AuthServiceDeps {
  db: Db;
  sessions: AuthSessions;
  limiter: SignInLimiter;
  cookieName: string;
  /** Ends the user's live containers (terminals included), saying why; returns how many. */
  endContainersOf(userId: string, message: string): Promise<number>;
}

type SignInReply = z.output<typeof signInReplySchema> & { mustChangePassword: boolean };

export class AuthService {
  constructor(private readonly d: AuthServiceDeps) {}

  async signIn(c: Context, username: string, password: string): Promise<SignInReply> {
    const ip = clientAddress(c);
    this.throttle(username, ip);
    const u = await this.d.db.user.findUnique({ where: { username } });
    const ok = await verifyPassword(password, u?.passwordHash ?? DUMMY_HASH);
    if (!u || !ok || u.disabledAt) {
      this.d.limiter.failed(username, ip);
      throw new AccessError('UNAUTHENTICATED', 'wrong username or password');
    }
    this.d.limiter.succeeded(username, ip);
    return this.open(c, u, 'password');
  }

  /** Signs in with a one-time link's token (the /sign-in/link page posts it). */
  async linkSignIn(c: Context, token: string): Promise<SignInReply> {
    const ip = clientAddress(c);
    this.throttle(null, ip);
    const userId = await consumeOneTimeLogin(this.d.db, token);
    const u = userId ? await this.d.db.user.findUnique({ where: { id: userId } }) : null;
    if (!u) {
      this.d.limiter.failed(null, ip);
      throw new AccessError('UNAUTHENTICATED', 'this sign-in link is not valid: it was used already, has expired or was replaced', 'ask your instructor or an admin for a new link');
    }
    return this.open(c, u, 'one-time-link');
  }

  async signOut(c: Context, p: Principal): Promise<void> {
    if (p.kind === 'user' && p.sid) await this.d.sessions.revoke(p.sid, 'sign-out');
    deleteCookie(c, this.d.cookieName, { path: '/' });
  }

  /**
   * Changes the caller's password. The old password is required, except while the account must
   * replace an initial one (then the session itself proves it). Every other session of the user is
   * revoked and their containers end; this session stays signed in.
   */
  async changePassword(p: Principal, body: { oldPassword?: string | undefined; newPassword: string }): Promise<{ ok: true; sessionsRevoked: number; containersEnded: number }> {
    if (p.kind !== 'user' || !p.user.id) throw new AccessError('FORBIDDEN', 'only a signed-in user changes their own password', 'an admin resets passwords from the Users page');
    const u = await this.d.db.user.findUnique({ where: { id: p.user.id } });
    if (!u) throw new AccessError('UNAUTHENTICATED', 'this account no longer exists');
    if (!u.mustChangePassword) {
      if (!body.oldPassword) throw new AccessError('BAD_REQUEST', 'oldPassword: your current password is required');
      if (!(await verifyPassword(body.oldPassword, u.passwordHash))) throw new AccessError('FORBIDDEN', 'oldPassword: that is not your current password');
    }
    if (await verifyPassword(body.newPassword, u.passwordHash)) throw new AccessError('BAD_REQUEST', 'newPassword: choose a password different from the current one');
    await this.d.db.user.update({ where: { id: u.id }, data: { passwordHash: await hashPassword(body.newPassword), mustChangePassword: false } });
    const r = await this.cutOff(u.id, 'password-changed', 'your password was changed; sign in again', p.sid);
    this.d.sessions.forgetUser(u.id); // this session's cached flags (mustChangePassword) are stale
    return { ok: true, ...r };
  }

  /**
   * Signs a user out everywhere: every session (but `exceptSid`) and unused one-time link revoked,
   * every live container ended with `message` shown to them.
   */
  async cutOff(userId: string, reason: RevokeReason, message: string, exceptSid?: string): Promise<{ sessionsRevoked: number; containersEnded: number }> {
    const sessionsRevoked = await this.d.sessions.revokeUser(userId, reason, exceptSid);
    await revokeOneTimeLogins(this.d.db, userId);
    const containersEnded = await this.d.endContainersOf(userId, message);
    return { sessionsRevoked, containersEnded };
  }

  private throttle(account: string | null, ip: string): void {
    const wait = this.d.limiter.retryAfterMs(account, ip);
    if (wait > 0) {
      const s = Math.ceil(wait / 1000);
      throw new RequestError('RATE_LIMITED', `too many failed sign-ins; try again in ${s} s`, 'wait, or ask an admin to reset the password', s);
    }
  }

  private async open(c: Context, u: { id: string; username: string; role: string; mustChangePassword: boolean }, method: SignInMethod): Promise<SignInReply> {
    const { token, expiresAt } = await this.d.sessions.create(u.id, { method, ip: clientAddress(c), userAgent: c.req.header('user-agent') });
    setCookie(c, this.d.cookieName, token, { httpOnly: true, sameSite: 'Lax', path: '/', expires: expiresAt });
    return { user: { id: u.id, username: u.username, role: u.role as Role }, token, expiresAt: expiresAt.toISOString(), mustChangePassword: u.mustChangePassword };
  }
}
