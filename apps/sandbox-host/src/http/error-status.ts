// The one table from error codes (reg-core's and the host's own) to HTTP statuses, and the JSON
// error body every failing API call answers with.

import { isRegError, type ErrorCode } from '@reg/core';
import type { ApiError } from '@reg/protocol';
import { ZodError } from 'zod';
import { AccessError, RequestError, type AccessCode, type RequestCode } from '../auth/principal.js';
import { isDatabaseUnavailable } from '../db/database-errors.js';

export const STATUS_BY_CODE: Record<ErrorCode | AccessCode | RequestCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  PASSWORD_CHANGE_REQUIRED: 403,
  CONFLICT: 409,
  NO_HOST_AVAILABLE: 503,
  USAGE: 400,
  RET_INVALID: 400,
  INVALID_LIMITS: 400,
  LIMIT_EXCEEDED: 429,
  QUOTA_FAILED: 500,
  PATH_ESCAPES: 400,
  NOT_ELF: 400,
  ELF_INVALID: 400,
  RET_NOT_FOUND: 404,
  CONTAINER_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  REGISTRY_NOT_FOUND: 404,
  RET_EXISTS: 409,
  CONTAINER_EXISTS: 409,
  ILLEGAL_TRANSITION: 409,
  DEPENDENCY_CYCLE: 422,
  PATH_CONFLICT: 422,
  LIBRARY_NOT_FOUND: 422,
  DIGEST_MISMATCH: 500,
  BLOB_MISSING: 500,
  STORE_IO: 500,
  PERMISSION_DENIED: 500,
  LAUNCH_FAILED: 500,
  CGROUP_FAILED: 500,
  REGISTRY_PROTOCOL: 502,
  REGISTRY_UNREACHABLE: 502,
  REGISTRY_AUTH: 502,
  STORE_FULL: 507,
  HOST_UNREACHABLE: 502,
  HOST_REFUSED: 403,
};

/**
 * What a caller who is not an admin sees of an error. Engine errors are written for the operator
 * at a terminal: their hints name CLI commands, environment variables and files on the host, and
 * their messages may hold absolute host paths. For everyone else the message keeps its meaning
 * with host paths cut out, and a hint survives only if it is plain advice (no command, flag,
 * variable or path); unexpected (non-Reg) errors say only that the host failed. Admins (role admin
 * or the unix socket) get `errorResponse` unchanged; the host logs the full error either way.
 */
export function errorResponseFor(e: unknown, admin: boolean): { status: number; body: ApiError; redacted: boolean } {
  const full = errorResponse(e);
  if (admin || e instanceof AccessError || e instanceof RequestError || e instanceof ZodError || full.status === 503) return { ...full, redacted: false };
  const err = full.body.error;
  let message: string;
  if (!isRegError(e)) message = 'the host failed to do that; an admin can find the details in the host log';
  else if (e.code === 'RET_NOT_FOUND' && /^no RET matches /.test(e.message)) message = e.message.replace(/^no RET matches (\S+)/, 'no RET $1 on this host');
  else if (e.code === 'USAGE' && e.field === 'command' && / names no default command$/.test(e.message)) message = 'this RET has no command to run';
  else message = withoutHostPaths(err.message);
  const hint = err.hint && !OPERATOR_HINT.test(err.hint) ? err.hint : undefined;
  const body: ApiError = {
    error: {
      code: err.code,
      message,
      ...(hint && { hint }),
      ...(err.field && { field: err.field }),
      ...(err.issues && { issues: err.issues.map((i) => ({ path: i.path, message: withoutHostPaths(i.message) })) }),
    },
  };
  return { status: full.status, body, redacted: JSON.stringify(body) !== JSON.stringify(full.body) };
}

/** A hint for the operator: a command (`reg …`, backticks, --flags), a variable, a path or a config file. */
const OPERATOR_HINT = /`|\breg\s|(^|\s)--?[a-z]|\bREG_|\$\{|\$[A-Z]|(^|[\s"'(=])\/[\w.@+-]+\/|\.json\b|\bapt(-cache|-get)?\s|\bnpm\s|\bsudo\b/;
/** Absolute paths of two or more components (a host's /var/lib/reg/…, /tmp/…); a bare "/" or "/x" stays. */
const ABSOLUTE_PATH = /(^|[\s"'(=:,])\/[\w.@+-]+(\/[\w.@+-]*)+/g;
export const withoutHostPaths = (m: string): string => m.replace(ABSOLUTE_PATH, '$1(a path on the host)');

export function errorResponse(e: unknown): { status: number; body: ApiError } {
  if (e instanceof AccessError || e instanceof RequestError) {
    return { status: STATUS_BY_CODE[e.code], body: { error: { code: e.code, message: e.message, ...(e.hint && { hint: e.hint }) } } };
  }
  if (e instanceof ZodError) {
    return {
      status: 400,
      body: {
        error: {
          code: 'BAD_REQUEST',
          message: 'the request does not match the API',
          issues: e.issues.map((i) => ({ path: i.path.join('.') || '(body)', message: i.message })),
        },
      },
    };
  }
  // The database went away (PostgreSQL restarting, a network cut): a retryable 503 for everyone, not a 500.
  if (isDatabaseUnavailable(e)) {
    return { status: 503, body: { error: { code: 'DATABASE_UNAVAILABLE', message: 'the classroom database is not reachable right now; try again in a moment', hint: 'terminals that are already open keep working' } } };
  }
  if (isRegError(e)) {
    const body = e.toJSON() as ApiError['error'];
    return { status: STATUS_BY_CODE[e.code] ?? 500, body: { error: { code: e.code, message: body.message, ...(body.hint && { hint: body.hint }), ...(body.field && { field: body.field }), ...(e.issues && { issues: e.issues.map((i) => ({ path: i.path, message: i.message })) }) } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: (e as Error)?.message ?? 'internal error' } } };
}
