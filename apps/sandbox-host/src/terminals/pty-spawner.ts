// A reg-core SpawnLauncher on node-pty: the launcher (and so the container's command) gets a
// pseudo-terminal as its controlling terminal, and the caller keeps the IPty to read, write,
// resize and pause it.

import { constants } from 'node:os';
import * as pty from 'node-pty';
import type { SpawnLauncher } from '@reg/core';

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

export function ptySpawner(size: { cols: number; rows: number }, onPty: (p: pty.IPty) => void): SpawnLauncher {
  return (file, args) => {
    // The launcher builds the container's environment itself; it inherits nothing from the host.
    const p = pty.spawn(file, args, { name: 'xterm-256color', cols: size.cols, rows: size.rows, cwd: '/', env: {} });
    onPty(p);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      p.onExit(({ exitCode, signal }) => resolve({ code: signal ? null : exitCode, signal: signal ? (signalNames.get(signal) ?? 'SIGKILL') : null }));
    });
    return { pid: p.pid, exited };
  };
}
