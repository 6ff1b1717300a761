// What Debian's package database says about a host file: which package owns it and at which
// upstream version. Read from /var/lib/dpkg directly (no dpkg process); on hosts without dpkg
// every answer is undefined and callers fall back to other evidence.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function dpkgOwner(path: string, root = '/'): Promise<string | undefined> {
  const infoDir = join(root, 'var/lib/dpkg/info');
  let lists: string[];
  try {
    lists = (await readdir(infoDir)).filter((f) => f.endsWith('.list'));
  } catch {
    return undefined;
  }
  for (const list of lists) {
    const text = await readFile(join(infoDir, list), 'utf8').catch(() => '');
    if (text.includes(`${path}\n`) && text.split('\n').includes(path)) return list.slice(0, -'.list'.length).split(':')[0];
  }
  return undefined;
}

/** The upstream part of an installed package's version: epoch and Debian revision removed. */
export async function dpkgVersion(pkg: string, root = '/'): Promise<string | undefined> {
  const text = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  for (const stanza of text.split('\n\n')) {
    if (!new RegExp(`^Package: ${pkg.replace(/[.+]/g, '\\$&')}$`, 'm').test(stanza)) continue;
    if (!/^Status: .* installed$/m.test(stanza)) continue;
    const v = /^Version: (.+)$/m.exec(stanza)?.[1];
    if (!v) return undefined;
    const noEpoch = v.replace(/^\d+:/, '');
    const dash = noEpoch.lastIndexOf('-');
    return dash > 0 ? noEpoch.slice(0, dash) : noEpoch;
  }
  return undefined;
}
