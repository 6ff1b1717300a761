// Stop: Running|Inserting → Stopped. SIGTERM to pid 1 (it forwards to the command), a grace
// period, then every process of the cgroup is killed — which also works against fork bombs and
// processes that ignore SIGTERM — and the container is finalised (outcome, cgroup removed). The
// container's files (upper dir, project dir) stay.

import { cgroupName, type EngineContext } from './context.js';
import { waitForExit } from './proc.js';
import { finalise, refresh } from './refresh.js';
import type { ContainerState } from './state.js';
import { assertTransition } from './status.js';

export async function stop(ctx: EngineContext, id: string, opts: { graceMs?: number } = {}): Promise<ContainerState> {
  const s = await refresh(ctx, id);
  assertTransition(s.id, s.status, 'stop');
  const grace = opts.graceMs ?? 3000;
  if (s.initPid && grace > 0) {
    try {
      process.kill(s.initPid, 'SIGTERM');
    } catch {
      // already gone
    }
    await waitForExit(s.initPid, s.initStartTime, grace);
  }
  await ctx.cgroups.killAll(cgroupName(s.id));
  if (s.initPid) await waitForExit(s.initPid, s.initStartTime, 5000);
  return finalise(ctx, s);
}
