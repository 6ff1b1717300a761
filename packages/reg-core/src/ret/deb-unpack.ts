// Unpacking .deb files into a scratch tree, never onto the host and never running their
// maintainer scripts. The scratch tree has Debian's usrmerge links (bin → usr/bin, lib → usr/lib)
// before anything is unpacked, so bookworm packages that still ship /bin/bash land at
// usr/bin/bash, the path the store's rootfs agrees with.
//
// Maintainer scripts are read, not run: `update-alternatives --install` lines are recreated as
// plain symlinks (the highest priority wins, as in a fresh install); everything else a script
// would do is reported so the builder can say what a real install would have done.

import { copyFile, chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, symlink, utimes } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative } from 'node:path';
import { RegError } from '../errors.js';
import { runTool } from './deb-apt.js';

export const USRMERGE_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

export interface UnpackedEntry {
  /** Canonical path inside the tree (usr/bin/bash, not bin/bash). */
  path: string;
  kind: 'file' | 'link' | 'dir';
}

export interface Alternative {
  /** Container path of the generic name, e.g. /usr/bin/editor. */
  link: string;
  name: string;
  /** Container path it points at, e.g. /usr/bin/vim.tiny. */
  target: string;
  priority: number;
  package: string;
  /** The target as the script wrote it (relative links stay relative). */
  literal?: string;
}

export interface UnpackedDeb {
  package: string;
  entries: UnpackedEntry[];
  /** Maintainer scripts the package ships (preinst, postinst, …). */
  scripts: string[];
  alternatives: Alternative[];
  /** Commands of the scripts that were neither recreated nor harmless. */
  notDone: string[];
}

export async function prepareScratchRoot(root: string): Promise<void> {
  await mkdir(join(root, 'usr'), { recursive: true });
  for (const d of USRMERGE_DIRS) {
    await mkdir(join(root, 'usr', d), { recursive: true });
    await symlink(`usr/${d}`, join(root, d));
  }
}

/** Canonical tree path of `p` (relative to root), resolving directory symlinks inside the root. */
export async function canonicalTreePath(root: string, p: string): Promise<string> {
  const realRoot = await realpath(root);
  const parts = p.split('/').filter(Boolean);
  const last = parts.pop()!;
  const dir = await realpath(join(root, ...parts)).catch(() => join(realRoot, ...parts));
  const rel = relative(realRoot, join(dir, last));
  if (rel.startsWith('..') || isAbsolute(rel)) throw new RegError('PATH_ESCAPES', `${p} resolves outside the package tree`, { file: p });
  return rel;
}

