// The browser's typed client for the host's classroom routes (same origin, proxied). Errors keep
// the host's code, message, hint and issues (roster problems by line and field).

import type { ApiError, ClassEnvironment, ClassRunView, ClassView, ContainerView, DistributeReply, MemberView, RosterReply, UpdateEnvironment } from '@reg/protocol';

export class ClassApiFailure extends Error {
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

async function call<T>(method: string, path: string, body?: unknown, raw?: { body: BodyInit; type: string }): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: raw ? { 'content-type': raw.type } : body === undefined ? {} : { 'content-type': 'application/json' },
    ...(raw ? { body: raw.body } : body !== undefined && { body: JSON.stringify(body) }),
  });
  const json = (await res.json().catch(() => ({}))) as T | ApiError;
  if (!res.ok) {
    const e = (json as ApiError).error ?? { code: `HTTP_${res.status}`, message: res.statusText };
    // A host fault's own words are for the host's log.
    if (res.status >= 500) throw new ClassApiFailure(res.status, e.code, `the host could not do that (${e.code}); try again, or tell your instructor`);
    throw new ClassApiFailure(res.status, e.code, e.message, e.hint, e.issues ?? []);
  }
  return json as T;
}

const c = (id: string) => `/api/classes/${encodeURIComponent(id)}`;
const q = (p: string) => `?path=${encodeURIComponent(p)}`;

export const classApi = {
  list: (archived = false) => call<ClassView[]>('GET', `/api/classes${archived ? '?archived=1' : ''}`),
  create: (body: { name: string; ret: string; tools: string[] }) => call<ClassView>('POST', '/api/classes', body),
  get: (id: string) => call<ClassView>('GET', c(id)),
  join: (code: string) => call<ClassView>('POST', '/api/classes/join', { code }),
  updateEnvironment: (id: string, body: UpdateEnvironment) => call<ClassView>('POST', `${c(id)}/environment`, body),
  archive: (id: string, archived: boolean) => call<ClassView>('POST', `${c(id)}/archive`, { archived }),
  joinCode: (id: string, action: 'rotate' | 'disable') => call<{ joinCode: string | null }>('POST', `${c(id)}/join-code`, { action }),
  members: (id: string) => call<MemberView[]>('GET', `${c(id)}/members`),
  addMember: (id: string, username: string, role: 'student' | 'ta') => call<MemberView[]>('POST', `${c(id)}/members`, { username, role }),
  removeMember: (id: string, userId: string) => call<MemberView[]>('DELETE', `${c(id)}/members/${encodeURIComponent(userId)}`),
  setMemberLimits: (id: string, userId: string, limits: NonNullable<MemberView['limits']>) => call<MemberView[]>('POST', `${c(id)}/members/${encodeURIComponent(userId)}/limits`, { limits }),
  importRoster: (id: string, file: Blob, credentials: 'password' | 'link' = 'password') => call<RosterReply>('POST', `${c(id)}/roster?credentials=${credentials}`, undefined, { body: file, type: 'text/csv' }),
  openTerminal: (id: string) => call<ContainerView>('POST', `${c(id)}/terminals`),
  run: (id: string) => call<ClassRunView | null>('GET', `${c(id)}/run`),
  start: (id: string) => call<{ already: boolean; run: ClassRunView }>('POST', `${c(id)}/start`),
  stop: (id: string) => call<{ ended: number; run: ClassRunView | null }>('POST', `${c(id)}/stop`),
  starterFiles: (id: string) => call<Array<{ path: string; bytes: number }>>('GET', `${c(id)}/starter-files`),
  putStarterFile: (id: string, path: string, file: Blob) => call<{ path: string; bytes: number }>('POST', `${c(id)}/starter-files${q(path)}`, undefined, { body: file, type: 'application/octet-stream' }),
  deleteStarterFile: (id: string, path: string) => call<{ ok: true }>('DELETE', `${c(id)}/starter-files${q(path)}`),
  distribute: (id: string, path: string, file: Blob) => call<DistributeReply>('POST', `${c(id)}/distribute${q(path)}`, undefined, { body: file, type: 'application/octet-stream' }),
  addPackage: (id: string, ret: string) => call<{ ret: string; inserted: number; failures: DistributeReply['failures']; environment: ClassEnvironment }>('POST', `${c(id)}/packages`, { ret }),
  rets: () => call<Array<{ name: string; version: string; description?: string }>>('GET', '/api/rets'),
  /** Links (the browser downloads them with the session cookie). */
  myWorkspaceUrl: (id: string) => `${c(id)}/workspace`,
  studentWorkspaceUrl: (id: string, userId: string) => `${c(id)}/workspaces/${encodeURIComponent(userId)}`,
  collectUrl: (id: string, path: string) => `${c(id)}/collect${q(path)}`,
};

export function describeFailure(e: unknown): string {
  if (e instanceof ClassApiFailure) return `${e.message}${e.hint ? ` (${e.hint})` : ''}`;
  return 'the host does not answer';
}
