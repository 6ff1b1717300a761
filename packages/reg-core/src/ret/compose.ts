// `reg ret compose`: an environment RET that holds no files of its own and requires others —
// e.g. a class's python@3.11 with the tools@1 toolbox. A container runs one RET; composing is how
// several go together, and the resolver still refuses two members that disagree about a path.

import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { addToPlan, resolveGraph, type FilePlan } from '../resolve/resolve.js';
import { commitDrafts, type HostBuildReport } from './build-from-host.js';
import { findRet, loadMeta, loadRet } from './repository.js';
import { RET_NAME_RE } from './schema.js';
import { isValidVersion, parseRef } from './version.js';

export interface ComposeOptions {
  name: string;
  version: string;
  /** The member RETs, e.g. python@3.11 and tools@1; the first one's command is the default. */
  members: string[];
  command?: string[];
  env?: Record<string, string>;
  workdir?: string;
  description?: string;
}

export async function composeRet(home: RegHome, opts: ComposeOptions): Promise<HostBuildReport> {
  if (!RET_NAME_RE.test(opts.name)) throw new RegError('USAGE', `"${opts.name}" is not a RET name`, { field: '--name', hint: 'lowercase letters, digits and . _ + -' });
  if (!isValidVersion(opts.version)) throw new RegError('USAGE', `"${opts.version}" is not a RET version`, { field: '--version', hint: 'dotted, e.g. 1 or 2024.1' });
  if (opts.members.length === 0) throw new RegError('USAGE', 'name the RETs to compose, e.g. python@3.11 tools@1', { field: 'members' });
  const requires: string[] = [];
  let command = opts.command;
  for (const m of opts.members) {
    const ref = parseRef(m, 'members');
    const found = await findRet(home, ref); // RET_NOT_FOUND names it and the versions that exist
    requires.push(m.includes('@') ? m : `${found.name}@${found.version}`);
    command ??= (await loadMeta(home, found.name, found.version)).command;
  }
  // The members' closures must agree about every path (PATH_CONFLICT names both RETs).
  const plan: FilePlan = new Map();
  const seen = new Set<string>();
  for (const m of requires) {
    for (const meta of (await resolveGraph(home, m)).rets) {
      const id = `${meta.name}@${meta.version}`;
      if (seen.has(id)) continue;
      seen.add(id);
      addToPlan(plan, await loadRet(home, meta.name, meta.version));
    }
  }
  return commitDrafts(
    home,
    [
      {
        ret: {
          name: opts.name,
          version: opts.version,
          kind: 'runtime',
          description: opts.description ?? `${requires.join(' + ')}`,
          requires,
          ...(command && { command }),
          ...(opts.env && Object.keys(opts.env).length && { env: opts.env }),
          ...(opts.workdir && { workdir: opts.workdir }),
          source: { builtAt: new Date().toISOString(), builder: 'reg ret compose' },
        },
        // One directory every tree has: a lock with no entries does not survive YAML.
        entries: new Map([['usr', { kind: 'dir' as const, mode: 0o755 }]]),
      },
    ],
    { runtime: { name: opts.name, version: opts.version }, log: () => {} },
  );
}
