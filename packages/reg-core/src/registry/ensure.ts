// On-demand RETs for the container code (`reg run -t python@3.11`) and the sandbox host: return
// the local RET, pulling it with everything it requires first when the store cannot resolve it
// and a registry is configured (the option, $REG_REGISTRY, or "default" in registries.json).

import { RegError, isRegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { resolveGraph } from '../resolve/resolve.js';
import { findRet, loadRet } from '../ret/repository.js';
import type { LockedRet } from '../ret/schema.js';
import { defaultRegistry } from './config.js';
import { pullMany, type PullOptions, type PullReport } from './pull.js';
import type { RegistryTarget } from './reference.js';

export interface EnsureOptions extends Partial<Omit<PullOptions, 'registry'>> {
  registry?: string | RegistryTarget;
  /** Called when a pull happened, with its report. */
  onPull?: (report: PullReport) => void;
}

/** The local RET for `ref`, its whole closure present; pulled first when missing and a registry is known. */
export async function ensureRet(home: RegHome, ref: string, opts: EnsureOptions = {}): Promise<LockedRet> {
  try {
    await resolveGraph(home, ref);
  } catch (e) {
    if (!isRegError(e, 'RET_NOT_FOUND')) throw e;
    const registry = opts.registry ?? (await defaultRegistry(home));
    if (!registry) {
      throw new RegError('RET_NOT_FOUND', e.message, {
        hint: `${e.hint ? `${e.hint}; ` : ''}or configure a registry to pull from (REG_REGISTRY=HOST/NAMESPACE, or "default" in ${home.root}/registries.json)`,
        cause: e,
      });
    }
    const report = await pullMany(home, [ref], { ...opts, registry });
    opts.onPull?.(report);
  }
  const found = await findRet(home, ref);
  return loadRet(home, found.name, found.version);
}
