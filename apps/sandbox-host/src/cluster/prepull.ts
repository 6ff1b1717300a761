// Pre-pulling a class's RETs onto the hosts it will use, so the class-start rush does not wait on
// the registry: each host reports per RET whether it already held it, pulled it now, or could
// not (a registry that is down, a RET that is not there). Hosts that hold the RETs carry on
// whatever the registry does; the others' failures are reported by name (audit log, host log,
// GET /api/classes/:classId/prepull).

import { defaultRegistry, ensureRet, findRet, isRegError, type RegHome } from '@reg/core';
import { z } from 'zod';

export interface PrepullResult {
  ref: string;
  status: 'held' | 'pulled' | 'failed';
  /** For failed: what went wrong, in words an instructor can pass on. */
  message?: string;
  ms: number;
}

export interface HostPrepull {
  hostId: string;
  results: PrepullResult[];
}

export interface PrepullReport {
  classId: string;
  at: string;
  hosts: HostPrepull[];
  /** Hosts that hold every RET now. */
  ready: string[];
  failed: Array<{ hostId: string; ref: string; message: string }>;
}

export const prepullBodySchema = z.object({ refs: z.array(z.string().min(1).max(200)).min(1).max(32) }).strict();

/** Makes every ref local here (pulling what is missing); never throws, reports per ref. */
export async function prepullHere(home: RegHome, refs: string[]): Promise<PrepullResult[]> {
  const out: PrepullResult[] = [];
  for (const ref of refs) {
    const t0 = performance.now();
    const ms = () => Math.round(performance.now() - t0);
    if (await findRet(home, ref).then(() => true, () => false)) {
      out.push({ ref, status: 'held', ms: ms() });
      continue;
    }
    const registry = await defaultRegistry(home).catch(() => undefined);
    if (!registry) {
      out.push({ ref, status: 'failed', message: `${ref} is not on this host and no registry is configured to pull it from (REG_REGISTRY)`, ms: ms() });
      continue;
    }
    try {
      await ensureRet(home, ref, { registry });
      out.push({ ref, status: 'pulled', ms: ms() });
    } catch (e) {
      const what = isRegError(e) ? `${e.code}: ${e.message}` : (e as Error).message;
      out.push({ ref, status: 'failed', message: `pulling ${ref} from ${registry} failed: ${what}`, ms: ms() });
    }
  }
  return out;
}

export function summarise(classId: string, hosts: HostPrepull[]): PrepullReport {
  return {
    classId,
    at: new Date().toISOString(),
    hosts,
    ready: hosts.filter((h) => h.results.every((r) => r.status !== 'failed')).map((h) => h.hostId),
    failed: hosts.flatMap((h) => h.results.filter((r) => r.status === 'failed').map((r) => ({ hostId: h.hostId, ref: r.ref, message: r.message ?? 'failed' }))),
  };
}
