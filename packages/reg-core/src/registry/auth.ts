// Registry authentication as registries do it (the Docker token protocol): a request without
// credentials gets 401 with a WWW-Authenticate challenge; `Basic` means send the user and
// password on every request; `Bearer realm=…,service=…,scope=…` means ask the realm (with the
// user and password, or anonymously) for a short-lived token for those scopes and send that.
// Tokens are cached per scope set. A 401 after we sent what was asked for is wrong credentials.
// Nothing here ever puts a secret into a message.

import { RegError } from '../errors.js';
import type { Credentials } from './config.js';
import { checkTransport } from './reference.js';

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (the first challenge in it). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (const p of m[2]!.matchAll(re)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme, params };
}

export interface TokenFetcher {
  /** GETs a token endpoint URL; `authorization` is the Basic header, if any. */
  (url: URL, authorization: string | undefined): Promise<Response>;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class Authenticator {
  private mode: 'none' | 'basic' | 'bearer' | 'static-token' = 'none';
  private bearerChallenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    private readonly credentials: Credentials | undefined,
    private readonly fetchToken: TokenFetcher,
  ) {
    // A static token (e.g. a personal access token) is sent from the first request on.
    if (credentials?.kind === 'token') this.mode = 'static-token';
  }

  /** Records how the registry answered GET /v2/ without credentials, so later requests ask right away. */
  learn(wwwAuthenticate: string | null): void {
    const c = parseChallenge(wwwAuthenticate);
    if (!c || this.mode === 'static-token') return;
    if (c.scheme === 'basic' && this.credentials?.kind === 'basic') this.mode = 'basic';
    if (c.scheme === 'bearer') {
      this.mode = 'bearer';
      this.bearerChallenge = c;
    }
  }

  /** The Authorization header for a request needing `scopes`, from what we learnt so far. */
  header(scopes: readonly string[]): string | undefined {
    if (this.mode === 'static-token' && this.credentials?.kind === 'token') return `Bearer ${this.credentials.token}`;
    if (this.mode === 'basic') return this.basicHeader();
    if (this.mode === 'bearer') {
      const t = this.tokens.get(scopeKey(scopes));
      if (t && t.expiresAt > Date.now()) return `Bearer ${t.token}`;
    }
    return undefined;
  }

  /**
   * Handles a 401. Returns true when the request should be sent again (with `header(scopes)`);
   * throws REGISTRY_AUTH when there is nothing more to try.
   */
  async challenged(wwwAuthenticate: string | null, scopes: readonly string[], sentAuth: boolean, what: string): Promise<boolean> {
    const c = parseChallenge(wwwAuthenticate);
    if (!c) throw this.refusedError(what, 'without a challenge we understand (WWW-Authenticate)');
    if (c.scheme === 'basic') {
      if (!this.credentials || this.credentials.kind !== 'basic') throw this.missing(what);
      if (sentAuth && this.mode === 'basic') throw this.refusedError(what);
      this.mode = 'basic';
      return true;
    }
    this.bearerChallenge = c;
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (sentAuth && this.mode === 'bearer' && cached && cached.expiresAt > Date.now()) {
      // The token was fresh and still refused: the credentials do not grant this scope.
      throw this.credentials ? this.refusedError(what) : this.missing(what);
    }
    this.mode = 'bearer';
    await this.token(scopes, c);
    return true;
  }

  /** Gets (or reuses) a bearer token for the scopes once a Bearer challenge was seen. */
  async prepare(scopes: readonly string[]): Promise<void> {
    if (this.mode !== 'bearer' || !this.bearerChallenge) return;
    const t = this.tokens.get(scopeKey(scopes));
    if (!t || t.expiresAt <= Date.now()) await this.token(scopes, this.bearerChallenge);
  }

  private token(scopes: readonly string[], c: Challenge): Promise<CachedToken> {
    const key = scopeKey(scopes);
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.requestToken(scopes, c).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    return pending;
  }

  private async requestToken(scopes: readonly string[], c: Challenge): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) throw this.refusedError('asking for a token', 'with a Bearer challenge that names no realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegError('REGISTRY_PROTOCOL', `registry ${this.registry} names a token realm that is not a URL`, {});
    }
    checkTransport(url, `registry ${this.registry}'s token endpoint`);
    if (c.params.service) url.searchParams.set('service', c.params.service);
    const all = new Set(scopes);
    if (c.params.scope) for (const s of c.params.scope.split(' ')) if (s) all.add(s);
    for (const s of [...all].sort()) url.searchParams.append('scope', s);
    const basic = this.credentials?.kind === 'basic' ? this.basicHeader() : undefined;
    if (this.credentials?.kind === 'basic') url.searchParams.set('account', this.credentials.username);
    const res = await this.fetchToken(url, basic);
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => {});
      throw this.credentials ? this.refusedError(`asking ${url.host} for a token`) : this.missing(`asking ${url.host} for a token`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new RegError('REGISTRY_PROTOCOL', `registry ${this.registry}: the token endpoint ${url.host}${url.pathname} answered HTTP ${res.status}`, {});
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new RegError('REGISTRY_PROTOCOL', `registry ${this.registry}: the token endpoint ${url.host}${url.pathname} did not answer JSON`, {});
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new RegError('REGISTRY_PROTOCOL', `registry ${this.registry}: the token endpoint answered no token`, {});
    // Renew a little early; registries default to 60 s when they do not say.
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    const cached = { token, expiresAt: Date.now() + Math.max(1, seconds - 10) * 1000 };
    this.tokens.set(scopeKey(scopes), cached);
    return cached;
  }

  private basicHeader(): string | undefined {
    if (this.credentials?.kind !== 'basic') return undefined;
    return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
  }

  private missing(what: string): RegError {
    return new RegError('REGISTRY_AUTH', `registry ${this.registry} requires credentials (${what}) and none are configured for it`, {
      hint: `set REG_REGISTRY_AUTH=${this.registry}=USER:PASSWORD, or add it to "auths" in \${REG_HOME}/registries.json or ~/.config/reg/auth.json`,
    });
  }

  refusedError(what: string, detail?: string): RegError {
    const source = this.credentials ? ` from ${this.credentials.source}` : '';
    return new RegError('REGISTRY_AUTH', `registry ${this.registry} refused the credentials${source}${detail ? ` ${detail}` : ''} (${what})`, {
      hint: this.credentials
        ? `check the user name and password configured for ${this.registry} in ${this.credentials.source}`
        : `configure credentials for ${this.registry} (REG_REGISTRY_AUTH, registries.json or ~/.config/reg/auth.json)`,
    });
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
