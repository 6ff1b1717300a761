// The one table from error codes (reg-core's and the host's own) to HTTP statuses, and the JSON
// error body every failing API call answers with.

import { isRegError, type ErrorCode } from '@reg/core';
import type { ApiError } from '@reg/protocol';
import { ZodError } from 'zod';
import { AccessError, RequestError, type AccessCode, type RequestCode } from '../auth/principal.js';

export const STATUS_BY_CODE: Record<ErrorCode | AccessCode | RequestCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  PASSWORD_CHANGE_REQUIRED: 403,
  CONFLICT: 409,
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
  if (isRegError(e)) {
    const body = e.toJSON() as ApiError['error'];
    return { status: STATUS_BY_CODE[e.code] ?? 500, body: { error: { code: e.code, message: body.message, ...(body.hint && { hint: body.hint }), ...(body.field && { field: body.field }), ...(e.issues && { issues: e.issues.map((i) => ({ path: i.path, message: i.message })) }) } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: (e as Error)?.message ?? 'internal error' } } };
}
