// The one error type of the engine. Every infrastructure fault carries a stable code; the CLI
// prints message + hint, the host maps codes to HTTP statuses in one table. A student's program
// failing is not an error (see container outcomes), only Reg's own faults are.

export const ERROR_CODES = [
  'RET_INVALID', // a RET document is malformed or fails validation
  'RET_NOT_FOUND', // no RET with that name, or no version matching the range
  'RET_EXISTS', // a RET with that name@version already exists with different content
  'DEPENDENCY_CYCLE', // requires form a cycle
  'PATH_CONFLICT', // two RETs put different content at one container path
  'PATH_ESCAPES', // a container path or symlink target leaves the tree
  'NOT_ELF', // a file given as a binary is not an ELF object
  'ELF_INVALID', // an ELF object is truncated or inconsistent
  'LIBRARY_NOT_FOUND', // a DT_NEEDED entry cannot be found on the loader's search path
  'FILE_NOT_FOUND', // a host file named by the user does not exist
  'DIGEST_MISMATCH', // content does not hash to the digest that names it
  'BLOB_MISSING', // a RET names a blob the store does not hold
  'STORE_FULL', // the disk under REG_HOME is full
  'STORE_IO', // any other I/O failure under REG_HOME
  'USAGE', // the command line is wrong
  'ILLEGAL_TRANSITION', // a lifecycle verb is not allowed in the container's current status
  'CONTAINER_NOT_FOUND',
  'LAUNCH_FAILED',
  'CGROUP_FAILED',
  'PERMISSION_DENIED',
  'REGISTRY_UNREACHABLE', // the registry did not answer (DNS, refused, TLS, timeout)
  'REGISTRY_AUTH', // the registry refused the credentials (or asked for some)
  'REGISTRY_PROTOCOL', // the registry answered something that is not the OCI distribution API
  'REGISTRY_NOT_FOUND', // the registry lacks the repository, tag, manifest or blob
  'CONTAINER_EXISTS',
  'HOST_UNREACHABLE', // the reg CLI cannot reach the Reg host it was pointed at
  'HOST_REFUSED', // the Reg host refused the request (authentication, authorisation)
  'INVALID_LIMITS',
  'LIMIT_EXCEEDED', // a limit above its ceiling (or not positive), or a per-user cap reached
  'QUOTA_FAILED', // the disk quota machinery (loop image, project quota) could not be set up
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface RegErrorDetails {
  hint?: string;
  /** The file the error is about (a RET document, a host file, a blob). */
  file?: string;
  /** The field inside that file, as a dotted path (e.g. `lock.files[3].path`). */
  field?: string;
  /** Structured problems (e.g. every zod issue), kept until the edge renders them. */
  issues?: ReadonlyArray<{ path: string; message: string; line?: number }>;
  cause?: unknown;
}

export class RegError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly file: string | undefined;
  readonly field: string | undefined;
  readonly issues: RegErrorDetails['issues'];

  constructor(code: ErrorCode, message: string, details: RegErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RegError';
    this.code = code;
    this.hint = details.hint;
    this.file = details.file;
    this.field = details.field;
    this.issues = details.issues;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint && { hint: this.hint }),
      ...(this.file && { file: this.file }),
      ...(this.field && { field: this.field }),
      ...(this.issues && { issues: this.issues }),
    };
  }
}

export function isRegError(e: unknown, code?: ErrorCode): e is RegError {
  return e instanceof RegError && (code === undefined || e.code === code);
}

/** Turns a Node fs error under REG_HOME into a RegError, keeping ENOSPC distinct. */
export function storeIoError(e: unknown, what: string, file: string): RegError {
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new RegError('STORE_FULL', `${what}: no space left on the device holding ${file}`, {
      file,
      hint: 'free disk space (reg store gc removes unreferenced blobs) or move REG_HOME to a larger disk',
      cause: e,
    });
  }
  if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') {
    return new RegError('PERMISSION_DENIED', `${what}: permission denied on ${file}`, {
      file,
      hint: 'run as root or set REG_HOME to a directory you can write',
      cause: e,
    });
  }
  return new RegError('STORE_IO', `${what}: ${(e as Error)?.message ?? String(e)}`, { file, cause: e });
}
