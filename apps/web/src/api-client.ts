// The browser's calls to the host API (same origin, proxied). Errors keep the host's code and hint.

import type { ApiError, ContainerView, CreateContainer, UserView } from '@reg/protocol';

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const json = (await res.json().catch(() => ({}))) as T | ApiError;
  if (!res.ok) {
    const e = (json as ApiError).error ?? { code: 'HTTP_' + res.status, message: res.statusText };
    // A host fault's own words (server paths, build hints) are for the host's log, not students.
    if (res.status >= 500 && e.code !== 'HOST_UNREACHABLE') throw new ApiFailure(res.status, e.code, `the host could not do that (${e.code}); try again, or tell your instructor`);
    throw new ApiFailure(res.status, e.code, e.message, e.hint);
  }
  return json as T;
}

export const api = {
  signIn: (username: string, password: string) => call<{ user: UserView }>('POST', '/api/auth/sign-in', { username, password }),
  signOut: () => call<{ ok: true }>('POST', '/api/auth/sign-out'),
  me: () => call<UserView>('GET', '/api/auth/me'),
  containers: () => call<ContainerView[]>('GET', '/api/containers'),
  create: (body: CreateContainer) => call<ContainerView>('POST', '/api/containers', body),
  terminalToken: (id: string) => call<{ token: string; expiresAt: string }>('POST', `/api/containers/${id}/terminal-token`),
  remove: (id: string) => call<ContainerView>('DELETE', `/api/containers/${id}`),
};

/** The scratch terminals the start page offers: a RET and the REPL to run on a terminal (files are not kept). */
export const TERMINAL_KINDS = {
  python: { label: 'Scratch Python', ret: 'python@3.11', command: ['python3'] },
  node: { label: 'Scratch Node', ret: 'node@20', command: ['node'] },
} as const;
