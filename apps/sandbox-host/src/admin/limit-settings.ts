// The host-wide limit policy (defaults, ceilings, per-user container cap) as the admin set it, kept
// in the Setting table under "limits.policy". Every container the host creates resolves its limits
// through reg-core's effectiveLimits() with this policy: admin defaults → class → per-student
// override, never above the ceilings and never from the request.

import { defaultPolicy, hostCeilings, LIMIT_FIELDS, validatePolicy, type LimitPolicy } from '@reg/core';
import type { Db } from '../db/client.js';

export const LIMIT_POLICY_KEY = 'limits.policy';

/** The admin's policy, or the built-in one; ceilings never above what this host has. */
export async function loadLimitPolicy(db: Db, regHome: string): Promise<LimitPolicy> {
  const host = hostCeilings(regHome);
  const row = await db.setting.findUnique({ where: { key: LIMIT_POLICY_KEY } });
  if (!row) return defaultPolicy(host);
  const saved = validatePolicy(JSON.parse(row.value));
  for (const f of LIMIT_FIELDS) {
    saved.ceilings[f] = Math.min(saved.ceilings[f], host[f]);
    saved.defaults[f] = Math.min(saved.defaults[f], saved.ceilings[f]);
  }
  return saved;
}

/** Validates and stores a new policy (the caller records the audit entry). */
export async function saveLimitPolicy(db: Db, policy: unknown, updatedById: string | null): Promise<LimitPolicy> {
  const p = validatePolicy(policy);
  const value = JSON.stringify(p);
  await db.setting.upsert({ where: { key: LIMIT_POLICY_KEY }, create: { key: LIMIT_POLICY_KEY, value, updatedById }, update: { value, updatedById } });
  return p;
}
