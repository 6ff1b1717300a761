// Who is on a socket.io connection: the session cookie (or bearer token) sent with the handshake,
// resolved by the same authenticate() as the HTTP API (so a revoked session is refused here too).

import type { Principal } from './principal.js';

export async function handshakePrincipal(headers: Record<string, string | string[] | undefined>, cookieName: string, authenticate: (token: string) => Promise<Principal | undefined>): Promise<Principal | undefined> {
  const auth = typeof headers.authorization === 'string' ? headers.authorization : undefined;
  if (auth?.startsWith('Bearer ')) return authenticate(auth.slice(7).trim());
  const cookie = typeof headers.cookie === 'string' ? headers.cookie : '';
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === cookieName) {
      const token = decodeURIComponent(part.slice(eq + 1).trim());
      return token ? authenticate(token) : undefined;
    }
  }
  return undefined;
}
