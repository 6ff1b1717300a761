// Status is observed, not remembered: a running container is one whose pid 1 is alive (same pid,
// same start time). A container recorded as running whose pid 1 is gone is finalised here —
// outcome from the launcher's events and the cgroup's OOM counter, cgroup removed, Stopped —
// whether it exited on its own, was stopped, or the host crashed meanwhile.

import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from './context.js';
import { cgroupName, removeCgroup } from './context.js';
import { readEvents } from '../launch/events.js';
import { isSameProcess, isSameProcessSync } from './proc.js';
import { containerPaths, listStates, loadState, saveState, type ContainerState } from './state.js';
import type { Outcome } from './status.js';

async function outcomeOf(ctx: EngineContext, s: ContainerState): Promise<Outcome> {
  const events = await readEvents(containerPaths(ctx.home, s.id).events);
  const last = [...events].reverse().find((e) => ['exit', 'signaled', 'exec-failed', 'setup-failed'].includes(e.event));
  let oomKills = 0;
  if (await ctx.cgroups.exists(cgroupName(s.id))) oomKills = (await ctx.cgroups.stats(cgroupName(s.id)).catch(() => ({ oomKills: 0 }))).oomKills;
  if (s.outcome?.outcome === 'timeout') return s.outcome;
  if (!last) return oomKills > 0 ? { outcome: 'oom', signal: 9 } : { outcome: 'signaled', signal: 9 };
  if (last.event === 'exit') return { outcome: 'exited', code: last.code ?? 0 };
  if (last.event === 'exec-failed') return { outcome: 'exec-failed', code: 127, ...(last.error && { error: last.error }) };
  if (last.event === 'setup-failed') return { outcome: 'setup-failed', code: 125, ...(last.error && { error: `${last.step}: ${last.error}` }) };
  if (oomKills > 0) return { outcome: 'oom', signal: last.signal ?? 9 };
  return { outcome: 'signaled', signal: last.signal ?? 9 };
}

/**
 * Turns a container whose command has ended into a Stopped one and removes its cgroup — at once,
 * or (`cgroupGoneAfter`) when the launcher has finished exiting: tearing down the namespaces
 * takes the kernel a few milliseconds that nobody needs to wait for.
 */
export async function finalise(ctx: EngineContext, s: ContainerState, opts: { cgroupGoneAfter?: Promise<unknown> } = {}): Promise<ContainerState> {
  s.outcome = await outcomeOf(ctx, s);
  if (opts.cgroupGoneAfter) {
    // On failure the cgroup is left for reconcile(), which removes cgroups of stopped containers.
    void removeCgroup(ctx, s.id, opts.cgroupGoneAfter).catch(() => {});
  } else await removeCgroup(ctx, s.id);
  s.status = 'stopped';
  s.finishedAt = new Date().toISOString();
  delete s.initPid;
  delete s.initStartTime;
  delete s.launcherPid;
  await saveState(ctx.home, s);
  return s;
}

/**
 * refresh() of a state already in hand (from listStates): a live container costs one synchronous
 * /proc read instead of reading its state file again; a dead one is finalised from a fresh read.
 */
export async function refreshListed(ctx: EngineContext, s: ContainerState): Promise<ContainerState> {
  if (s.status !== 'running' && s.status !== 'inserting') return s;
  if (isSameProcessSync(s.initPid, s.initStartTime)) return s;
  return refresh(ctx, s.id);
}

export async function refresh(ctx: EngineContext, idOrName: string): Promise<ContainerState> {
  const s = await loadState(ctx.home, idOrName);
  if ((s.status === 'running' || s.status === 'inserting') && !(await isSameProcess(s.initPid, s.initStartTime))) {
    return finalise(ctx, s);
  }
  return s;
}

/**
 * After a host crash or restart: every container is refreshed (dead ones become Stopped, their
 * cgroups cleaned), cgroups under reg/ that belong to no container are removed, and half-built
 * layer trees are deleted. Mounts need no sweep: a container's mounts live in its own mount
 * namespace and vanish with its last process.
 */
export async function reconcile(ctx: EngineContext): Promise<{ stopped: string[]; strayCgroups: string[] }> {
  const stopped: string[] = [];
  const states = await listStates(ctx.home);
  for (const s of states) {
    const before = s.status;
    const after = await refreshListed(ctx, s);
    if (before !== after.status) stopped.push(s.id);
  }
  const known = new Set(states.filter((s) => s.status === 'running' || s.status === 'inserting').map((s) => cgroupName(s.id)));
  const strayCgroups: string[] = [];
  for (const name of await ctx.cgroups.list()) {
    // park-*: parked launchers' cgroups, owned (and reconciled) by the parking code.
    if (!known.has(name) && !name.startsWith('park-')) {
      await ctx.cgroups.remove(name);
      strayCgroups.push(name);
    }
  }
  // Removed containers' directories whose background deletion was cut short (the process exited).
  const trash = join(ctx.home.containers, '.trash');
  for (const n of await readdir(trash).catch(() => [] as string[])) await rm(join(trash, n), { recursive: true, force: true }).catch(() => undefined);
  for (const n of await readdir(ctx.home.layers).catch(() => [] as string[])) {
    const p = join(ctx.home.layers, n);
    // Old enough that no live builder can still be writing it.
    if (n.startsWith('.tmp-') && Date.now() - (await stat(p)).mtimeMs > 10 * 60 * 1000) await rm(p, { recursive: true, force: true });
  }
  return { stopped, strayCgroups };
}
