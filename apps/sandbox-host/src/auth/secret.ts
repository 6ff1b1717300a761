// The signing secret: generated at first start and kept in the data dir (mode 0600), so sign-ins
// survive a host restart and nothing secret is embedded in the code or the environment.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function loadOrCreateSecret(dataDir: string, file = 'host-secret'): Promise<Buffer> {
  const path = join(dataDir, file);
  try {
    const hex = (await readFile(path, 'utf8')).trim();
    if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
  } catch {
    // first start
  }
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32);
  // wx: two hosts starting at once must not overwrite each other's secret.
  await writeFile(path, secret.toString('hex'), { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
}
