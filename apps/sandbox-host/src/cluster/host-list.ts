// The cluster's hosts as the Host table and the membership judge them: the one reading behind
// GET /api/cluster/hosts (the web origin routes by it) and GET /api/admin/hosts (the admin's
// Hosts page), so both call the same host "up".

import type { Db } from '../db/client.js';
import type { ClusterNode } from './cluster-node.js';
import { toLive, type LiveHost } from './membership.js';

/** A host's row as the routes show it: LiveHost's facts, a judged status, times as ISO strings. */
export type ClusterHostRow = Omit<LiveHost, 'machineId' | 'regHome' | 'heartbeatAt'> & {
  status: string;
  startedAt: string;
  heartbeatAt: string;
  downAt: string | null;
  downReason: string | null;
};

export async function listClusterHosts(node: ClusterNode, db: Db): Promise<ClusterHostRow[]> {
  const live = new Set((await node.membership.liveHosts()).map((h) => h.id));
  const rows = await db.host.findMany({ orderBy: { id: 'asc' } });
  return rows.map((h) => {
    const { machineId: _m, regHome: _r, heartbeatAt: _h, ...facts } = toLive(h);
    return {
      ...facts,
      // "up" only for a verified host within its heartbeat window: what routing may use.
      status: live.has(h.id) ? 'up' : h.status === 'up' ? 'down' : h.status,
      startedAt: h.startedAt.toISOString(),
      heartbeatAt: h.heartbeatAt.toISOString(),
      downAt: h.downAt?.toISOString() ?? null,
      downReason: h.downReason,
    };
  });
}
