// What every lifecycle verb works with: the state directory, the cgroup driver, and optionally a
// way to fetch a RET that is not local yet (the registry's pull-on-demand).

import type { CgroupDriver } from '../cgroup/driver.js';
import type { RegHome } from '../home.js';
import { removeParentIfEmpty } from '../cgroup/parents.js';

export interface EngineContext {
  home: RegHome;
  cgroups: CgroupDriver;
  /** Makes a RET reference local (pulling it and its requires) before it is resolved. */
  ensureRet?: (ref: string) => Promise<void>;
  /** This home's cgroup parent on the real cgroupfs, removed when its last container goes. */
  cgroupParent?: string;
}

/** The cgroup of a container is named after its id (reg/<id>). */
export const cgroupName = (id: string) => id;

const removals = new Map<string, Promise<void>>();

/**
 * Removes a container's cgroup, once: a removal already under way (the deferred one after a run,
 * and `reg rm` right behind it) is joined instead of raced — two kill loops on one cgroup would
 * trip over each other's rmdir. `after`: start only once that settles (the launcher's exit).
 */
export function removeCgroup(ctx: EngineContext, id: string, after?: Promise<unknown>): Promise<void> {
  const name = cgroupName(id);
  const running = removals.get(name);
  if (running) return running;
  const p = (after ?? Promise.resolve())
    .catch(() => {})
    .then(() => ctx.cgroups.remove(name))
    // Without a pool the home's parent goes with its last container (a no-op while others remain; a concurrent
    // create that loses its parent re-creates it, see the drivers' create).
    // With a pool the parent holds its idle members: never empty, nothing to try.
    .then(() => (ctx.cgroupParent && !ctx.cgroups.reserve ? removeParentIfEmpty(ctx.cgroupParent) : undefined))
    .finally(() => removals.delete(name));
  removals.set(name, p);
  return p;
}

/** A start must not create the cgroup that a deferred removal is about to delete. */
export async function cgroupRemovalSettled(id: string): Promise<void> {
  await removals.get(cgroupName(id))?.catch(() => {});
}
