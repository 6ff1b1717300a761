// Where the administrator's limit policy lives: $REG_HOME/limits.json, read by every process that
// starts containers (the host, the CLI), re-read when it changes. Missing fields fall back to
// the built-in defaults; ceilings are never above what this machine has (hostCeilings).
//
//   { "defaults": { "memoryBytes": 536870912, "pids": 256 },
//     "ceilings": { "memoryBytes": 4294967296, "cpus": 2 },
//     "maxContainersPerUser": 4 }

import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { policyFilePath } from './limits.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_CONTAINERS_PER_USER, hostCeilings, LIMIT_FIELDS, limitsLayerSchema, validatePolicy, type LimitPolicy, type Limits } from './policy.js';

export const policyFileSchema = z
  .object({
    defaults: limitsLayerSchema.optional(),
    ceilings: limitsLayerSchema.optional(),
    maxContainersPerUser: z.number().int().positive().optional(),
  })
  .strict();
export type PolicyFile = z.infer<typeof policyFileSchema>;

// Defined with the zod-free limits (a command that finds no file need not load this module).
export { diskQuotaOf, policyFilePath } from './limits.js';

let cache: { path: string; mtimeMs: number; policy: LimitPolicy } | undefined;

/** The policy in force: limits.json over the built-in defaults, ceilings bounded by this host. */
export async function loadLimitPolicy(home: RegHome): Promise<LimitPolicy> {
  const path = policyFilePath(home);
  const st = await stat(path).catch(() => undefined);
  if (cache && cache.path === path && cache.mtimeMs === (st?.mtimeMs ?? -1)) return cache.policy;
  let file: PolicyFile = {};
  if (st) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      throw new RegError('USAGE', `${path} is not valid JSON: ${(e as Error).message}`, { file: path, hint: 'fix or delete it (the built-in defaults then apply)' });
    }
    const r = policyFileSchema.safeParse(raw);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new RegError('USAGE', `${path}: ${i.path.join('.')}: ${i.message}`, { file: path, field: i.path.join('.'), issues: r.error.issues.map((x) => ({ path: x.path.join('.'), message: x.message })) });
    }
    file = r.data;
  }
  const policy = policyFrom(file, hostCeilings(home.root));
  cache = { path, mtimeMs: st?.mtimeMs ?? -1, policy };
  return policy;
}

/** Combines a policy file with the host's ceilings (pure). */
export function policyFrom(file: PolicyFile, host: Limits): LimitPolicy {
  const ceilings = { ...host };
  const defaults = { ...DEFAULT_LIMITS };
  for (const f of LIMIT_FIELDS) {
    const c = file.ceilings?.[f];
    if (c !== undefined) ceilings[f] = Math.min(c, host[f]);
    defaults[f] = file.defaults?.[f] ?? Math.min(defaults[f], ceilings[f]);
  }
  try {
    return validatePolicy({ defaults, ceilings, maxContainersPerUser: file.maxContainersPerUser ?? DEFAULT_MAX_CONTAINERS_PER_USER });
  } catch (e) {
    if (e instanceof RegError) throw new RegError(e.code, `limits.json: ${e.message}`, { ...(e.field && { field: e.field }), hint: 'a default must be within its ceiling (and within this host)' });
    throw e;
  }
}

/** Writes limits.json atomically after checking it (for the administrator's tools). */
export async function saveLimitPolicy(home: RegHome, file: PolicyFile): Promise<LimitPolicy> {
  const checked = policyFileSchema.parse(file);
  const policy = policyFrom(checked, hostCeilings(home.root));
  const path = policyFilePath(home);
  await writeFile(`${path}.tmp`, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o644 });
  await rename(`${path}.tmp`, path);
  cache = undefined;
  return policy;
}

