// GET /api/health: is this host serving, and can it reach its database? For load balancers and
// Kubernetes probes (deploy/kubernetes): 200 when the database answers, 503 DATABASE_UNAVAILABLE
// (error-status.ts) when it does not. A probe that restarts hosts must not use it: a database outage
// is no reason to kill the terminals already open (they keep working without it).

import { z } from 'zod';
import { route, type ApiRoute } from '../http/api-routes.js';
import type { Db, DatabaseProvider } from './client.js';

const healthSchema = z.object({ status: z.literal('ok'), database: z.enum(['sqlite', 'postgresql']) });

export function healthRoutes(d: { db: Db; provider: DatabaseProvider }): ApiRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/health',
      operationId: 'health',
      scope: 'public',
      summary: 'This host is up and its database answers (503 DATABASE_UNAVAILABLE when it does not)',
      status: 200,
      response: healthSchema,
      handle: async () => {
        await d.db.$queryRawUnsafe('SELECT 1');
        return { status: 'ok' as const, database: d.provider };
      },
    }),
  ];
}
