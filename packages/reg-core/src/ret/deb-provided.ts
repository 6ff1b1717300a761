// Which Debian packages the store already provides, so a build downloads only the rest. A RET
// built from a .deb records its package (`source.deb`); a RET built from the host's files learns
// it from dpkg's own database (/var/lib/dpkg/info/*.list: who owns each file), and a runtime
// stands for the packages of its interpreter (python@3.11 for python3, python3.11,
// libpython3.11-stdlib, ...). The answer is written as a dpkg status file for `apt-get -s`.

import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegHome } from '../home.js';
import { listRets, loadRet } from './repository.js';
import type { LockedRet } from './schema.js';

export interface ProvidedPackage {
  package: string;
  /** The RET that provides it. */
  ret: { name: string; version: string; kind: LockedRet['kind'] };
  /** What a RET that depends on it writes in `requires` (undefined: covered by `libs`). */
  requiresRef?: string;
  /** The dpkg status stanza apt should see for it. */
  stanza: string;
}

/** Path (canonical, no leading /) → owning package, from dpkg's file lists under `root`. */
export async function dpkgFileIndex(root = '/'): Promise<Map<string, string>> {
  const infoDir = join(root, 'var/lib/dpkg/info');
  const merged = new Set<string>();
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    if ((await lstat(join(root, d)).catch(() => undefined))?.isSymbolicLink()) merged.add(d);
  }
  const index = new Map<string, string>();
  const lists = (await readdir(infoDir).catch(() => [] as string[])).filter((f) => f.endsWith('.list'));
  for (const list of lists) {
    const pkg = list.slice(0, -'.list'.length).split(':')[0]!;
    const text = await readFile(join(infoDir, list), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.startsWith('/') || line === '/') continue;
      let p = line.slice(1);
      const top = p.split('/')[0]!;
      if (merged.has(top)) p = `usr/${p}`;
      index.set(p, pkg);
    }
  }
  return index;
}

/** Installed packages' stanzas from dpkg's status file, keyed by package name. */
export async function dpkgStatusStanzas(root = '/'): Promise<Map<string, string>> {
  const text = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8').catch(() => '');
  const out = new Map<string, string>();
  for (const stanza of text.split(/\n\n+/)) {
    const pkg = /^Package: (\S+)$/m.exec(stanza)?.[1];
    if (!pkg || !/^Status: .* installed$/m.test(stanza)) continue;
    out.set(pkg, stanza);
  }
  return out;
}

/**
 * A stanza apt reads as "installed, nothing more to do": identity, version, architecture and
 * Provides. Depends are dropped on purpose — the RET already carries what it needs, and apt must
 * not try to "fix" dependencies of packages that only stand for RETs.
 */
export function standInStanza(pkg: string, version: string, architecture: string, provides?: string, multiArch?: string, exact = false): string {
  // "+reg" makes a version the archive does not have: apt would otherwise merge the archive's
  // record of the same version, Depends included, and "repair" them by installing them all.
  return [`Package: ${pkg}`, 'Status: install ok installed', `Version: ${version}${exact ? '' : '+reg'}`, `Architecture: ${architecture}`, ...(provides ? [`Provides: ${provides}`] : []), ...(multiArch ? [`Multi-Arch: ${multiArch}`] : []), 'Description: provided by a Reg RET'].join('\n');
}

function restanza(stanza: string): string {
  const get = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1];
  return standInStanza(get('Package')!, get('Version') ?? '0', get('Architecture') ?? 'all', get('Provides'), get('Multi-Arch'));
}

/** The interpreter packages a host-built runtime RET stands for. */
function runtimePackages(ret: LockedRet, installed: Map<string, string>): string[] {
  const mm = /^(\d+)\.(\d+)/.exec(ret.version);
  if (ret.name === 'python' && mm) {
    const v = `${mm[1]}.${mm[2]}`;
    const pat = new RegExp(`^(lib)?python(3|${v.replace('.', '\\.')})(-minimal|-stdlib)?$`);
    return [...installed.keys()].filter((p) => pat.test(p) || p === `libpython${v}-minimal` || p === `libpython${v}-stdlib`);
  }
  if (ret.name === 'node') return [...installed.keys()].filter((p) => p === 'nodejs' || /^libnode\d+$/.test(p));
  return [];
}

export async function providedPackages(home: RegHome, hostRoot = '/'): Promise<Map<string, ProvidedPackage>> {
  const out = new Map<string, ProvidedPackage>();
  const metas = await listRets(home);
  let index: Map<string, string> | undefined;
  let installed: Map<string, string> | undefined;

  for (const meta of metas) {
    const ret = await loadRet(home, meta.name, meta.version);
    const id = { name: ret.name, version: ret.version, kind: ret.kind };
    const deb = ret.source?.deb;
    if (deb) {
      out.set(deb.package, {
        package: deb.package,
        ret: id,
        ...(ret.kind !== 'library' && { requiresRef: `${ret.name}@${ret.version}` }),
        // Built from this very version: its Depends are RETs too, so apt may see them (exact).
        stanza: standInStanza(deb.package, deb.version, deb.architecture, deb.provides?.join(', '), deb.multiArch, true),
      });
      continue;
    }
    if (ret.kind === 'base') continue;
    index ??= await dpkgFileIndex(hostRoot);
    installed ??= await dpkgStatusStanzas(hostRoot);
    const owners = new Set<string>();
    if (ret.kind === 'runtime') for (const p of runtimePackages(ret, installed)) owners.add(p);
    if (ret.kind === 'data' && installed.has(ret.name)) owners.add(ret.name);
    if (ret.kind === 'library') {
      for (const e of ret.lock.files) {
        if (e.dir) continue;
        const owner = index.get(e.path);
        if (owner) owners.add(owner);
      }
    }
    const mm = /^(\d+)\.(\d+)/.exec(ret.version);
    const requiresRef =
      ret.kind === 'library' ? undefined : ret.kind === 'runtime' && mm ? `${ret.name}@${mm[1]}.${mm[2]}` : `${ret.name}@${ret.version}`;
    for (const pkg of owners) {
      const stanza = installed.get(pkg);
      if (!stanza || out.has(pkg)) continue;
      out.set(pkg, { package: pkg, ret: id, ...(requiresRef && { requiresRef }), stanza: restanza(stanza) });
    }
  }
  return out;
}
