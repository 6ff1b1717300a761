// The browser's typed client for the host's admin routes (same origin, proxied) and the account
// routes the sign-in pages use (one-time links, password change). Errors keep the host's code,
// message, hint and issues (an import's problems by line and field).

import type { AdminHosts, AdminUser, ApiError, AuditEntryView, HistoryPoint, LimitPolicyView, LimitValues, MemorySnapshot, Role } from '@reg/protocol';

export class AdminApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { ...extraHeaders, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const json = (await res.json().catch(() => ({}))) as T | ApiError;
  if (!res.ok) {
    const e = (json as ApiError).error ?? { code: `HTTP_${res.status}`, message: res.statusText };
    if (res.status >= 500) throw new AdminApiFailure(res.status, e.code, `the host could not do that (${e.code}); try again`);
    const retry = res.headers.get('retry-after');
    throw new AdminApiFailure(res.status, e.code, e.message, e.hint ?? (retry ? `try again in ${retry} s` : undefined), e.issues ?? []);
  }
  return json as T;
}

export type Credential = { username: string; initialPassword?: string; link?: string; expiresAt?: string };
export type UserQuery = { q?: string; role?: Role | ''; status?: 'active' | 'disabled' | ''; page?: number; pageSize?: number };
export type AuditQuery = { actor?: string; action?: string; classId?: string; from?: string; to?: string; page?: number; pageSize?: number };

const qs = (o: Record<string, string | number | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};
const u = (id: string) => `/api/admin/users/${encodeURIComponent(id)}`;

export const adminApi = {
  users: (q: UserQuery = {}) => call<{ users: AdminUser[]; total: number; page: number; pageSize: number }>('GET', `/api/admin/users${qs(q)}`),
  createUser: (body: { username: string; displayName?: string; email?: string; role: Role; credential: 'password' | 'link' }) => call<{ user: AdminUser; credential: Credential }>('POST', '/api/admin/users', body),
  importUsers: (csv: string, credential: 'password' | 'link') => call<{ created: Credential[] }>('POST', '/api/admin/users/import', { csv, credential }),
  updateUser: (id: string, body: { role?: Role; disabled?: boolean; displayName?: string | null; email?: string | null }) => call<AdminUser>('POST', u(id), body),
  resetPassword: (id: string, credential: 'password' | 'link') => call<{ user: AdminUser; credential: Credential }>('POST', `${u(id)}/reset-password`, { credential }),
  deleteUser: (id: string, workspaces: 'keep' | 'remove', confirm: string) => call<{ ok: true; containersEnded: number; workspaces: 'kept' | 'removed' }>('POST', `${u(id)}/delete`, { workspaces, confirm }),
  audit: (q: AuditQuery = {}) => call<{ entries: AuditEntryView[]; total: number; page: number; pageSize: number }>('GET', `/api/admin/audit${qs(q)}`),
  memory: () => call<MemorySnapshot>('GET', '/api/admin/memory'),
  hosts: () => call<AdminHosts>('GET', '/api/admin/hosts'),
  // `host`: in a cluster, the host whose history to read (the web origin honours x-reg-host).
  history: (range: 'live' | 'hour' | 'day' | 'month', host?: string) => call<{ range: string; resolutionSeconds: number; points: HistoryPoint[] }>('GET', `/api/admin/memory/history?range=${range}`, undefined, host ? { 'x-reg-host': host } : {}),
  stopContainer: (id: string) => call<{ ok: true; stopped: boolean }>('POST', `/api/admin/containers/${encodeURIComponent(id)}/stop`),
  limits: () => call<LimitPolicyView>('GET', '/api/admin/limits'),
  setLimits: (body: { defaults?: Partial<LimitValues>; ceilings?: Partial<LimitValues>; maxContainersPerUser?: number }) => call<LimitPolicyView>('POST', '/api/admin/limits', body),
  cullIdle: (idleSeconds: number) => call<{ ok: true; ended: string[] }>('POST', '/api/admin/cull-idle', { idleSeconds }),
};

export const accountApi = {
  linkSignIn: (token: string) => call<{ user: { username: string }; mustChangePassword?: boolean }>('POST', '/api/auth/link', { token }),
  changePassword: (body: { oldPassword?: string; newPassword: string }) => call<{ ok: true; sessionsRevoked: number; containersEnded: number }>('POST', '/api/auth/password', body),
};
