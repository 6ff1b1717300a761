// The one place where a container's limits are decided. An administrator sets defaults and
// ceilings (a LimitPolicy); a class, then a per-student override, may change the defaults
// within the ceilings. Every caller — the host's API, the classroom, the CLI — resolves the
// concrete limits through effectiveLimits(); the engine itself only takes concrete numbers.
// A request can therefore never raise a limit: a value above its ceiling is refused, not clamped,
// so the person who asked learns which limit and why. This module checks untrusted input (zod);
// the numbers and the pure functions over them are in limits.ts, re-exported here.

import { z } from 'zod';
import { RegError } from '../errors.js';
import { checkLimit, LIMIT_FIELDS, type LimitPolicy } from './limits.js';

export * from './limits.js';

/** A partial limits object from an untrusted source (admin form, class config, API), checked. */
export const limitsLayerSchema = z
  .object({
    memoryBytes: z.number().int(),
    pids: z.number().int(),
    cpus: z.number(),
    diskBytes: z.number().int(),
    diskInodes: z.number().int(),
    ptys: z.number().int(),
  })
  .partial()
  .strict();

export const limitPolicySchema = z
  .object({
    defaults: limitsLayerSchema.required(),
    ceilings: limitsLayerSchema.required(),
    maxContainersPerUser: z.number().int().positive(),
  })
  .strict();

/** Checks that a policy is coherent: every default within its ceiling. */
export function validatePolicy(policy: unknown): LimitPolicy {
  const r = limitPolicySchema.safeParse(policy);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RegError('USAGE', `limit policy: ${issue.path.join('.') || '(root)'}: ${issue.message}`, {
      field: issue.path.join('.'),
      issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const p = r.data as LimitPolicy;
  for (const f of LIMIT_FIELDS) {
    if (!(p.ceilings[f] > 0)) throw new RegError('USAGE', `limit policy: ceiling ${f} must be positive, got ${p.ceilings[f]}`, { field: `ceilings.${f}` });
    checkLimit(f, p.defaults[f], p.ceilings[f], 'defaults.');
  }
  return p;
}
