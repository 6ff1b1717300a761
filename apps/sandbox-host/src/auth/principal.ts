// Who is asking: an administrator (a request over the host's unix socket, trusted by its file
// permissions) or a signed-in user. Access failures are errors with stable codes, mapped to HTTP
// statuses in the same table as reg-core's.

import type { Role } from '@reg/protocol';

export type Principal = { kind: 'admin' } | { kind: 'user'; user: { id: string; username: string; role: Role } };

export const ACCESS_CODES = ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST'] as const;
export type AccessCode = (typeof ACCESS_CODES)[number];

export class AccessError extends Error {
  constructor(
    readonly code: AccessCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

export const principalId = (p: Principal): string | null => (p.kind === 'admin' ? null : p.user.id);
