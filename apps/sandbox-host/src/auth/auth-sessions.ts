// Server-side sessions. A sign-in creates an AuthSession row and a signed token that carries the
// row's id (`sid`); authenticate() accepts a token only while its row exists, is neither revoked
// nor expired and its user is not disabled. Sign-out revokes one row; a password change, an admin
// reset, disable or delete revoke every row of the user.
//
// Every API request authenticates, so rows are cached in memory for a few seconds (cacheMs).
// Revocation goes through this class and clears the cache at once, so within one host a revoked
// token stops working immediately; the cache only bounds how stale a change made behind the
// host's back (another process editing the database) can be. The cache is bounded (oldest out).

import { randomUUID } from 'node:crypto';
import type { Role } from '@reg/protocol';
import type { Db } from '../db/client.js';
import type { Principal } from './principal.js';
import type { TokenSigner } from './signed-token.js';

export type RevokeReason = 'sign-out' | 'password-changed' | 'password-reset' | 'disabled' | 'deleted' | 'admin';
export type SignInMethod = 'password' | 'one-time-link';

interface Cached {
  principal: Extract<Principal, { kind: 'user' }>;
  expiresAt: number;
  checkedAt: number;
}

export interface AuthSessionOptions {
  ttlMs: number;
  /** How long a checked row is trusted without reading it again. */
  cacheMs?: number;
  maxCached?: number;
  /** lastSeenAt is written at most this often per session. */
  touchEveryMs?: number;
}

export class AuthSessions {
  private readonly cache = new Map<string, Cached>();
  private readonly cacheMs: number;
  private readonly maxCached: number;
  private readonly touchEveryMs: number;

  constructor(
    private readonly db: Db,
    private readonly signer: TokenSigner,
    private readonly opts: AuthSessionOptions,
  ) {
    this.cacheMs = opts.cacheMs ?? 10_000;
    this.maxCached = opts.maxCached ?? 10_000;
    this.touchEveryMs = opts.touchEveryMs ?? 60_000;
  }

  /** Opens a session for a user who just proved who they are. */
  async create(userId: string, meta: { method: SignInMethod; ip?: string; userAgent?: string }): Promise<{ sid: string; token: string; expiresAt: Date }> {
    const sid = randomUUID();
    const { token, expiresAt } = this.signer.sign({ kind: 'session', sub: userId, sid }, this.opts.ttlMs);
    await this.db.authSession.create({
      data: { id: sid, userId, method: meta.method, expiresAt, ip: meta.ip ?? null, userAgent: meta.userAgent?.slice(0, 300) ?? null },
    });
    return { sid, token, expiresAt };
  }

  /** The principal of a session token, or undefined (bad signature, no sid, revoked, expired, disabled user). */
  async authenticate(token: string, now = Date.now()): Promise<Principal | undefined> {
    const t = this.signer.verify(token, now);
    if (!t.ok || t.payload.kind !== 'session' || !t.payload.sid) return undefined;
    const sid = t.payload.sid;
    const hit = this.cache.get(sid);
    if (hit && now - hit.checkedAt < this.cacheMs) {
      if (hit.expiresAt <= now || hit.principal.user.id !== t.payload.sub) return undefined;
      return hit.principal;
    }
    const row = await this.db.authSession.findUnique({
      where: { id: sid },
      select: { userId: true, expiresAt: true, revokedAt: true, lastSeenAt: true, user: { select: { id: true, username: true, role: true, disabledAt: true, mustChangePassword: true } } },
    });
    this.cache.delete(sid);
    if (!row || row.revokedAt || row.expiresAt.getTime() <= now || row.user.disabledAt || row.userId !== t.payload.sub) return undefined;
    const principal: Cached['principal'] = {
      kind: 'user',
      user: { id: row.user.id, username: row.user.username, role: row.user.role as Role },
      sid,
      ...(row.user.mustChangePassword && { mustChangePassword: true }),
    };
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(sid, { principal, expiresAt: row.expiresAt.getTime(), checkedAt: now });
    if (!row.lastSeenAt || now - row.lastSeenAt.getTime() > this.touchEveryMs) {
      await this.db.authSession.update({ where: { id: sid }, data: { lastSeenAt: new Date(now) } }).catch(() => {});
    }
    return principal;
  }

  /** Revokes one session (sign-out). */
  async revoke(sid: string, reason: RevokeReason): Promise<void> {
    this.cache.delete(sid);
    await this.db.authSession.updateMany({ where: { id: sid, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: reason } });
  }

  /** Revokes every live session of a user (but `exceptSid`); returns how many. */
  async revokeUser(userId: string, reason: RevokeReason, exceptSid?: string): Promise<number> {
    this.forgetUser(userId, exceptSid);
    const r = await this.db.authSession.updateMany({
      where: { userId, revokedAt: null, ...(exceptSid && { id: { not: exceptSid } }) },
      data: { revokedAt: new Date(), revokedReason: reason },
    });
    return r.count;
  }

  /** Drops a user's cached sessions so the next request re-reads role and flags. */
  forgetUser(userId: string, exceptSid?: string): void {
    for (const [sid, c] of this.cache) if (c.principal.user.id === userId && sid !== exceptSid) this.cache.delete(sid);
  }

  /** Deletes rows that expired more than `olderThanMs` ago (the table must not grow for ever). */
  async prune(olderThanMs = 7 * 24 * 3600_000, now = Date.now()): Promise<number> {
    const r = await this.db.authSession.deleteMany({ where: { expiresAt: { lt: new Date(now - olderThanMs) } } });
    return r.count;
  }

  /** How many sessions are live now (for the dashboard and /metrics). */
  async liveCount(now = new Date()): Promise<number> {
    return this.db.authSession.count({ where: { revokedAt: null, expiresAt: { gt: now } } });
  }
}
