// An OCI distribution API client on Node's built-in fetch: /v2/ ping, manifests (HEAD/GET/PUT),
// blobs (HEAD/GET), uploads (POST → PUT monolithic, POST → PATCH… → PUT chunked, cross-repository
// mount), tags/list and _catalog. It owns the transport rules every caller relies on: HTTPS except
// for loopback registries (redirects and upload locations included), authentication (auth.ts),
// bounded retries with backoff on 5xx/429 and dropped connections, and errors that name the
// registry and what was being done. Every request is reported to an optional hook and counted,
// so tests and benchmarks can tell manifests from blobs on the wire.

import { createHash } from 'node:crypto';
import { RegError, isRegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { Authenticator } from './auth.js';
import { credentialsFor, type Credentials } from './config.js';
import { checkTransport, type RegistryTarget } from './reference.js';

export type RequestKind = 'ping' | 'manifest' | 'blob' | 'upload' | 'tags' | 'catalog' | 'token';

export interface RequestEvent {
  method: string;
  kind: RequestKind;
  /** Path and query (never credentials). */
  path: string;
  /** HTTP status, or 0 when the connection failed. */
  status: number;
  bytesOut: number;
}

export interface ClientOptions {
  /** Explicit credentials; null forces anonymous; undefined looks them up (config.ts). */
  credentials?: Credentials | null;
  /** Where to look credentials up (REG_HOME/registries.json); default: env and ~/.config only. */
  home?: RegHome;
  onRequest?: (e: RequestEvent) => void;
  /** Retries after the first attempt for transient failures (5xx, 429, dropped connections). */
  retries?: number;
  /** First backoff delay; doubles per retry, with jitter. */
  retryDelayMs?: number;
}

export interface ClientStats {
  requests: number;
  byKind: Record<RequestKind, number>;
  /** Blob GETs (config and file blobs), the number tests look at to prove only manifests travelled. */
  blobGets: number;
  uploads: number;
  bytesIn: number;
  bytesOut: number;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
// Ask for every manifest kind, so that a repository holding something else than a RET is reported
// as such (REGISTRY_PROTOCOL) rather than as "not found" or a schema1 conversion.
const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');
export const MAX_MANIFEST_BYTES = 4 << 20;

type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

interface RequestSpec {
  method: Method;
  /** A path under the registry (/v2/…) or an absolute URL the registry gave us. */
  url: string | URL;
  kind: RequestKind;
  scopes: string[];
  headers?: Record<string, string>;
  body?: Buffer;
  /** What is being done, for messages: "fetching blob sha256:… of python@3.11.2". */
  what: string;
}

const transient = new WeakSet<object>();
/** Marks an error as worth retrying (see isTransient). */
export function markTransient<T extends object>(e: T): T {
  transient.add(e);
  return e;
}
/** True for failures worth retrying: 5xx, 429, a dropped or truncated connection. */
export function isTransient(e: unknown): boolean {
  return typeof e === 'object' && e !== null && transient.has(e);
}

function networkCode(e: unknown): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 5 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name resolution failed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the registry',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer (headers timed out)',
  UND_ERR_BODY_TIMEOUT: 'the transfer stalled',
};

/** Turns a failed connection or body read into REGISTRY_UNREACHABLE (transient unless permanent). */
export function unreachable(registry: string, what: string, e: unknown): RegError {
  const code = networkCode(e);
  const words = (code && NETWORK_WORDS[code]) ?? (code?.startsWith('ERR_TLS') || code?.includes('CERT') ? `TLS failed (${code})` : code ?? (e as Error)?.message ?? 'failed');
  const err = new RegError('REGISTRY_UNREACHABLE', `registry ${registry} is unreachable: ${words} (${what})`, {
    hint: 'check the address and that the registry is running; Reg speaks plain HTTP only to loopback registries, HTTPS elsewhere',
    cause: e,
  });
  const permanent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || (code?.includes('CERT') ?? false) || (code?.startsWith('ERR_TLS') ?? false);
  return permanent ? err : markTransient(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function drain(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}

/** Reads a body into memory, refusing more than `limit` bytes. */
async function readLimited(res: Response, limit: number, what: string, registry: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > limit) {
    await drain(res);
    throw new RegError('REGISTRY_PROTOCOL', `registry ${registry}: ${what}: ${declared} bytes is more than the ${limit} Reg accepts`, {});
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += chunk.length;
      if (size > limit) {
        await res.body?.cancel().catch(() => {});
        throw new RegError('REGISTRY_PROTOCOL', `registry ${registry}: ${what}: more than the ${limit} bytes Reg accepts`, {});
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if (isRegError(e)) throw e;
    throw unreachable(registry, what, e);
  }
  return Buffer.concat(chunks);
}

/** The OCI error envelope ({ errors: [{ code, message }] }) as one short line. */
async function errorText(res: Response): Promise<string> {
  let text: string;
  try {
    text = (await readLimited(res, 64 << 10, 'error body', '')).toString('utf8');
  } catch {
    return '';
  }
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const first = doc.errors?.[0];
    if (first) return [first.code, first.message].filter(Boolean).join(': ').slice(0, 300);
  } catch {
    // not JSON: fall through
  }
  return text.trim().slice(0, 200);
}

function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

export function repoScope(repo: string, push = false): string {
  return `repository:${repo}:${push ? 'pull,push' : 'pull'}`;
}

/** The `next` URL of an RFC 5988 Link header (tags/list and _catalog pagination). */
function nextLink(res: Response, base: URL): URL | undefined {
  const link = res.headers.get('link');
  const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
  return m ? new URL(m[1]!, base) : undefined;
}

export class RegistryClient {
  readonly stats: ClientStats = {
    requests: 0,
    byKind: { ping: 0, manifest: 0, blob: 0, upload: 0, tags: 0, catalog: 0, token: 0 },
    blobGets: 0,
    uploads: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  private readonly auth: Authenticator;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private pinged: Promise<void> | undefined;

  private constructor(
    readonly target: RegistryTarget,
    credentials: Credentials | undefined,
    private readonly opts: ClientOptions,
  ) {
    this.retries = opts.retries ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 200;
    this.auth = new Authenticator(target.host, credentials, (url, authorization) =>
      this.fetchOnce('GET', url, authorization ? { authorization } : {}, undefined, 'token', `asking ${url.host} for a token`),
    );
  }

  static async open(target: RegistryTarget, opts: ClientOptions = {}): Promise<RegistryClient> {
    const credentials =
      opts.credentials === null
        ? undefined
        : (opts.credentials ?? (await credentialsFor(opts.home, target.host)));
    return new RegistryClient(target, credentials, opts);
  }

  get registry(): string {
    return this.target.host;
  }

  /** Counts bytes of a body the caller streams itself (blob downloads). */
  countIn(n: number): void {
    this.stats.bytesIn += n;
  }

  private async fetchOnce(method: Method, url: URL, headers: Record<string, string>, body: Buffer | undefined, kind: RequestKind, what: string): Promise<Response> {
    this.stats.requests++;
    this.stats.byKind[kind]++;
    if (kind === 'blob' && method === 'GET') this.stats.blobGets++;
    if (kind === 'upload' && (method === 'PUT' || method === 'PATCH')) this.stats.uploads++;
    this.stats.bytesOut += body?.length ?? 0;
    const event = { method, kind, path: url.pathname + url.search, bytesOut: body?.length ?? 0 };
    try {
      const res = await fetch(url, {
        method,
        headers,
        // Buffers we allocate are backed by plain ArrayBuffers (TS cannot tell from the type).
        ...(body !== undefined && { body: body as Uint8Array<ArrayBuffer> }),
        redirect: 'manual',
      });
      this.opts.onRequest?.({ ...event, status: res.status });
      return res;
    } catch (e) {
      this.opts.onRequest?.({ ...event, status: 0 });
      throw unreachable(this.target.host, what, e);
    }
  }

  /** GET /v2/: is this an OCI registry, and how does it want us to authenticate? Once per client. */
  ping(what = 'GET /v2/'): Promise<void> {
    this.pinged ??= (async () => {
      const url = new URL('/v2/', this.target.baseUrl);
      checkTransport(url, `registry ${this.target.host}`);
      let res: Response | undefined;
      for (let i = 0; ; i++) {
        try {
          res = await this.fetchOnce('GET', url, {}, undefined, 'ping', what === 'GET /v2/' ? what : `GET /v2/ before ${what}`);
        } catch (e) {
          if (isTransient(e) && i < this.retries) {
            await sleep(this.backoff(i));
            continue;
          }
          throw e;
        }
        if ((res.status >= 500 || res.status === 429) && i < this.retries) {
          await drain(res);
          await sleep(this.backoff(i));
          continue;
        }
        break;
      }
      await drain(res);
      if (res.status === 401) this.auth.learn(res.headers.get('www-authenticate'));
      else if (res.status !== 200) {
        throw new RegError('REGISTRY_PROTOCOL', `${this.target.host} answered HTTP ${res.status} to GET /v2/: it does not look like an OCI distribution registry`, {
          hint: 'name a registry that speaks the OCI distribution API (distribution, zot, Harbor, GHCR, …)',
        });
      }
    })();
    this.pinged.catch(() => {
      this.pinged = undefined; // a later call may try again
    });
    return this.pinged;
  }

  private backoff(attempt: number, retryAfter?: string | null): number {
    const after = retryAfter ? Number(retryAfter) * 1000 : NaN;
    if (after > 0 && after < 30_000) return after;
    return this.retryDelayMs * 2 ** attempt * (0.75 + Math.random() / 2);
  }

  /** Sends one request, answering auth challenges and following GET/HEAD redirects. */
  private async send(spec: RequestSpec): Promise<Response> {
    await this.ping(spec.what);
    let url = typeof spec.url === 'string' ? new URL(spec.url, this.target.baseUrl) : spec.url;
    checkTransport(url, `registry ${this.target.host}`);
    const origin = new URL(this.target.baseUrl).origin;
    await this.auth.prepare(spec.scopes);
    let challenges = 0;
    let redirects = 0;
    for (;;) {
      const headers = { ...spec.headers };
      // Credentials go to the registry's own origin only, never to where it redirects us.
      const authorization = url.origin === origin ? this.auth.header(spec.scopes) : undefined;
      if (authorization) headers.authorization = authorization;
      const res = await this.fetchOnce(spec.method, url, headers, spec.body, spec.kind, spec.what);
      if (res.status === 401 && url.origin === origin && challenges++ < 2) {
        await drain(res);
        await this.auth.challenged(res.headers.get('www-authenticate'), spec.scopes, authorization !== undefined, spec.what);
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(res.status) && (spec.method === 'GET' || spec.method === 'HEAD')) {
        const location = res.headers.get('location');
        await drain(res);
        if (!location || ++redirects > 5) throw new RegError('REGISTRY_PROTOCOL', `registry ${this.target.host}: too many or empty redirects (${spec.what})`, {});
        url = new URL(location, url);
        checkTransport(url, `registry ${this.target.host} redirected ${spec.what}`);
        continue;
      }
      return res;
    }
  }

  /** Maps an unexpected status to an error naming the registry and the operation. */
  private async statusError(res: Response, spec: RequestSpec): Promise<RegError> {
    const detail = await errorText(res);
    const tail = detail ? `: ${detail}` : '';
    const where = `registry ${this.target.host}`;
    if (res.status === 404) return new RegError('REGISTRY_NOT_FOUND', `${where} has no such thing (HTTP 404${tail}) — ${spec.what}`, {});
    if (res.status === 401) return this.auth.refusedError(spec.what);
    if (res.status === 403) {
      return new RegError('REGISTRY_AUTH', `${where} denied access (HTTP 403${tail}) — ${spec.what}`, {
        hint: 'the credentials are valid but lack permission for this repository (push needs write access)',
      });
    }
    const err = new RegError('REGISTRY_PROTOCOL', `${where} answered HTTP ${res.status}${tail} — ${spec.what}`, {});
    return res.status >= 500 || res.status === 429 ? markTransient(err) : err;
  }

  /** Runs `fn`, retrying transient failures with backoff. */
  async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (isTransient(e) && i < this.retries) {
          await sleep(this.backoff(i));
          continue;
        }
        throw e;
      }
    }
  }

  /** One request that must answer one of `ok`; `retry` repeats it on transient failures. */
  private async call(spec: RequestSpec, ok: number[], retry = true): Promise<Response> {
    const once = async () => {
      const res = await this.send(spec);
      if (ok.includes(res.status)) return res;
      throw await this.statusError(res, spec);
    };
    return retry ? this.retrying(once) : once();
  }

  // ---- manifests -------------------------------------------------------------------------

  /** The digest and media type under a tag, or undefined when the tag does not exist. */
  async headManifest(repo: string, reference: string, what: string): Promise<{ digest: string | undefined; mediaType: string } | undefined> {
    const res = await this.call({ method: 'HEAD', url: `/v2/${repo}/manifests/${reference}`, kind: 'manifest', scopes: [repoScope(repo)], headers: { accept: MANIFEST_ACCEPT }, what }, [200, 404]);
    await drain(res);
    if (res.status === 404) return undefined;
    return { digest: res.headers.get('docker-content-digest') ?? undefined, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim() };
  }

  async getManifest(repo: string, reference: string, what: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    return this.retrying(async () => {
      const spec: RequestSpec = { method: 'GET', url: `/v2/${repo}/manifests/${reference}`, kind: 'manifest', scopes: [repoScope(repo)], headers: { accept: MANIFEST_ACCEPT }, what };
      const res = await this.call(spec, [200], false);
      const bytes = await readLimited(res, MAX_MANIFEST_BYTES, what, this.target.host);
      this.stats.bytesIn += bytes.length;
      const digest = sha256(bytes);
      const claimed = reference.startsWith('sha256:') ? reference : res.headers.get('docker-content-digest');
      if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
        throw new RegError('DIGEST_MISMATCH', `registry ${this.target.host}: manifest ${repo}:${reference} hashes to ${digest}, not ${claimed} (${what})`, {
          hint: 'the registry served a manifest that is not what it names; check the registry storage',
        });
      }
      return { bytes, mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(), digest };
    });
  }

  async putManifest(repo: string, tag: string, bytes: Buffer, mediaType: string, what: string): Promise<string | undefined> {
    const res = await this.call(
      { method: 'PUT', url: `/v2/${repo}/manifests/${tag}`, kind: 'manifest', scopes: [repoScope(repo, true)], headers: { 'content-type': mediaType }, body: bytes, what },
      [200, 201],
    );
    await drain(res);
    return res.headers.get('docker-content-digest') ?? undefined;
  }

  // ---- blobs -----------------------------------------------------------------------------

  async hasBlob(repo: string, digest: string, what: string): Promise<boolean> {
    const res = await this.call({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}`, kind: 'blob', scopes: [repoScope(repo)], what }, [200, 404]);
    await drain(res);
    return res.status === 200;
  }

  /** Starts a blob download; the caller streams `body` (and retries via `retrying`). */
  async openBlob(repo: string, digest: string, what: string): Promise<Response> {
    return this.call({ method: 'GET', url: `/v2/${repo}/blobs/${digest}`, kind: 'blob', scopes: [repoScope(repo)], what }, [200], false);
  }

  /** A small blob (a RET's YAML) into memory, verified against its digest. */
  async getBlob(repo: string, digest: string, limit: number, what: string): Promise<Buffer> {
    return this.retrying(async () => {
      const res = await this.openBlob(repo, digest, what);
      const bytes = await readLimited(res, limit, what, this.target.host);
      this.stats.bytesIn += bytes.length;
      const actual = sha256(bytes);
      if (actual !== digest) {
        throw new RegError('DIGEST_MISMATCH', `registry ${this.target.host}: blob ${digest} hashes to ${actual} (${what})`, {
          hint: 'the registry holds corrupt content under this digest; repair or re-push it',
        });
      }
      return bytes;
    });
  }

  /**
   * Asks the registry to link a blob it holds in `from` into `repo` without an upload.
   * Returns true when mounted, else the upload session the registry opened instead.
   */
  async mountBlob(repo: string, digest: string, from: string, what: string): Promise<true | URL> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.call(
      { method: 'POST', url: `/v2/${repo}/blobs/uploads/?${q}`, kind: 'upload', scopes: [repoScope(repo, true), repoScope(from)], headers: { 'content-length': '0' }, what },
      [201, 202],
    );
    await drain(res);
    if (res.status === 201) return true;
    return this.uploadLocation(res, what);
  }

  private uploadLocation(res: Response, what: string): URL {
    const location = res.headers.get('location');
    if (!location) throw new RegError('REGISTRY_PROTOCOL', `registry ${this.target.host} opened an upload without a Location (${what})`, {});
    const url = new URL(location, this.target.baseUrl);
    checkTransport(url, `registry ${this.target.host}'s upload location`);
    return url;
  }

  /**
   * Uploads a blob: POST opens a session (or `session` from a refused mount), then one PUT
   * (blobs up to `chunkSize`) or PATCH chunks in order followed by the closing PUT. `read`
   * supplies bytes by offset, so a retry starts a fresh session and re-reads from the store.
   */
  async uploadBlob(
    repo: string,
    digest: string,
    size: number,
    read: (offset: number, length: number) => Promise<Buffer>,
    opts: { chunkSize: number; session?: URL; what: string },
  ): Promise<void> {
    let session = opts.session;
    const scopes = [repoScope(repo, true)];
    const what = opts.what;
    await this.retrying(async () => {
      let location = session;
      session = undefined; // a retry opens a new one
      if (!location) {
        const res = await this.call({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, kind: 'upload', scopes, headers: { 'content-length': '0' }, what }, [202], false);
        await drain(res);
        location = this.uploadLocation(res, what);
      }
      const finish = (loc: URL, body: Buffer) => {
        const url = new URL(loc);
        url.searchParams.set('digest', digest);
        return this.call(
          { method: 'PUT', url, kind: 'upload', scopes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body, what },
          [201, 204],
          false,
        );
      };
      let res: Response;
      if (size <= opts.chunkSize) {
        res = await finish(location, await read(0, size));
      } else {
        for (let offset = 0; offset < size; offset += opts.chunkSize) {
          const chunk = await read(offset, Math.min(opts.chunkSize, size - offset));
          const patch = await this.call(
            {
              method: 'PATCH',
              url: location,
              kind: 'upload',
              scopes,
              headers: { 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'content-range': `${offset}-${offset + chunk.length - 1}` },
              body: chunk,
              what,
            },
            [202, 204],
            false,
          );
          await drain(patch);
          location = this.uploadLocation(patch, what);
        }
        res = await finish(location, Buffer.alloc(0));
      }
      await drain(res);
    }).catch(async (e: unknown) => {
      // The registry verifies what we sent: a refusal of the digest means our store's copy is bad.
      if (isRegError(e) && e.code === 'REGISTRY_PROTOCOL' && /DIGEST_INVALID|digest/i.test(e.message)) {
        throw new RegError('DIGEST_MISMATCH', `registry ${this.target.host} refused blob ${digest}: its content does not match the digest (${what})`, {
          hint: 'the local store copy is corrupt: run `reg store verify`, then rebuild or pull the RET that owns it',
          cause: e,
        });
      }
      throw e;
    });
  }

  // ---- listing ---------------------------------------------------------------------------

  /** Every tag of a repository, or undefined when the registry does not know the repository. */
  async listTags(repo: string, what: string): Promise<string[] | undefined> {
    const tags: string[] = [];
    let url: URL | undefined = new URL(`/v2/${repo}/tags/list?n=1000`, this.target.baseUrl);
    while (url) {
      const page: URL = url;
      const res = await this.call({ method: 'GET', url: page, kind: 'tags', scopes: [repoScope(repo)], what }, [200, 404]);
      if (res.status === 404) {
        await drain(res);
        return tags.length ? tags : undefined;
      }
      const body = JSON.parse((await readLimited(res, 16 << 20, what, this.target.host)).toString('utf8')) as { tags?: unknown };
      if (Array.isArray(body.tags)) for (const t of body.tags) if (typeof t === 'string') tags.push(t);
      url = nextLink(res, page);
    }
    return tags;
  }

  /** Every repository the registry lists (GET /v2/_catalog, paginated). */
  async catalog(what: string): Promise<string[]> {
    const repos: string[] = [];
    let url: URL | undefined = new URL('/v2/_catalog?n=1000', this.target.baseUrl);
    while (url) {
      const page: URL = url;
      let res: Response;
      try {
        res = await this.call({ method: 'GET', url: page, kind: 'catalog', scopes: ['registry:catalog:*'], what }, [200]);
      } catch (e) {
        if (isRegError(e) && (e.code === 'REGISTRY_NOT_FOUND' || e.code === 'REGISTRY_AUTH')) {
          throw new RegError('REGISTRY_PROTOCOL', `registry ${this.target.host} does not list its repositories (_catalog: ${e.message})`, {
            hint: 'name the RET to list its versions: reg search REGISTRY/NAMESPACE NAME',
            cause: e,
          });
        }
        throw e;
      }
      const body = JSON.parse((await readLimited(res, 16 << 20, what, this.target.host)).toString('utf8')) as { repositories?: unknown };
      if (Array.isArray(body.repositories)) for (const r of body.repositories) if (typeof r === 'string') repos.push(r);
      url = nextLink(res, page);
    }
    return repos;
  }
}
