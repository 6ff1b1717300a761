// A Host row is signed by whoever writes it (the host itself, or a live host marking it down) with
// a key derived from the cluster secret. Readers verify before trusting a row, so someone who can
// write to the database but does not hold the secret cannot add a host that students get placed on.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Host } from '../generated/prisma/client.js';
import { deriveKey } from './cluster-secret.js';

export type UnsignedHost = Omit<Host, 'signature'>;

export function hostKey(secret: Buffer): Buffer {
  return deriveKey(secret, 'hosts');
}

const ms = (d: Date | null) => (d ? d.getTime() : null);

/** Every field, in a fixed order, in a form both SQLite and PostgreSQL give back unchanged. */
function canonical(h: UnsignedHost): string {
  return JSON.stringify([h.id, h.address, h.instance, h.status, h.cgroupVersion, String(h.memoryBytes), String(h.freeMemoryBytes), h.rets, h.version, h.machineId, h.regHome, h.containers, ms(h.startedAt), ms(h.heartbeatAt), ms(h.downAt), h.downReason]);
}

export function signHost(key: Buffer, h: UnsignedHost): string {
  return createHmac('sha256', key).update(canonical(h)).digest('hex');
}

export function verifyHost(key: Buffer, h: Host): boolean {
  if (!/^[0-9a-f]{64}$/.test(h.signature)) return false;
  const { signature, ...rest } = h;
  return timingSafeEqual(Buffer.from(signHost(key, rest), 'hex'), Buffer.from(signature, 'hex'));
}
