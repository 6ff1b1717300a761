// Client mode: the reg CLI talking to a running Reg host (apps/sandbox-host) over HTTP, on its
// unix socket (trusted as the administrator by file permissions) or on TCP with a bearer token.
// Selected with --host or REG_HOST: `unix:/var/lib/reg/reg.sock` or `http://127.0.0.1:3001`.

import { request } from 'node:http';
import { ERROR_CODES, RegError, type ErrorCode } from '../errors.js';
import type { ContainerState } from '../container/state.js';

export interface HostTarget {
  socketPath?: string;
  base?: URL;
  token?: string;
}

export function parseHostTarget(value: string, token = process.env.REG_TOKEN): HostTarget {
  if (value.startsWith('unix:')) return { socketPath: value.slice(5) };
  try {
    const base = new URL(value);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('protocol');
    return { base, ...(token && { token }) };
  } catch {
    throw new RegError('USAGE', `--host "${value}" is neither unix:/path/to/reg.sock nor an http:// URL`, { field: '--host' });
  }
}

export class RemoteHost {
  constructor(private readonly target: HostTarget) {}

  get describe(): string {
    return this.target.socketPath ? `unix:${this.target.socketPath}` : this.target.base!.origin;
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        this.target.socketPath
          ? { socketPath: this.target.socketPath, path, method, headers }
          : { host: this.target.base!.hostname, port: this.target.base!.port, path, method, headers, protocol: this.target.base!.protocol },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    }).catch((e: Error) => {
      throw new RegError('HOST_UNREACHABLE', `cannot reach the Reg host at ${this.describe}: ${e.message}`, {
        hint: 'is it running (npm start)? is --host / REG_HOST right?',
        cause: e,
      });
    });
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (status >= 400) {
      const err = (json as { error?: { code?: string; message?: string; hint?: string; field?: string } } | undefined)?.error;
      const known = (ERROR_CODES as readonly string[]).includes(err?.code ?? '');
      const code: ErrorCode = known ? (err!.code as ErrorCode) : status === 401 || status === 403 ? 'HOST_REFUSED' : status === 404 ? 'CONTAINER_NOT_FOUND' : 'USAGE';
      throw new RegError(code, `${this.describe}: ${err?.message ?? `HTTP ${status}`}`, {
        ...(err?.hint && { hint: err.hint }),
        ...(err?.field && { field: err.field }),
        ...(status === 401 && !err?.hint && { hint: 'set REG_TOKEN to a token from POST /api/auth/sign-in, or use the unix socket' }),
      });
    }
    return json as T;
  }
}

/** The subset of a container the host's API returns (see packages/protocol). */
export type RemoteContainer = Pick<ContainerState, 'id' | 'name' | 'ret' | 'rets' | 'command' | 'status' | 'createdAt' | 'outcome'> & { inserted: Array<{ ref: string }> };
