// Inter-host requests (a host forwarding "open terminal" to the host placement chose; the web origin
// asking which host serves a container) carry one header signed with the cluster secret:
//
//   x-reg-cluster: <senderId>.<unixMillis>.<hex HMAC-SHA256(key, senderId \n unixMillis \n METHOD \n path?query)>
//
// key = deriveKey(secret, 'requests'). Valid for ±30 s around the receiver's clock (hosts refuse to
// join with a clock far off, see membership.ts), so a captured header is useless soon after.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { deriveKey } from './cluster-secret.js';

export const CLUSTER_HEADER = 'x-reg-cluster';
export const REQUEST_WINDOW_MS = 30_000;

const SENDER_RE = /^[A-Za-z0-9_-]{1,64}$/;

function mac(key: Buffer, sender: string, at: number, method: string, path: string): string {
  return createHmac('sha256', key).update(`${sender}\n${at}\n${method.toUpperCase()}\n${path}`).digest('hex');
}

export function requestKey(secret: Buffer): Buffer {
  return deriveKey(secret, 'requests');
}

/** The header value for a request from `sender` (a host id, or "web" for the origin). */
export function signClusterRequest(key: Buffer, sender: string, method: string, pathWithQuery: string, now = Date.now()): string {
  if (!SENDER_RE.test(sender)) throw new Error(`cluster sender id ${JSON.stringify(sender)} is not allowed`);
  return `${sender}.${now}.${mac(key, sender, now, method, pathWithQuery)}`;
}

/**
 * `stale`: signed with this cluster's key for this very request, but outside the window. That is a
 * request that waited longer than the window to be read (a host overloaded, or clocks apart) or a
 * replay; it is refused either way, and the receiver can say which of the two to suspect.
 */
export type ClusterAuth = { ok: true; sender: string } | { ok: false; reason: string; stale?: true };

/** Checks a header: well-formed, fresh, and signed with this cluster's key for this very request. */
export function verifyClusterRequest(key: Buffer, header: string | undefined | null, method: string, pathWithQuery: string, now = Date.now()): ClusterAuth {
  if (!header) return { ok: false, reason: `no ${CLUSTER_HEADER} header` };
  const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,16})\.([0-9a-f]{64})$/.exec(header);
  if (!m) return { ok: false, reason: `malformed ${CLUSTER_HEADER} header` };
  const [, sender, atText, sig] = m as unknown as [string, string, string, string];
  const at = Number(atText);
  const want = Buffer.from(mac(key, sender, at, method, pathWithQuery), 'hex');
  if (!timingSafeEqual(want, Buffer.from(sig, 'hex'))) return { ok: false, reason: `${CLUSTER_HEADER} signature does not match (another cluster's secret, or a forged request)` };
  if (Math.abs(now - at) > REQUEST_WINDOW_MS) return { ok: false, stale: true, reason: `${CLUSTER_HEADER} is ${Math.round((now - at) / 1000)} s off this host's clock (allowed ±${REQUEST_WINDOW_MS / 1000} s)` };
  return { ok: true, sender };
}
