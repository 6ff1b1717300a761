// "No host is reachable from browsers directly": with REG_CLUSTER_ORIGIN_ONLY=1 a cluster host
// answers on TCP only requests signed with the cluster secret (x-reg-cluster, request-auth.ts):
// those the web origin forwards (sender "web") and other hosts' (forwarded "open terminal").
// A browser that finds the host's address anyway gets 403 naming the web app's address as the way
// in; its socket.io handshake is refused the same way. Left open: /metrics (Prometheus scrapes
// each host with its bearer token) and /api/cluster/* (they check the header themselves). The unix
// socket (the local administrator) never passes through here.

import type { IncomingMessage, RequestListener } from 'node:http';
import { loadOrCreateClusterSecret } from './cluster-secret.js';
import { CLUSTER_HEADER, requestKey, verifyClusterRequest, type ClusterAuth } from './request-auth.js';

const OPEN = (url: string) => url === '/metrics' || url.startsWith('/metrics?') || url.startsWith('/api/cluster/');

/** The check of one request's signature, with the request key derived from the cluster secret file. */
export async function originCheck(secretFile: string): Promise<(req: IncomingMessage) => ClusterAuth> {
  const key = requestKey(await loadOrCreateClusterSecret(secretFile, { create: false }));
  return (req) => {
    const header = req.headers[CLUSTER_HEADER];
    return verifyClusterRequest(key, typeof header === 'string' ? header : undefined, req.method ?? 'GET', req.url ?? '/');
  };
}

const refusal = (reason: string) =>
  JSON.stringify({ error: { code: 'FORBIDDEN', message: `this sandbox host is reached through the web app's address, not directly (${reason})`, hint: 'open the classroom at the address your school gave you' } });

/** Wraps the host's TCP listener: unsigned requests are refused before any route runs. */
export function originOnlyListener(listener: RequestListener, check: (req: IncomingMessage) => ClusterAuth): RequestListener {
  return (req, res) => {
    if (OPEN(req.url ?? '/')) return listener(req, res);
    const v = check(req);
    if (v.ok) return listener(req, res);
    // Signed by the origin but read too late: under a rush a request can wait in this host's queue
    // past the signature's window. Not a browser going around the origin, so not 403 ("reached
    // through the web app's address" would mislead): 503, which the page and the origin retry.
    if (v.stale) {
      res.writeHead(503, { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '2' });
      return void res.end(JSON.stringify({ error: { code: 'REQUEST_STALE', message: `this sandbox host read the request too late (${v.reason}): it is overloaded, or its clock is far from the web app's`, hint: 'try again in a moment; if it persists, check the clocks (NTP)' } }));
    }
    res.writeHead(403, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(refusal(v.reason));
  };
}

/** socket.io's allowRequest: the handshake (websocket upgrade included) must be signed too. */
export function originOnlyHandshake(check: (req: IncomingMessage) => ClusterAuth): (req: IncomingMessage, cb: (err: string | null | undefined, ok: boolean) => void) => void {
  return (req, cb) => {
    const v = check(req);
    cb(v.ok ? null : `this sandbox host is reached through the web app's address (${v.reason})`, v.ok);
  };
}
