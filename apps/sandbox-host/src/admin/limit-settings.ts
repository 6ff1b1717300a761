// The host-wide limit policy (defaults, ceilings, per-user container cap). There is one place for
// it: reg-core's $REG_HOME/limits.json (policy-file.ts), read by the host and the CLI alike, so a
// container started with `reg run` on the same host obeys the same ceilings as one opened in the
// browser. These wrappers keep the host's callers independent of where the file lives; the admin's
// editor writes through saveLimitPolicy and records an audit entry itself.

import { loadLimitPolicy as loadPolicyFile, regHome, saveLimitPolicy as savePolicyFile, type LimitPolicy, type PolicyFile } from '@reg/core';
import type { Db } from '../db/client.js';

/** The policy in force: limits.json over the built-in defaults, ceilings bounded by this host. */
export async function loadLimitPolicy(_db: Db, home: string): Promise<LimitPolicy> {
  return loadPolicyFile(regHome(home));
}

/** Validates and stores a new policy file (defaults, ceilings, maxContainersPerUser). */
export async function saveLimitPolicy(home: string, file: PolicyFile): Promise<LimitPolicy> {
  return savePolicyFile(regHome(home), file);
}
