// One-time sign-in links, for accounts made by an admin or from an instructor's roster: a random
// token shown once (as a path in the web app, the token in the fragment so it reaches neither the
// server's logs nor a Referer header), of which only the SHA-256 is stored. Consuming it is atomic
// (a link works once, even when two tabs race) and opens a normal server-side session.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../db/client.js';

/** The web app's landing page for links. */
export const ONE_TIME_LOGIN_PAGE = '/sign-in/link';
export const DEFAULT_LINK_TTL_MS = 7 * 24 * 3600_000;

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export async function createOneTimeLogin(
  db: Db,
  opts: { userId: string; createdById: string | null; ttlMs?: number },
): Promise<{ token: string; path: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + (opts.ttlMs ?? DEFAULT_LINK_TTL_MS));
  await db.oneTimeLogin.create({ data: { id: randomUUID(), userId: opts.userId, tokenHash: hashOf(token), expiresAt, createdById: opts.createdById } });
  return { token, path: `${ONE_TIME_LOGIN_PAGE}#${token}`, expiresAt };
}

/**
 * Uses a link: the user's id when the token is known, unused, unexpired and its user enabled;
 * undefined otherwise (the caller answers the same way for all of them).
 */
export async function consumeOneTimeLogin(db: Db, token: string, now = new Date()): Promise<string | undefined> {
  const row = await db.oneTimeLogin.findUnique({ where: { tokenHash: hashOf(token) }, select: { id: true, userId: true, user: { select: { disabledAt: true } } } });
  if (!row || row.user.disabledAt) return undefined;
  // The condition makes the update the lock: of two racing consumers, one changes the row.
  const r = await db.oneTimeLogin.updateMany({ where: { id: row.id, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } });
  return r.count === 1 ? row.userId : undefined;
}

/** Invalidates a user's unused links (password reset, disable, a new link issued). */
export async function revokeOneTimeLogins(db: Db, userId: string): Promise<void> {
  await db.oneTimeLogin.updateMany({ where: { userId, usedAt: null }, data: { usedAt: new Date() } });
}
