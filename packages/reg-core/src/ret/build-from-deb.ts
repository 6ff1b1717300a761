// Building RETs from Debian packages (`reg ret build --from-deb python3-numpy`) without installing
// anything on the host. apt resolves what the request needs beyond what the store's RETs already
// provide, downloads it (hash-checked) into a shared cache, and the .debs are unpacked into a
// scratch tree; no maintainer script runs. Then:
//
// - every shared library the packages' ELF files load (resolved statically in the scratch tree,
//   where the store's library RETs are laid out too) becomes a library RET named from its soname,
//   exactly as a host build names it — so libc@6 from the host is reused, and libopenblas@0 or
//   libgfortran@5 join the store for every later package to share;
// - every other package becomes a RET of kind `package`: its files (docs and man pages left out),
//   `libs` from its ELF files, `requires` from its Depends (python@3.11 for python3, the package
//   RETs of its other dependencies), and `source.deb` recording package, version and digest;
// - `update-alternatives` lines of the maintainer scripts are recreated as symlinks
//   (/usr/bin/vi → /usr/bin/vim.tiny); whatever else the scripts would do is reported.
//
// With `name`, one more RET bundles the requested packages (a toolbox such as tools@1). Nothing is
// written until the whole set is built and checked for path conflicts against the RETs it
// requires; a failure leaves the store exactly as it was.

