// Starting the native launcher. Who spawns it differs (a child process for the CLI, node-pty for
// a browser terminal), so spawning is a function the caller passes; this module provides the
// child_process one and a runner for the short-lived `insert` mode.

import { spawn, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { launcherPath as builtLauncher } from '@reg/native';
import { RegError } from '../errors.js';
import { parseEvents, type LaunchEvent } from './events.js';

export interface SpawnedLauncher {
  pid: number;
  /** Settles when the launcher process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `file args` somehow (child_process, node-pty) and reports its pid and exit. */
export type SpawnLauncher = (file: string, args: string[]) => SpawnedLauncher;

export function launcherPath(): string {
  const p = process.env.REG_LAUNCHER || builtLauncher;
  if (!existsSync(p)) {
    throw new RegError('LAUNCH_FAILED', `the launcher ${p} is not built`, { hint: 'run `npm run build` (it builds packages/native with node-gyp)' });
  }
  return p;
}

/** A SpawnLauncher on child_process: foreground (stdio inherited) or detached (outlives us). */
export function childProcessSpawner(opts: { stdio?: StdioOptions; detached?: boolean } = {}): SpawnLauncher {
  return (file, args) => {
    const child = spawn(file, args, { stdio: opts.stdio ?? 'ignore', detached: opts.detached ?? false });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => resolve({ code, signal }));
      child.on('error', () => resolve({ code: 125, signal: null }));
    });
    if (opts.detached) child.unref();
    if (child.pid === undefined) throw new RegError('LAUNCH_FAILED', `cannot start ${file}`, { hint: 'is the launcher built and executable?' });
    return { pid: child.pid, exited };
  };
}

/** Runs the launcher to completion with a status pipe on fd 3 (for `insert`). */
export async function runLauncher(args: string[]): Promise<{ code: number; events: LaunchEvent[]; stderr: string }> {
  const [mode, ...rest] = args;
  const child = spawn(launcherPath(), [mode!, '--status-fd', '3', ...rest], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let status = '';
  let stderr = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (status += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 125)));
  return { code, events: parseEvents(status), stderr };
}