// Lines of a maintainer script that do nothing a container needs.
const HARMLESS = [
  /^(set|exit|fi|then|else|esac|done|;;|\}|\{|\(|\)|:|#.*|true|return|local|shift|break|continue)(\s|$|;)/,
  /^[A-Za-z_][A-Za-z0-9_]*\(\)/, // function definitions
  /^[^ ]*\)\s*(;;)?$/, // case labels
  /^(dpkg --compare-versions|dpkg-trigger|\[ |test |\[\[ )/,
  /^(update-icon-caches|update-alternatives --(auto|remove))/,
  /^(if|elif|case|for|while)\b/,
  /^[a-z-]+\)|^\*\)/, // case labels
  /^echo\b/,
  /^(py3compile|pypy3compile|py3clean|pycompile|pyclean|rm -f \/usr\/lib\/python3)/,
  /^ldconfig\b|^\[ -x .*ldconfig/,
  /^dpkg-maintscript-helper\b/,
  /^(deb-systemd|systemctl|invoke-rc.d|update-rc.d|installdeb|db_)/,
  /^update-alternatives --(remove|quiet --remove)/,
  /^(install-info|mandb|update-mime|update-desktop|gtk-update|fc-cache|update-menus)/,
  /^[A-Za-z_]+=/,
  /^\./,
];

function joinContinuations(text: string): string[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l.length > 0);
}

export function readMaintainerScript(pkg: string, text: string): { alternatives: Alternative[]; notDone: string[] } {
  const alternatives: Alternative[] = [];
  const notDone: string[] = [];
  for (const line of joinContinuations(text)) {
    const alt = /update-alternatives (?:--quiet )?--install (\S+) (\S+) (\S+) (\d+)/.exec(line);
    if (alt) {
      alternatives.push({ link: alt[1]!, name: alt[2]!, target: alt[3]!, priority: Number(alt[4]), package: pkg });
      continue;
    }
    if (line.startsWith('#!')) continue;
    // `ln -s TARGET LINK` (bash's /bin/sh, coreutils' /usr/bin/touch): a link we can make too.
    const ln = /^ln -s?f?s?f? ("?)(\S+)\1 "?(?:\$DPKG_ROOT)?(\/[^\s"]+)"?$/.exec(line);
    if (ln && !ln[2]!.includes('$')) {
      const target = ln[2]!;
      alternatives.push({ link: ln[3]!, name: `ln:${ln[3]}`, target: target.startsWith('/') ? target : posix.join(posix.dirname(ln[3]!), target), priority: 0, package: pkg, literal: target });
      continue;
    }
    if (HARMLESS.some((re) => re.test(line))) continue;
    notDone.push(line.length > 100 ? `${line.slice(0, 97)}...` : line);
  }
  return { alternatives, notDone };
}

/** Unpacks one .deb into root (which prepareScratchRoot made) and reads its maintainer scripts. */
export async function unpackDeb(debFile: string, pkg: string, root: string, workDir: string): Promise<UnpackedDeb> {
  const tar = join(workDir, `${pkg}.tar`);
  const fsys = await runTool('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" > "$2"', 'sh', debFile, tar]);
  if (fsys.code !== 0) {
    throw new RegError('ELF_INVALID', `${debFile} is not a readable Debian package: ${fsys.stderr.trim()}`, { file: debFile, hint: 'delete it from the cache and build again' });
  }
  const list = await runTool('tar', ['-tf', tar]);
  const extract = await runTool('tar', ['-xf', tar, '--keep-directory-symlink', '--no-same-owner', '-C', root]);
  await rm(tar, { force: true });
  if (list.code !== 0 || extract.code !== 0) {
    throw new RegError('ELF_INVALID', `cannot unpack ${debFile}: ${(list.stderr || extract.stderr).trim()}`, { file: debFile });
  }
  const entries: UnpackedEntry[] = [];
  for (const raw of list.stdout.split('\n')) {
    const p = raw.replace(/^\.\//, '').replace(/\/$/, '');
    if (!p || p === '.') continue;
    if (USRMERGE_DIRS.includes(p)) continue; // the top-level directory itself: our link stands for it
    const path = await canonicalTreePath(root, p);
    const st = await lstat(join(root, path)).catch(() => undefined);
    if (!st) continue;
    entries.push({ path, kind: st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file' });
  }
  const ctl = await mkdtemp(join(workDir, `${pkg}-control-`));
  const control = await runTool('dpkg-deb', ['-e', debFile, ctl]);
  const scripts: string[] = [];
  const alternatives: Alternative[] = [];
  const notDone: string[] = [];
  if (control.code === 0) {
    for (const name of (await readdir(ctl)).sort()) {
      if (!['preinst', 'postinst', 'prerm', 'postrm', 'config'].includes(name)) continue;
      scripts.push(name);
      if (name !== 'postinst' && name !== 'preinst') continue;
      const r = readMaintainerScript(pkg, await readFile(join(ctl, name), 'utf8'));
      alternatives.push(...r.alternatives);
      notDone.push(...r.notDone.map((l) => `${name}: ${l}`));
    }
  }
  await rm(ctl, { recursive: true, force: true });
  return { package: pkg, entries, scripts, alternatives, notDone };
}

/**
 * Recreates the winning alternatives as symlinks in the tree (link → target directly, no
 * /etc/alternatives indirection). Returns the links made, each with the package whose file
 * it points at.
 */
export async function applyAlternatives(root: string, all: Alternative[]): Promise<Array<Alternative & { path: string }>> {
  const best = new Map<string, Alternative>();
  for (const a of all) {
    const prev = best.get(a.name);
    if (!prev || a.priority > prev.priority) best.set(a.name, a);
  }
  const made: Array<Alternative & { path: string }> = [];
  for (const a of [...best.values()].sort((x, y) => (x.link < y.link ? -1 : 1))) {
    if (!posix.isAbsolute(a.link) || !posix.isAbsolute(a.target)) continue;
    const target = join(root, a.target);
    if (!(await lstat(target).catch(() => undefined))) continue; // e.g. a man page we did not keep
    const path = await canonicalTreePath(root, a.link.slice(1));
    const at = join(root, path);
    if (await lstat(at).catch(() => undefined)) continue; // a real file is already there
    await mkdir(dirname(at), { recursive: true });
    await symlink(a.literal ?? a.target, at);
    made.push({ ...a, path });
  }
  return made;
}



/**
 * The files of a package as the host has them installed (dpkg's file list), copied into the
 * scratch tree instead of unpacking the archive's .deb. Used when RETs in the store already hold
 * the host's copies of some of its files (node's host build carries the host's bash): the
 * archive's newer rebuild would differ byte for byte and the two could never share a container.
 */
export async function copyInstalledPackage(pkg: string, architecture: string, root: string, hostRoot = '/'): Promise<UnpackedDeb> {
  const info = join(hostRoot, 'var/lib/dpkg/info');
  const base = (await lstat(join(info, `${pkg}:${architecture}.list`)).then(() => `${pkg}:${architecture}`, () => pkg));
  // The top-level usrmerge links (/bin → usr/bin) are the tree's own, not the package's.
  const list = (await readFile(join(info, `${base}.list`), 'utf8')).split('\n').filter((l) => l.startsWith('/') && l !== '/.' && !USRMERGE_DIRS.includes(l.slice(1)));
  const entries: UnpackedEntry[] = [];
  for (const p of list) {
    const host = join(hostRoot, p);
    const st = await lstat(host).catch(() => undefined);
    if (!st || st.isDirectory()) continue;
    await mkdir(join(root, dirname(p)), { recursive: true });
    const path = await canonicalTreePath(root, p.slice(1));
    const at = join(root, path);
    await rm(at, { force: true });
    if (st.isSymbolicLink()) await symlink(await readlink(host), at);
    else if (st.isFile()) {
      await copyFile(host, at);
      await chmod(at, st.mode & 0o7777);
      await utimes(at, st.atime, st.mtime);
    } else continue;
    entries.push({ path, kind: st.isSymbolicLink() ? 'link' : 'file' });
  }
  const scripts: string[] = [];
  const alternatives: Alternative[] = [];
  const notDone: string[] = [];
  for (const name of ['preinst', 'postinst', 'prerm', 'postrm']) {
    const text = await readFile(join(info, `${base}.${name}`), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    scripts.push(name);
    if (name !== 'postinst' && name !== 'preinst') continue;
    const r = readMaintainerScript(pkg, text);
    alternatives.push(...r.alternatives);
    notDone.push(...r.notDone.map((l) => `${name}: ${l}`));
  }
  return { package: pkg, entries, scripts, alternatives, notDone };
}
