// The admin's limit policy editor: defaults every container gets, ceilings no class or student
// setting may exceed (never above what this machine has), and how many containers one user may
// run at once. Saved to $REG_HOME/limits.json, the one place the engine, the classroom and the
// CLI read it from (admin/limit-settings.ts). Each change is audited with the before and after.

import { hostCeilings, loadLimitPolicy, saveLimitPolicy as saveLimitFile, type LimitPolicy } from '@reg/core';
import { LIMIT_FIELD_NAMES, limitPolicyViewSchema, updateLimitPolicySchema, type LimitPolicyView } from '@reg/protocol';
import { z, type ZodError } from 'zod';
import type { Engine } from '@reg/core';
import { clientAddress } from '../auth/client-address.js';
import type { Db } from '../db/client.js';
import { route, type ApiRoute } from '../http/api-routes.js';
import { audit } from './audit.js';

function view(p: LimitPolicy, home: string): LimitPolicyView {
  return { defaults: { ...p.defaults }, ceilings: { ...p.ceilings }, maxContainersPerUser: p.maxContainersPerUser, host: { ...hostCeilings(home) } };
}

export function limitRoutes(d: { db: Db; engine: Engine }): ApiRoute[] {
  return [
    route({ method: 'get', path: '/api/admin/limits', operationId: 'adminGetLimits', scope: 'admin', summary: 'The limit policy in force (defaults, ceilings, per-user container cap) and what this host has', status: 200, response: limitPolicyViewSchema, handle: async () => view(await loadLimitPolicy(d.engine.home), d.engine.home.root) }),
    route({
      method: 'post',
      path: '/api/admin/limits',
      operationId: 'adminSetLimits',
      scope: 'admin',
      summary: 'Change the limit policy: defaults, ceilings (at most what the host has), max containers per user; fields left out keep their value',
      body: updateLimitPolicySchema,
      status: 200,
      response: limitPolicyViewSchema,
      handle: async ({ principal, body, c }) => {
        const before = await loadLimitPolicy(d.engine.home);
        const file = {
          defaults: { ...before.defaults, ...body.defaults },
          ceilings: { ...before.ceilings, ...body.ceilings },
          maxContainersPerUser: body.maxContainersPerUser ?? before.maxContainersPerUser,
        };
        // Refused, not silently clamped: a ceiling above what the host has, a default above its ceiling.
        const host = hostCeilings(d.engine.home.root);
        const issues: Array<{ path: string[]; message: string }> = [];
        for (const f of LIMIT_FIELD_NAMES) {
          if (body.ceilings?.[f] !== undefined && file.ceilings[f] > host[f]) issues.push({ path: ['ceilings', f], message: `at most ${host[f]} (what this host has)` });
          if (file.defaults[f] > file.ceilings[f]) issues.push({ path: ['defaults', f], message: `${file.defaults[f]} is above its ceiling ${file.ceilings[f]}` });
        }
        if (issues.length) throw fieldErrors(issues);
        const after = await saveLimitFile(d.engine.home, file);
        await audit(d.db, principal, { action: 'limits.update', targetType: 'policy', details: { before, after }, ip: clientAddress(c) });
        return view(after, d.engine.home.root);
      },
    }),
  ];
}

/** A 400 naming each field, in the shape of a request that fails its schema. */
function fieldErrors(issues: Array<{ path: string[]; message: string }>): ZodError {
  return z
    .unknown()
    .superRefine((_, ctx) => {
      for (const i of issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
    })
    .safeParse(null).error!;
}
