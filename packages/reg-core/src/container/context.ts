// What every lifecycle verb works with: the state directory, the cgroup driver, and optionally a
// way to fetch a RET that is not local yet (the registry's pull-on-demand).

import type { CgroupDriver } from '../cgroup/driver.js';
import type { RegHome } from '../home.js';

export interface EngineContext {
  home: RegHome;
  cgroups: CgroupDriver;
  /** Makes a RET reference local (pulling it and its requires) before it is resolved. */
  ensureRet?: (ref: string) => Promise<void>;
}

/** The cgroup of a container is named after its id (reg/<id>). */
export const cgroupName = (id: string) => id;
