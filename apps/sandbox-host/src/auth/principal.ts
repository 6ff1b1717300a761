// Who is asking: an administrator (a request over the host's unix socket, trusted by its file
// permissions) or a signed-in user. Access failures are errors with stable codes, mapped to HTTP
// statuses in the same table as reg-core's.

import type { Role } from '@reg/protocol';

export type Principal =
  | { kind: 'admin' }
  | {
      kind: 'user';
      user: { id: string; username: string; role: Role };
      /** The AuthSession row this request signed in with (sign-out revokes it). */
      sid?: string;
      /** The account still has its initial password: only changing it (and signing out) is allowed. */
      mustChangePassword?: boolean;
    };

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

/** Refusals of a request as such (HTTP only; socket events have their own codes). */
export const REQUEST_CODES = ['RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'PASSWORD_CHANGE_REQUIRED', 'CONFLICT', 'NO_HOST_AVAILABLE'] as const;
export type RequestCode = (typeof REQUEST_CODES)[number];

export class RequestError extends Error {
  constructor(
    readonly code: RequestCode,
    message: string,
    readonly hint?: string,
    /** RATE_LIMITED: seconds until a retry can succeed (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}
