// The cluster secret: one random key shared by every sandbox host of a cluster (and the web origin
// that forwards to them), kept in a file only root can read. It signs host registrations and
// heartbeats (host-signature.ts), inter-host requests (request-auth.ts), and the keys derived from
// it sign users' sessions, so a sign-in on one host is valid on all of them.
//
// The first host to start creates it (O_EXCL, 0600) unless it exists; a file that group or others
// may read is refused: anyone who can read it can impersonate a host.

import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const HEX_KEY = /^[0-9a-f]{64,}$/;

export class ClusterSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterSecretError';
  }
}

/** Reads the cluster secret (creating it on first use); throws a ClusterSecretError naming the file and the fix. */
export async function loadOrCreateClusterSecret(file: string, opts: { create?: boolean } = {}): Promise<Buffer> {
  const existing = await stat(file).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new ClusterSecretError(`REG_CLUSTER_SECRET_FILE ${file}: ${e.message}`);
  });
  if (!existing) {
    if (opts.create === false) throw new ClusterSecretError(`REG_CLUSTER_SECRET_FILE ${file} does not exist: copy the cluster's secret file there (mode 0600)`);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // wx: two hosts starting at once must agree on one secret (the loser reads the winner's).
    await writeFile(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw new ClusterSecretError(`REG_CLUSTER_SECRET_FILE ${file}: cannot create it: ${e.message}`);
    });
    return loadOrCreateClusterSecret(file, { create: false });
  }
  if (!existing.isFile()) throw new ClusterSecretError(`REG_CLUSTER_SECRET_FILE ${file} is not a regular file`);
  if ((existing.mode & 0o077) !== 0) {
    throw new ClusterSecretError(`REG_CLUSTER_SECRET_FILE ${file} is readable by group or others (mode ${(existing.mode & 0o777).toString(8)}): run chmod 600 ${file}`);
  }
  const hex = (await readFile(file, 'utf8')).trim();
  if (!HEX_KEY.test(hex)) throw new ClusterSecretError(`REG_CLUSTER_SECRET_FILE ${file} does not hold a hex key of at least 32 bytes: delete it on every host and let the first host create it, or write one with: openssl rand -hex 32`);
  return Buffer.from(hex, 'hex');
}

/** A key for one purpose, derived from the cluster secret (so one leaked purpose key does not forge the others). */
export function deriveKey(secret: Buffer, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`reg-cluster:${purpose}`).digest();
}