import { copyFile, link, lstat, mkdir, mkdtemp, readlink, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { addToPlan, type FilePlan } from '../resolve/resolve.js';
import { blobPath } from '../store/blob-path.js';
import { commitDrafts, libraryIdentity, type Draft, type HostBuildReport } from './build-from-host.js';
import { HostCollector } from './collect.js';
import { candidateStanzas, ensureAptLists, fetchDebs, planDebs, parseDebRequest, showDebs, type DebControl } from './deb-apt.js';
import { dpkgFileIndex, dpkgStatusStanzas, providedPackages } from './deb-provided.js';
import { applyAlternatives, copyInstalledPackage, prepareScratchRoot, unpackDeb, type UnpackedDeb } from './deb-unpack.js';
import { isElfFile, readElf } from './elf.js';
import { readLoaderConfig, resolveDependencies, type ResolvedLibrary } from './loader-search.js';
import { lockId } from './parse.js';
import { findRet, listRets, loadRet } from './repository.js';
import { modeToNumber, type LockedRet } from './schema.js';
import { isValidVersion, parseRef, satisfies } from './version.js';

export interface DebBuildOptions {
  /** Bundle the requested packages into one more RET with this name (e.g. tools). */
  name?: string;
  /** Version of the bundle (default 1). */
  version?: string;
  /** Extra symlinks in the bundle: container path → target (e.g. /usr/bin/vim → vim.tiny). */
  links?: Record<string, string>;
  /** Environment of the bundle (e.g. EDITOR=nano). */
  env?: Record<string, string>;
  /** Default command of the bundle. */
  command?: string[];
  /**
   * Debian packages to leave out although something depends on them (e.g. perl for a git that
   * only needs init/commit/log): apt is told they are installed. Their absence is reported.
   */
  skip?: string[];
  /** Where .debs are cached (default $REG_CACHE/debs or /var/cache/reg-debs). */
  cacheDir?: string;
  log?: (line: string) => void;
}

export interface DebBuildReport extends HostBuildReport {
  /** What a real install would have done that this build did not (maintainer scripts). */
  warnings: string[];
  /** Debian packages taken from existing RETs instead of being downloaded. */
  reused: string[];
  downloaded: string[];
}

/** Paths of a package a container does not need. */
const EXCLUDE = /^usr\/share\/(doc|doc-base|man|info|lintian|bug|bash-completion\/completions\/.*\.md)(\/|$)/;

/** Debian version → RET version: the upstream part (epoch and Debian revision dropped). */
export function retVersionOf(debVersion: string): string {
  const noEpoch = debVersion.replace(/^\d+:/, '');
  const dash = noEpoch.lastIndexOf('-');
  let v = dash > 0 ? noEpoch.slice(0, dash) : noEpoch;
  if (isValidVersion(v)) return v;
  v = v.replace(/[^0-9A-Za-z.+~_-]/g, '.').replace(/([.+~_-])[.+~_-]+/g, '$1').replace(/^[^0-9]+/, '').replace(/[.+~_-]+$/, '');
  return isValidVersion(v) ? v : '0';
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/**
 * Lays the store's library RETs (all of them, except those a requested package is rebuilding)
 * into the scratch tree, so ELF resolution finds them where a container will.
 */
async function layStoreLibraries(home: RegHome, root: string, rebuilding: Set<string>): Promise<Map<string, string>> {
  const byPath = new Map<string, string>(); // tree path → "name@version" of the store RET
  for (const meta of await listRets(home)) {
    if (meta.kind !== 'library') continue;
    const ret = await loadRet(home, meta.name, meta.version);
    if (ret.source?.deb && rebuilding.has(ret.source.deb.package)) continue;
    const id = `${ret.name}@${ret.version}`;
    for (const e of ret.lock.files) {
      const at = join(root, e.path);
      if (await exists(at)) continue;
      await mkdir(dirname(at), { recursive: true });
      if (e.link !== undefined) await symlink(e.link, at);
      else if (e.digest !== undefined) {
        const src = blobPath(home.blobs, e.digest, (modeToNumber(e.mode, 0o644) & 0o111) !== 0);
        await link(src, at).catch(() => copyFile(src, at));
      } else continue;
      byPath.set(e.path, id);
    }
  }
  return byPath;
}

export async function buildFromDeb(home: RegHome, requests: string[], opts: DebBuildOptions = {}): Promise<DebBuildReport> {
  const log = opts.log ?? (() => {});
  if (requests.length === 0) throw new RegError('USAGE', 'name at least one Debian package', { field: '--from-deb', hint: 'e.g. reg ret build --from-deb python3-numpy' });
  const wanted = requests.map(parseDebRequest);
  const bundle = opts.name !== undefined ? { name: opts.name, version: opts.version ?? '1' } : undefined;
  if (bundle && !isValidVersion(bundle.version)) throw new RegError('USAGE', `version "${bundle.version}" is not a RET version`, { field: '--version', hint: 'dotted, e.g. 1 or 2024.1' });

  const provided = await providedPackages(home);
  for (const w of wanted) provided.delete(w.package); // asked for by name: always (re)built from its .deb
  const work = await mkdtemp(join(tmpdir(), 'reg-deb-'));
  try {
    const status = join(work, 'status');
    const skip = (opts.skip ?? []).map((p) => parseDebRequest(p).package).filter((p) => !provided.has(p));
    const stanzas = new Map([...provided].map(([pkg, p]) => [pkg, p.stanza]));
    for (const [i, stanza] of (await candidateStanzas(skip)).entries()) stanzas.set(skip[i]!, stanza);
    await ensureAptLists(log);
    const plan = await planDebs(requests, stanzas, status, (pkg) => wanted.some((w) => w.package === pkg));
    const controls = await showDebs(plan);
    const reused = [...provided.keys()].sort();
    log(`${plan.length} Debian package${plan.length === 1 ? '' : 's'} to unpack: ${plan.map((p) => p.package).join(' ')}`);
    // Packages whose host-installed files some store RET already carries are copied from the host.
    const fromHost = await hostCopiedPackages(home, plan.map((p) => p.package));
    for (const [pkg, version] of fromHost) {
      const c = controls.get(pkg)!;
      controls.set(pkg, { ...c, version, sha256: '', description: `${c.description}; this host's installed copy` });
      log(`${pkg}: the store already holds this host's ${pkg} ${version}: its installed files are used, not the archive's ${c.version}`);
    }
    const files = await fetchDebs([...controls.values()].filter((c) => !fromHost.has(c.package)), log, opts.cacheDir);

    // 1. Unpack everything into one scratch tree.
    const root = join(work, 'root');
    await prepareScratchRoot(root);
    const unpacked = new Map<string, UnpackedDeb>();
    for (const item of plan) {
      unpacked.set(item.package, fromHost.has(item.package) ? await copyInstalledPackage(item.package, item.architecture, root) : await unpackDeb(files.get(item.package)!, item.package, root, work));
    }
    const warnings: string[] = skip.map((p) => `${p} left out (--skip): what needs it at run time will fail`);
    for (const u of unpacked.values()) {
      if (u.notDone.length) warnings.push(`${u.package}: maintainer scripts not run; a real install would also: ${u.notDone.slice(0, 4).join(' | ')}${u.notDone.length > 4 ? ` (+${u.notDone.length - 4} more)` : ''}`);
    }
    const alternatives = await applyAlternatives(root, [...unpacked.values()].flatMap((u) => u.alternatives));
    const owner = new Map<string, string>(); // tree path → package, the last unpacked wins (as dpkg)
    for (const u of unpacked.values()) for (const e of u.entries) if (e.kind !== 'dir') owner.set(e.path, u.package);
    for (const a of alternatives) {
      const targetOwner = owner.get(a.target.slice(1)) ?? a.package;
      owner.set(a.path, targetOwner);
      unpacked.get(targetOwner)?.entries.push({ path: a.path, kind: 'link' });
    }
    if (alternatives.length) log(`recreated ${alternatives.length} alternatives as links: ${alternatives.map((a) => `${a.link} → ${a.target}`).join(', ')}`);

    // 2. The ELF closure, resolved in the scratch tree with the store's libraries laid in.
    const storeLibs = await layStoreLibraries(home, root, new Set(plan.map((p) => p.package)));
    const elfByPackage = new Map<string, string[]>();
    const elfAll: string[] = [];
    for (const u of unpacked.values()) {
      const list: string[] = [];
      for (const e of u.entries) {
        if (e.kind !== 'file' || owner.get(e.path) !== u.package || EXCLUDE.test(e.path)) continue;
        if (await isElfFile(join(root, e.path))) list.push(`/${e.path}`);
      }
      elfByPackage.set(u.package, list);
      elfAll.push(...list);
    }
    const config = await readLoaderConfig(root);
    let libraries: ResolvedLibrary[] = [];
    let interpreter: string | undefined;
    try {
      // A library that neither the packages nor the store's RETs hold (libtic.so.6 of a libtinfo6
      // whose libtinfo.so.6 alone is a RET) is taken from the host when the host has it.
      let c;
      for (let round = 0; ; round++) {
        try {
          c = await resolveDependencies(elfAll, config);
          break;
        } catch (e) {
          const name = e instanceof RegError && e.code === 'LIBRARY_NOT_FOUND' ? /^(\S+), needed by/.exec(e.message)?.[1] : undefined;
          if (!name || round > 50 || !(await copyHostLibrary(root, name))) throw e;
          log(`${name}: not in the packages or the store, taken from the host`);
        }
      }
      libraries = c.libraries;
      interpreter = c.interpreter;
    } catch (e) {
      if (!(e instanceof RegError) || e.code !== 'LIBRARY_NOT_FOUND') throw e;
      // One file's missing library (an optional plugin) must not sink the rest: resolve one by one.
      const byReal = new Map<string, ResolvedLibrary>();
      for (const f of elfAll) {
        try {
          const c = await resolveDependencies([f], config);
          interpreter ??= c.interpreter;
          for (const l of c.libraries) if (!byReal.has(l.realPath)) byReal.set(l.realPath, l);
        } catch (err) {
          if (!(err instanceof RegError) || err.code !== 'LIBRARY_NOT_FOUND') throw err;
          warnings.push(`${f}: ${err.message} (left as is: it fails only if loaded)`);
        }
      }
      libraries = [...byReal.values()];
    }
    log(`${elfAll.length} ELF objects need ${libraries.length} shared libraries`);

    // 3. Library RETs: reuse the store's, make the rest from the scratch tree.
    const refBySoname = new Map<string, string>();
    const libDrafts = new Map<string, Draft>();
    const libPaths = new Set<string>();
    // A library named as the host names it (libz@1.2.13 from libz.so.1.2.13). When the file name
    // says no more than the soname (openblas's libblas.so.3), the package's upstream version is
    // added (libblas@3+0.3.21+ds), so two Debian builds of one soname do not claim one version.
    const idOf = (l: ResolvedLibrary) => {
      const id = libraryIdentity(l.object.soname ?? l.path.split('/').pop()!, l.realPath.split('/').pop()!);
      const pkg = storeLibs.has(l.realPath.slice(1)) ? undefined : owner.get(l.realPath.slice(1));
      const ctl = pkg ? controls.get(pkg) : undefined;
      if (ctl && id.version === id.range && isValidVersion(`${id.range}+${retVersionOf(ctl.version)}`)) id.version = `${id.range}+${retVersionOf(ctl.version)}`;
      return id;
    };
    for (const l of libraries) {
      const id = idOf(l);
      // Libraries of this build are pinned (name@version); the store's by soname range.
      const ref = storeLibs.has(l.realPath.slice(1)) ? `${id.name}@${id.range}` : `${id.name}@${id.version}`;
      refBySoname.set(l.soname, ref);
      if (l.object.soname) refBySoname.set(l.object.soname, ref);
    }
    for (const l of libraries) {
      if (storeLibs.has(l.realPath.slice(1))) continue;
      const id = idOf(l);
      const key = `${id.name}@${id.version}`;
      if (libDrafts.has(key)) continue;
      const c = new HostCollector({ root });
      await c.add(join(root, l.path));
      await c.add(join(root, l.realPath));
      if (interpreter && l.realPath === (await realInRoot(root, interpreter))) await c.add(join(root, interpreter));
      for (const p of c.entries.keys()) libPaths.add(p);
      const pkg = owner.get(l.realPath.slice(1));
      const requires = [...new Set(l.object.needed.map((n) => refBySoname.get(n)).filter((r): r is string => !!r && r !== refBySoname.get(l.soname)))];
      const ctl = pkg ? controls.get(pkg) : undefined;
      libDrafts.set(key, {
        ret: {
          name: id.name,
          version: id.version,
          kind: 'library',
          description: `shared library ${l.object.soname ?? l.path.split('/').pop()}${pkg ? ` from Debian ${pkg}` : ''}`,
          ...(requires.length && { requires }),
          ...(ctl && { source: debSource(ctl) }),
        },
        entries: c.entries,
      });
    }
    const interpRef = interpreter ? libraries.find((l) => l.path === interpreter || l.soname === interpreter) : undefined;

    // 4. Package RETs: what is left of each package once its libraries are RETs of their own.
    const pkgDrafts: Draft[] = [];
    const pkgRef = new Map<string, string>(); // Debian package → the ref its dependants require
    for (const [pkg, p] of provided) if (p.requiresRef) pkgRef.set(pkg, p.requiresRef);
    const provider = new Map<string, string>(); // virtual name (Provides) → package
    for (const c of controls.values()) for (const v of c.provides) provider.set(v, c.package);
    for (const item of plan) {
      const u = unpacked.get(item.package)!;
      const ctl = controls.get(item.package)!;
      const c = new HostCollector({ root, exclude: (hp) => EXCLUDE.test(hp.slice(root.length + 1)) });
      for (const e of u.entries) {
        if (e.kind === 'dir' || owner.get(e.path) !== u.package || libPaths.has(e.path) || EXCLUDE.test(e.path)) continue;
        await c.add(join(root, e.path), false);
      }
      for (const p of libPaths) c.entries.delete(p);
      const isRequested = wanted.some((w) => w.package === item.package);
      if (c.entries.size === 0 && !isRequested) continue;
      const libs = new Set<string>();
      for (const f of elfByPackage.get(item.package) ?? []) {
        if (!c.entries.has(f.slice(1))) continue;
        const obj = await readElf(join(root, f));
        for (const n of obj.needed) {
          const r = refBySoname.get(n);
          if (r) libs.add(r);
        }
        if (obj.interpreter && interpRef) libs.add(refBySoname.get(interpRef.soname)!);
      }
      // A package made only of libraries (asked for by name) stands for them.
      if (c.entries.size === 0) {
        for (const l of libraries) if (owner.get(l.realPath.slice(1)) === item.package) libs.add(refBySoname.get(l.soname)!);
      }
      const requires = new Set<string>();
      for (const group of ctl.depends) {
        const chosen = group.map((n) => (controls.has(n) || provided.has(n) ? n : provider.get(n) ?? n)).find((n) => controls.has(n) || provided.has(n));
        if (!chosen || chosen === item.package) continue;
        const ref = pkgRef.get(chosen);
        if (ref) requires.add(ref);
      }
      const version = retVersionOf(ctl.version);
      const name = item.package;
      pkgRef.set(name, `${name}@${version}`);
      pkgDrafts.push({
        ret: {
          name,
          version,
          kind: 'package',
          description: `${ctl.description} (Debian ${name} ${ctl.version})`.slice(0, 1000),
          ...(libs.size && { libs: [...libs].sort() }),
          ...(requires.size && { requires: [...requires].sort() }),
          source: { ...debSource(ctl), builtAt: new Date().toISOString(), builder: 'reg ret build --from-deb' },
        },
        entries: c.entries,
      });
    }
    // A package asked for that a RET already provided is now rebuilt; one that apt found nothing
    // to do for (already in the status) cannot happen: requested ones are never in the status.

    // 5. The bundle (e.g. tools@1): the requested packages together, with extra links and env.
    const drafts: Draft[] = [...libDrafts.values(), ...pkgDrafts];
    let top = wanted.map((w) => pkgRef.get(w.package)).filter((r): r is string => !!r);
    if (bundle) {
      const entries: Draft['entries'] = new Map();
      for (const [at, target] of Object.entries(opts.links ?? {})) {
        if (!at.startsWith('/')) throw new RegError('USAGE', `link path "${at}" must be absolute`, { field: '--link' });
        entries.set(at.slice(1).replace(/^(bin|sbin|lib|lib64)\//, 'usr/$1/'), { kind: 'link', target });
      }
      drafts.push({
        ret: {
          name: bundle.name,
          version: bundle.version,
          kind: 'package',
          description: `Debian packages ${wanted.map((w) => w.package).join(', ')}`.slice(0, 1000),
          requires: top,
          ...(opts.env && Object.keys(opts.env).length && { env: opts.env }),
          ...(opts.command && { command: opts.command }),
          source: { builtAt: new Date().toISOString(), builder: `reg ret build --from-deb ${requests.join(' ')}` },
        },
        entries,
      });
      top = [`${bundle.name}@${bundle.version}`];
    }

    const verify = async (locked: LockedRet[]) => {
      const byId = new Map(locked.map((r) => [`${r.name}@${r.version}`, r]));
      for (const r of locked) {
        // A library of the same name@version from somewhere else is a different library.
        const prev = await loadRet(home, r.name, r.version).catch(() => undefined);
        if (prev && lockId(prev) !== lockId(r) && prev.source?.deb?.package !== r.source?.deb?.package) {
          const from = prev.source?.deb ? `Debian ${prev.source.deb.package} ${prev.source.deb.version}` : 'this host\'s files';
          throw new RegError('RET_EXISTS', `${r.name}@${r.version} from Debian ${r.source?.deb?.package ?? 'packages'} differs from the ${r.name}@${r.version} already in the store (built from ${from})`, {
            field: '--from-deb',
            hint: `remove the old one (reg ret rm ${r.name}@${r.version}) if nothing needs it, or build the package on a host whose libraries match`,
          });
        }
      }
      for (const t of top) await checkClosure(home, t, byId);
    };
    const report = await commitDrafts(home, drafts, { runtime: bundle ?? { name: wanted[0]!.package, version: pkgDrafts.find((d) => d.ret.name === wanted[0]!.package)?.ret.version ?? '0' }, log, verify });
    return { ...report, warnings, reused, downloaded: plan.map((p) => `${p.package}=${p.version}`) };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Planned packages installed on this host (same architecture) whose installed files a host-built
 * RET of the store already holds → their installed version.
 */
async function hostCopiedPackages(home: RegHome, packages: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const hostBuilt: LockedRet[] = [];
  for (const m of await listRets(home)) {
    if (m.kind === 'library' || m.kind === 'base') continue; // libraries are matched by soname
    const r = await loadRet(home, m.name, m.version);
    if (!r.source?.deb && !r.source?.npm && r.source?.host) hostBuilt.push(r);
  }
  if (hostBuilt.length === 0) return out;
  const index = await dpkgFileIndex('/');
  const installed = await dpkgStatusStanzas('/');
  const wanted = new Set(packages);
  const owners = new Set<string>();
  for (const r of hostBuilt) for (const e of r.lock.files) if (!e.dir) {
    const o = index.get(e.path);
    if (o && wanted.has(o)) owners.add(o);
  }
  for (const pkg of owners) {
    const version = /^Version: (.+)$/m.exec(installed.get(pkg) ?? '')?.[1];
    if (version) out.set(pkg, version);
  }
  return out;
}

function debSource(ctl: DebControl): NonNullable<LockedRet['source']> {
  return {
    deb: {
      package: ctl.package,
      version: ctl.version,
      architecture: ctl.architecture,
      ...(ctl.multiArch && { multiArch: ctl.multiArch }),
      ...(ctl.sha256 && { sha256: `sha256:${ctl.sha256}` }),
      ...(ctl.provides.length && { provides: ctl.provides }),
    },
  };
}

/** Copies a host library (the loader's default directories) into the scratch tree. */
async function copyHostLibrary(root: string, soname: string): Promise<boolean> {
  if (soname.includes('/')) return false;
  for (const dir of ['usr/lib/x86_64-linux-gnu', 'usr/lib/aarch64-linux-gnu', 'usr/lib64', 'usr/lib']) {
    const host = join('/', dir, soname);
    const real = await realpath(host).catch(() => undefined);
    if (!real || (await exists(join(root, dir, soname)))) continue;
    const realRel = relative('/', real).replace(/^(lib|lib64|bin|sbin)\//, 'usr/$1/');
    await mkdir(dirname(join(root, realRel)), { recursive: true });
    if (!(await exists(join(root, realRel)))) await copyFile(real, join(root, realRel));
    if (realRel !== join(dir, soname)) await symlink(basename(real), join(root, dir, soname)).catch(() => {});
    return true;
  }
  return false;
}

async function realInRoot(root: string, p: string): Promise<string> {
  let cur = p;
  for (let i = 0; i < 40; i++) {
    const st = await lstat(join(root, cur)).catch(() => undefined);
    if (!st?.isSymbolicLink()) return cur;
    const t = await readlink(join(root, cur));
    cur = t.startsWith('/') ? t : join(dirname(cur), t);
  }
  return cur;
}

/**
 * Plans the closure of `ref` over the new RETs and the store's, so two RETs that disagree about a
 * path fail the build (PATH_CONFLICT names both) before anything is saved.
 */
async function checkClosure(home: RegHome, ref: string, fresh: Map<string, LockedRet>): Promise<void> {
  const plan: FilePlan = new Map();
  const seen = new Set<string>();
  const queue = [ref];
  while (queue.length) {
    const r = queue.shift()!;
    const pr = parseRef(r);
    let ret: LockedRet | undefined;
    for (const candidate of fresh.values()) if (candidate.name === pr.name && satisfies(candidate.version, pr.range)) ret = candidate;
    if (!ret) {
      const found = await findRet(home, pr);
      ret = await loadRet(home, found.name, found.version);
    }
    const id = `${ret.name}@${ret.version}`;
    if (seen.has(id)) continue;
    seen.add(id);
    addToPlan(plan, ret);
    queue.push(...(ret.libs ?? []), ...(ret.requires ?? []));
  }
}

