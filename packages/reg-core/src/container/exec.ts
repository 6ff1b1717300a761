// Exec: another process in a running container — `reg exec`, or a second browser terminal on the
// same container. It joins the container's namespaces and cgroup and runs as the container's user.

import { cgroupName, type EngineContext } from './context.js';
import { RegError } from '../errors.js';
import { launcherPath, type SpawnLauncher, type SpawnedLauncher } from '../launch/launcher.js';
import { execArgs } from '../launch/plan.js';
import { refresh } from './refresh.js';

export async function exec(ctx: EngineContext, id: string, command: string[], spawn: SpawnLauncher): Promise<SpawnedLauncher> {
  const s = await refresh(ctx, id);
  if (s.status !== 'running') {
    throw new RegError('ILLEGAL_TRANSITION', `cannot exec in container ${s.id}: it is ${s.status}`, { field: 'status', hint: 'start it first' });
  }
  if (command.length === 0) throw new RegError('USAGE', 'exec needs a command', { field: 'command', hint: 'reg exec ID -- CMD ARGS' });
  const { procsFiles } = await ctx.cgroups.create(cgroupName(s.id), s.limits);
  return spawn(launcherPath(), execArgs(s, procsFiles, command));
}
