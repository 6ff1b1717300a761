// The bounded, rotated output log of a detached container: output.log grows to maxBytes, then
// becomes output.log.1 (…, up to `files` rotated copies, the oldest dropped), like Docker's
// json-file driver with max-size/max-file. A small native helper (reg-log, packages/native/src/
// logger/log.c) owns the write end: the container's stdout and stderr are a pipe to it, so the log
// is bounded whoever started the container (a CLI that exited long ago, a host that restarted).
// It replaced a Node helper per container (35-40 MB RSS each) with a C program of well under 1 MB.
// This module decides the policy (limits, from REG_LOG_MAX_BYTES / REG_LOG_FILES); reg-log only
// executes it, and log-reader.ts reads the files back.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { logWriterPath } from '@reg/native';
import { RegError } from '../errors.js';

export const LOG_MAX_BYTES = 8 * 1024 * 1024;
export const LOG_FILES = 2;
/** reg-log refuses more rotated copies than this (a typo such as 20000 would mean 20000 renames per rotation). */
export const LOG_FILES_MAX = 1000;

export interface LogLimits {
  /** Size at which the current file is rotated. */
  maxBytes: number;
  /** Rotated files kept (output.log.1 … output.log.N) besides the current one. */
  files: number;
}

export const rotatedPath = (path: string, n: number) => (n === 0 ? path : `${path}.${n}`);

/** The limits from the environment (REG_LOG_MAX_BYTES, REG_LOG_FILES), defaults where unset; a bad value is a clear error naming the variable. */
export function logLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): LogLimits {
  const read = (name: string, min: number, max: number, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new RegError('USAGE', `${name} must be a whole number from ${min} to ${max}, not "${raw}"`, { field: name, hint: `unset ${name} for the default (${fallback})` });
    }
    return n;
  };
  return { maxBytes: read('REG_LOG_MAX_BYTES', 1, Number.MAX_SAFE_INTEGER, LOG_MAX_BYTES), files: read('REG_LOG_FILES', 0, LOG_FILES_MAX, LOG_FILES) };
}

/**
 * Starts reg-log for `path` as a detached process reading its stdin (a pipe: give its write end
 * to the container as stdout and stderr, then close ours). It ends when every writer has closed
 * the pipe, i.e. when the container and everything it started are gone.
 */
export function spawnLogWriter(path: string, limits: LogLimits = logLimitsFromEnv()): ChildProcess {
  if (!existsSync(logWriterPath)) {
    throw new RegError('LAUNCH_FAILED', `the log helper ${logWriterPath} is missing`, { file: logWriterPath, hint: 'build it: npm run build -w @reg/native' });
  }
  const child = spawn(logWriterPath, [resolve(path), String(limits.maxBytes), String(limits.files)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  // A helper that vanished between the check and the spawn (a rebuild of packages/native) or a
  // closed pipe must fail this start, never the whole process with an unhandled 'error'.
  child.on('error', () => {});
  child.stdin?.on('error', () => {});
  if (child.pid === undefined) {
    child.stdin?.destroy();
    throw new RegError('LAUNCH_FAILED', `the log helper ${logWriterPath} could not be started`, { file: logWriterPath, hint: 'build it: npm run build -w @reg/native' });
  }
  return child;
}
