// Signed tokens (HMAC-SHA256 over a JSON payload, like a JWT with a fixed algorithm, so there is
// no header to trust): `<payload base64url>.<mac base64url>`. Two kinds: `session` (a sign-in,
// carried by a cookie or a bearer header; `sid` names its AuthSession row, which can be revoked)
// and `attach` (names one user and one container, lives
// for a couple of minutes, carried by the socket.io attach event).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

const payloadSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('session'), sub: z.string(), sid: z.string().optional(), exp: z.number(), iat: z.number() }),
  z.object({ kind: z.literal('attach'), sub: z.string(), cid: z.string(), exp: z.number(), iat: z.number() }),
]);
export type TokenPayload = z.infer<typeof payloadSchema>;

export type TokenCheck = { ok: true; payload: TokenPayload } | { ok: false; reason: 'malformed' | 'forged' | 'expired' };

export class TokenSigner {
  constructor(private readonly secret: Buffer) {}

  sign(payload: { kind: 'session'; sub: string; sid?: string } | { kind: 'attach'; sub: string; cid: string }, ttlMs: number, now = Date.now()): { token: string; expiresAt: Date } {
    const exp = now + ttlMs;
    const body = Buffer.from(JSON.stringify({ ...payload, iat: now, exp })).toString('base64url');
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(exp) };
  }

  verify(token: string, now = Date.now()): TokenCheck {
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) return { ok: false, reason: 'malformed' };
    const body = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return { ok: false, reason: 'forged' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const r = payloadSchema.safeParse(parsed);
    if (!r.success) return { ok: false, reason: 'malformed' };
    if (r.data.exp <= now) return { ok: false, reason: 'expired' };
    return { ok: true, payload: r.data };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
