// A class's environment as one RET: the engine generates a container from one reference, so the
// runtime (python@3.11) and the tools beside it (a shell and coreutils, an editor, git, course
// packages) are composed into a file-less RET that `requires` them all, pinned to the exact
// versions this host has. Its name is a hash of what it requires, so every class with the same
// environment shares it (and its materialised layers), and changing the environment makes a new
// one instead of touching what running containers use. The command is a login shell in the home
// directory when a tool provides bash, else the runtime's own command.

import { createHash } from 'node:crypto';
import { findRet, loadRet, RET_API_VERSION, RegError, saveRet, type LockedRet, type RegHome } from '@reg/core';

const SHELLS = ['usr/bin/bash', 'bin/bash'];

export interface ComposedEnvironment {
  /** The reference to generate from (the runtime itself when there are no tools). */
  ref: string;
  /** Exact references of the runtime and the tools. */
  pinned: string[];
  command: string[];
}

/** Checks that every RET of an environment exists here; throws RET_NOT_FOUND naming the field. */
export async function checkEnvironment(home: RegHome, ret: string, tools: string[]): Promise<void> {
  for (const [i, ref] of [ret, ...tools].entries()) {
    try {
      await findRet(home, ref);
    } catch (e) {
      const field = i === 0 ? 'ret' : `tools[${i - 1}]`;
      throw new RegError('RET_NOT_FOUND', `${field}: ${(e as Error).message}`, { field, hint: 'choose one of the RETs listed by GET /api/rets (an admin builds more with `reg ret build`)' });
    }
  }
}

export async function composeEnvironment(home: RegHome, ret: string, tools: string[]): Promise<ComposedEnvironment> {
  await checkEnvironment(home, ret, tools);
  const pinned: string[] = [];
  const locked: LockedRet[] = [];
  for (const ref of [ret, ...tools]) {
    const { name, version } = await findRet(home, ref);
    const exact = `${name}@${version}`;
    if (pinned.includes(exact)) continue;
    pinned.push(exact);
    locked.push(await loadRet(home, name, version));
  }
  const runtime = locked[0]!;
  const shell = locked.flatMap((r) => r.lock.files.filter((f) => SHELLS.includes(f.path)).map((f) => `/${f.path}`))[0];
  const command = shell ? [shell, '-l'] : (runtime.command ?? []);
  if (tools.length === 0) return { ref: pinned[0]!, pinned, command };

  const digest = createHash('sha256').update(JSON.stringify({ pinned, command })).digest('hex').slice(0, 12);
  const name = `env-${digest}`;
  const exists = await findRet(home, `${name}@1`).then(() => true, () => false);
  if (!exists) {
    const env: Record<string, string> = { SHELL: shell ?? '', LANG: 'C.UTF-8', EDITOR: 'nano' };
    if (!shell) delete env.SHELL;
    await saveRet(home, {
      apiVersion: RET_API_VERSION,
      name,
      version: '1',
      kind: 'runtime',
      description: `class environment: ${pinned.join(' + ')}`,
      requires: pinned,
      env,
      ...(command.length > 0 && { command }),
      // One entry, so the lock is never empty (an empty list does not survive the YAML round trip).
      lock: { files: [{ path: 'home', dir: true }] },
    } as LockedRet);
  }
  return { ref: `${name}@1`, pinned, command };
}
