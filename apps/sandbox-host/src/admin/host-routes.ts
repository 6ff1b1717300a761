// The admin's Hosts page: every sandbox host of the cluster (status, memory, terminals, RETs, last
// heartbeat), or on a single host the one host, described from what it knows itself. Addresses
// stay out: browsers reach the hosts only through the web origin.

import { hostname } from 'node:os';
import { listRets, type Engine } from '@reg/core';
import { adminHostsSchema, type AdminHost, type AdminHosts } from '@reg/protocol';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { listClusterHosts } from '../cluster/host-list.js';
import type { Db } from '../db/client.js';
import { route, type ApiRoute } from '../http/api-routes.js';
import { readMeminfo } from '../metrics/host-memory.js';
import type { SessionRegistry } from '../terminals/session-registry.js';

const STATUSES: ReadonlyArray<AdminHost['status']> = ['up', 'down', 'left'];

export function hostRoutes(d: { db: Db; engine: Engine; sessions: SessionRegistry; cluster?: ClusterNode; version: string }): ApiRoute[] {
  const startedAt = new Date().toISOString();
  const thisHost = async (): Promise<AdminHost> => {
    // The same facts a cluster host heartbeats (cluster-node.ts): MemAvailable counts as free.
    const [mem, rets] = await Promise.all([readMeminfo(), listRets(d.engine.home).catch(() => [])]);
    return {
      id: process.env.REG_HOST_ID ?? hostname(),
      status: 'up',
      cgroupVersion: d.engine.ctx.cgroups.version,
      memoryBytes: mem.total,
      freeMemoryBytes: mem.available,
      containers: d.sessions.size,
      rets: rets.map((r) => `${r.name}@${r.version}`).sort(),
      version: d.version,
      startedAt,
      heartbeatAt: new Date().toISOString(),
      downAt: null,
      downReason: null,
    };
  };
  const list = async (): Promise<AdminHosts> => {
    if (!d.cluster) return { cluster: false, self: null, hosts: [await thisHost()] };
    const rows = await listClusterHosts(d.cluster, d.db);
    return {
      cluster: true,
      self: d.cluster.id,
      // `address` is left out on purpose.
      hosts: rows.map(({ address: _address, status, ...h }) => ({ ...h, status: STATUSES.includes(status as AdminHost['status']) ? (status as AdminHost['status']) : 'down' })),
    };
  };
  return [route({ method: 'get', path: '/api/admin/hosts', operationId: 'adminHosts', scope: 'admin', summary: 'Every sandbox host (cluster mode) or this one: status, memory, terminals, RETs, last heartbeat; never their addresses', status: 200, response: adminHostsSchema, handle: list })];
}
