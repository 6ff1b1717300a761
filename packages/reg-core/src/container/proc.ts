// Is a recorded pid still the process we started? A pid alone can be reused after a crash or a
// long uptime, so the process start time (field 22 of /proc/PID/stat) is recorded with it.

import { readFile } from 'node:fs/promises';

export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined; // exited, not yet reaped
    return fields[19];
  } catch {
    return undefined;
  }
}

export async function isSameProcess(pid: number | undefined, startTime: string | undefined): Promise<boolean> {
  if (!pid) return false;
  const now = await processStartTime(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}

export async function waitForExit(pid: number, startTime: string | undefined, timeoutMs: number, pollMs = 5): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isSameProcess(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}
