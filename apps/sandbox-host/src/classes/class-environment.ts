// A class's environment as one RET: the engine generates a container from one reference, so the
// runtime (python@3.11) and the tools beside it (a shell and coreutils, an editor, git, course
// packages) are composed into a file-less RET that `requires` them all, pinned to the exact
// versions this host has. Its name is a hash of what it requires, so every class with the same
// environment shares it (and its materialised layers), and changing the environment makes a new
// one instead of touching what running containers use. The command is a login shell in the home
// directory when a tool provides bash, else the runtime's own command.

import { createHash } from 'node:crypto';
import { composeRet, defaultRegistry, ensureRet, findRet, loadRet, RegError, resolveGraph, type RegHome } from '@reg/core';

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

/**
 * Pulls the RETs of an environment this host does not hold from the registry (REG_REGISTRY or the
 * "default" of registries.json), so a host of a cluster can run any class; without a registry the
 * check that follows names the missing one.
 */
export async function pullMissing(home: RegHome, refs: string[]): Promise<void> {
  for (const ref of refs) {
    if (await findRet(home, ref).then(() => true, () => false)) continue;
    if (!(await defaultRegistry(home))) return;
    await ensureRet(home, ref);
  }
}

export async function composeEnvironment(home: RegHome, ret: string, tools: string[]): Promise<ComposedEnvironment> {
  await pullMissing(home, [ret, ...tools]);
  await checkEnvironment(home, ret, tools);
  const pinned: string[] = [];
  for (const ref of [ret, ...tools]) {
    const { name, version } = await findRet(home, ref);
    if (!pinned.includes(`${name}@${version}`)) pinned.push(`${name}@${version}`);
  }
  // A shell anywhere in the tools' closures (tools@1 holds it in its bash package RET).
  let shell: string | undefined;
  for (const ref of pinned.slice(1)) {
    for (const meta of (await resolveGraph(home, ref)).rets) {
      const r = await loadRet(home, meta.name, meta.version);
      shell ??= r.lock.files.find((f) => SHELLS.includes(f.path) && (f.digest !== undefined || f.link !== undefined)) && '/bin/bash';
    }
  }
  const runtime = await loadRet(home, ...(pinned[0]!.split('@') as [string, string]));
  const command = shell ? [shell, '-l'] : (runtime.command ?? []);
  if (tools.length === 0) return { ref: pinned[0]!, pinned, command };

  const digest = createHash('sha256').update(JSON.stringify({ pinned, command })).digest('hex').slice(0, 12);
  const name = `env-${digest}`;
  const exists = await findRet(home, `${name}@1`).then(() => true, () => false);
  // composeRet refuses members that disagree about a path (PATH_CONFLICT names both RETs).
  if (!exists) await composeRet(home, { name, version: '1', members: pinned, ...(command.length > 0 && { command }), env: { LANG: 'C.UTF-8' }, description: `class environment: ${pinned.join(' + ')}` });
  return { ref: `${name}@1`, pinned, command };
}
