// `reg cgroup prune`: removes the cgroup parents of REG_HOMEs that no longer exist.

import { RegError } from '../errors.js';
import { pruneCgroupParents } from '../cgroup/parents.js';
import { parse } from './args.js';

const USAGE = 'reg cgroup prune [--dry-run]';

export async function cgroupCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { 'dry-run': { type: 'boolean' } }, USAGE);
  if (positionals[0] !== 'prune') throw new RegError('USAGE', `unknown cgroup command "${positionals[0] ?? ''}"`, { hint: `usage: ${USAGE}` });
  const r = await pruneCgroupParents({ dryRun: values['dry-run'] ?? false });
  for (const p of r.removed) console.log(`${values['dry-run'] ? 'would remove' : 'removed'} ${p.parent} (home ${p.home}, gone)`);
  for (const p of r.busy) {
    console.log(values['dry-run'] ? `would remove ${p.parent} (home ${p.home}, gone) with its cgroups ${p.cgroups.join(', ')} if they have no processes` : `kept ${p.parent} (home ${p.home}, gone): cgroups with processes: ${p.cgroups.join(', ')}`);
  }
  if (!r.removed.length && !r.busy.length) console.log('nothing to prune');
  return 0;
}
