// Who is on a socket: the session cookie (or bearer token) the browser sent with the socket.io
// handshake, resolved by the same authenticate() as the HTTP API. Through the web app's one
// origin the cookie comes along on its own.

import type { Principal } from '../auth/principal.js';

const SESSION_COOKIE = 'reg_session';

export async function principalOfHandshake(headers: Record<string, string | string[] | undefined>, authenticate: (token: string) => Promise<Principal | undefined>): Promise<Principal | undefined> {
  const auth = typeof headers.authorization === 'string' ? headers.authorization : undefined;
  if (auth?.startsWith('Bearer ')) return authenticate(auth.slice(7).trim());
  const cookie = typeof headers.cookie === 'string' ? headers.cookie : '';
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const token = decodeURIComponent(part.slice(eq + 1).trim());
      return token ? authenticate(token) : undefined;
    }
  }
  return undefined;
}
