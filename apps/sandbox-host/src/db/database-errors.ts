// What the host says when its database is not there. At start: one line naming DATABASE_URL's
// host:port (never its password) and what to do. While running: a lost PostgreSQL turns into
// HTTP 503 DATABASE_UNAVAILABLE (error-status.ts) instead of a 500 with a driver's stack, and the
// pool reconnects by itself when the server is back.

export type DatabaseErrorCode = 'DATABASE_UNREACHABLE' | 'DATABASE_AUTH' | 'DATABASE_MISSING' | 'DATABASE_URL_INVALID';

export class DatabaseError extends Error {
  constructor(
    readonly code: DatabaseErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DatabaseError';
  }
}

/** `host:port/database` of a postgresql:// URL, without user or password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    const socketHost = u.searchParams.get('host');
    const where = socketHost ? `${socketHost} (unix socket)` : `${u.hostname || 'localhost'}:${u.port || '5432'}`;
    return `${where}/${decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default database)'}`;
  } catch {
    return '(an unparsable URL)';
  }
}

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** Turns a failed first connection into one actionable sentence. */
export function databaseConnectError(url: string, e: unknown): DatabaseError {
  const where = describePostgresUrl(url);
  const code = codeOf(e);
  const reason = (e as Error)?.message ?? String(e);
  if (code === '28P01' || code === '28000') {
    return new DatabaseError('DATABASE_AUTH', `PostgreSQL at ${where} refused the user or password in DATABASE_URL (${reason}); fix DATABASE_URL's user:password or the server's pg_hba.conf`, { cause: e });
  }
  if (code === '3D000') {
    return new DatabaseError('DATABASE_MISSING', `PostgreSQL at ${where}: ${reason}; create it (createdb, or CREATE DATABASE) or fix the database name in DATABASE_URL`, { cause: e });
  }
  const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'no such host' : /timeout/i.test(reason) ? 'no answer within 10 s' : reason;
  return new DatabaseError('DATABASE_UNREACHABLE', `cannot reach PostgreSQL at ${where} (DATABASE_URL): ${why}; start PostgreSQL there or point DATABASE_URL at a running server, then start the host again`, { cause: e });
}

// SQLSTATE classes and codes that mean "the server is gone or not accepting work", not "your query is wrong".
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const UNAVAILABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
// Prisma's codes: P1001 can't reach, P1002 timed out, P1008 operation timed out, P1017 server closed the connection, P2024 pool timeout.
const UNAVAILABLE_PRISMA = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
const UNAVAILABLE_KIND = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
const UNAVAILABLE_MESSAGE = /Connection terminated|Can't reach database server|Server has closed the connection|terminating connection due to administrator command|the database system is (shutting down|starting up|in recovery mode)|Client has encountered a connection error|timeout exceeded when trying to connect|connect ECONNREFUSED/i;

/** True for errors that mean the database is unreachable right now (worth a 503 and a retry), at any depth of `cause`. */
export function isDatabaseUnavailable(e: unknown): boolean {
  for (let depth = 0, cur: unknown = e; cur && depth < 6; depth++) {
    if (cur instanceof DatabaseError) return cur.code === 'DATABASE_UNREACHABLE';
    const code = codeOf(cur);
    if (code && (UNAVAILABLE_NODE.has(code) || UNAVAILABLE_PRISMA.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    const kind = (cur as { kind?: unknown }).kind;
    if (typeof kind === 'string' && UNAVAILABLE_KIND.has(kind)) return true;
    const original = (cur as { originalCode?: unknown }).originalCode;
    if (typeof original === 'string' && UNAVAILABLE_SQLSTATE.test(original)) return true;
    const message = (cur as { message?: unknown }).message;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The PostgreSQL schema named by DATABASE_URL's `?schema=` (Prisma's convention), or undefined for
 * the server's default (public). Checked: it becomes an identifier in SQL.
 */
export function postgresSchemaOf(url: string): string | undefined {
  let schema: string | null = null;
  try {
    schema = new URL(url).searchParams.get('schema');
  } catch {
    throw new DatabaseError('DATABASE_URL_INVALID', 'DATABASE_URL is not a valid URL: write postgresql://user:password@host:port/database');
  }
  if (schema === null || schema === '') return undefined;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new DatabaseError('DATABASE_URL_INVALID', `DATABASE_URL ?schema=${schema}: a schema name is letters, digits and _ (at most 63, not starting with a digit)`);
  return schema;
}
