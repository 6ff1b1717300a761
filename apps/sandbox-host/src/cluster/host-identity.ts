// This host's stable id: kept in $REG_HOME/host-id so a restarted host is the same cluster member
// (its old row is taken over once it is down) while a second REG_HOME on the machine is another.

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const HOST_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export async function loadOrCreateHostId(regHome: string): Promise<string> {
  const file = join(regHome, 'host-id');
  const read = async () => (await readFile(file, 'utf8')).trim();
  const existing = await read().catch(() => undefined);
  if (existing !== undefined) {
    if (!HOST_ID_RE.test(existing)) throw new Error(`${file} holds ${JSON.stringify(existing)}, which is not a host id: delete the file (a new id is made) or set REG_HOST_ID`);
    return existing;
  }
  await writeFile(file, `h-${randomBytes(6).toString('hex')}\n`, { mode: 0o644, flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return read();
}

export async function machineId(): Promise<string> {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    const id = (await readFile(f, 'utf8').catch(() => '')).trim();
    if (id) return id;
  }
  return '';
}
