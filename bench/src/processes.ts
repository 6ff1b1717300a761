// Running host commands: to completion with captured output (set-up steps), or timed from
// spawn to exit with nothing captured (the measured runs — all engines use this same path, so
// the cost of Node's spawn is the same for every row).

import { spawn, type SpawnOptions } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing stdout and stderr. */
export function capture(file: string, args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...opts, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // a command that exits without reading its input
      child.stdin!.end(opts.input);
    }
  });
}

/** Like capture, but a non-zero exit is an error that quotes stderr. */
export async function check(file: string, args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<string> {
  const r = await capture(file, args, opts);
  if (r.code !== 0) {
    const cmd = [file, ...args].join(' ');
    throw new Error(`${cmd.length > 200 ? `${cmd.slice(0, 200)}…` : cmd} exited with ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  }
  return r.stdout;
}

/** Runs a shell pipeline (only for fixed, bench-authored strings). */
export const sh = (script: string, opts: SpawnOptions = {}) => check('/bin/sh', ['-c', script], opts);

/**
 * The environment of every measured command: the same few variables a container gets. (The
 * bench's own environment can slow a runtime down — NODE_EXTRA_CA_CERTS makes every node parse a
 * CA bundle at start-up — and containers start with a clean one, so bare runs must too.)
 */
export const CLEAN_ENV: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };

export interface Timed {
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Spawns a command with no stdio and times it from spawn() to its exit (env: CLEAN_ENV by default). */
export function timeRun(file: string, args: string[], opts: SpawnOptions = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, args, { env: CLEAN_ENV, ...opts, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ ms: performance.now() - t0, code, signal }));
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** Is a command on PATH (or an absolute path that exists)? */
export async function which(cmd: string): Promise<string | undefined> {
  const r = await capture('/bin/sh', ['-c', `command -v ${cmd}`]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}
