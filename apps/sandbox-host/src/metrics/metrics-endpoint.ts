// GET /metrics: the Prometheus text exposition. Authenticated: a bearer metrics token (generated
// at first start into the data dir as `metrics-token`, mode 0600, for the Prometheus scrape
// config) or an admin's session. Nobody else: 401 without credentials, 403 for a non-admin.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import type { Principal } from '../auth/principal.js';
import { isAdmin } from '../auth/scopes.js';
import type { MemoryMonitor } from './memory-monitor.js';
import type { MemoryMetrics, PrometheusExtras } from './prometheus.js';

export const METRICS_TOKEN_FILE = 'metrics-token';

export async function loadOrCreateMetricsToken(dataDir: string): Promise<string> {
  const path = join(dataDir, METRICS_TOKEN_FILE);
  const existing = await readFile(path, 'utf8').catch(() => '');
  if (/^[A-Za-z0-9_-]{32,}$/.test(existing.trim())) return existing.trim();
  await writeFile(path, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return (await readFile(path, 'utf8')).trim();
}

export function metricsHandler(deps: { token: string; cookieName: string; authenticate: (t: string) => Promise<Principal | undefined>; monitor: MemoryMonitor; metrics: MemoryMetrics; extras: () => Promise<PrometheusExtras> }) {
  const expected = Buffer.from(deps.token);
  return async (c: Context) => {
    const auth = c.req.header('authorization');
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    let allowed = false;
    if (bearer !== undefined) {
      const got = Buffer.from(bearer);
      allowed = got.length === expected.length && timingSafeEqual(got, expected);
    }
    if (!allowed) {
      const session = bearer ?? getCookie(c, deps.cookieName);
      const p = session ? await deps.authenticate(session) : undefined;
      if (!p) return c.json({ error: { code: 'UNAUTHENTICATED', message: 'metrics need the metrics token or an admin session', hint: `Authorization: Bearer <contents of $REG_DATA_DIR/${METRICS_TOKEN_FILE}>` } }, 401);
      if (!isAdmin(p)) return c.json({ error: { code: 'FORBIDDEN', message: 'metrics are for admins' } }, 403);
    }
    const [snap, extras] = await Promise.all([deps.monitor.current(), deps.extras()]);
    const body = await deps.metrics.text(snap, extras);
    return c.body(body, 200, { 'content-type': deps.metrics.registry.contentType, 'cache-control': 'no-store' });
  };
}
