// Works out, without running anything, which shared objects glibc's ld.so would map for a set of
// ELF objects: the DT_NEEDED closure plus the PT_INTERP loader, each at the path ld.so would find.
//
// The search follows glibc's _dl_map_object for a name without '/':
//   1. DT_RPATH of the requesting object, then of the objects that loaded it up to the root —
//      only when the requesting object has no DT_RUNPATH (an object with DT_RUNPATH also
//      contributes no DT_RPATH to the chain);
//   2. DT_RUNPATH of the requesting object (never inherited);
//   3. the ld.so.conf directories, standing in for /etc/ld.so.cache (which ldconfig builds from them);
//   4. the trusted default directories for the object's machine and class.
// LD_LIBRARY_PATH, glibc-hwcaps/tls/platform subdirectories and secure (setuid) mode are not
// modelled: Reg controls the environment of the containers it builds.
// Before searching, a name is matched against what is already loaded (by requested name and by
// DT_SONAME), and a file found under a second name is the same object (ld.so compares inodes; we
// compare real paths), as in one process. Each root object is its own process: its closure is
// resolved with its own loaded set and loader chain, then all are merged by real path.
//
// Everything can be resolved under a root other than '/' (a template being built, a test tree):
// files are looked up as <root>/<dir>/<name>, but every reported path is the container path, and
// absolute symlinks are followed inside the root, never out to the host.

import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { posix, resolve as resolveHostPath } from 'node:path';
import { RegError } from '../errors.js';
import { readElf, type ElfObject } from './elf.js';

export interface LoaderConfig {
  /** Absolute host path of the filesystem root the loader sees ('/' for the host itself). */
  root: string;
  /** Directories from <root>/etc/ld.so.conf and its includes, in file order, deduplicated. */
  confDirs: string[];
}

export interface ResolvedLibrary {
  /** The DT_NEEDED name as requested; for a name containing '/', the absolute path it resolved to. */
  soname: string;
  /** Where the loader finds it, e.g. /lib/x86_64-linux-gnu/libc.so.6 (a container path). */
  path: string;
  /** `path` with every symlink resolved (inside the root). */
  realPath: string;
  /** Parsed from realPath; `object.path` is realPath. */
  object: ElfObject;
  /** Paths of the objects that need it (root objects as given, libraries by their `path`). */
  neededBy: string[];
}

export interface DependencyClosure {
  /** PT_INTERP of the first root object that has one, as written there. */
  interpreter?: string;
  /** Deduplicated by realPath; breadth-first in DT_NEEDED order, loaders (PT_INTERP) last. */
  libraries: ResolvedLibrary[];
}

const MAX_SYMLINKS = 40; // Linux's MAXSYMLINKS

/**
 * What glibc opens at run time with dlopen, which no DT_NEEDED shows: libgcc_s.so.1, for the
 * unwinding that pthread_exit and thread cancellation need (without it they abort the process:
 * "libgcc_s.so.1 must be installed for pthread_exit to work"). Added to any closure holding
 * glibc's libc.so.6, when the host has it. Not listed, on purpose: the NSS modules for `files`
 * and `dns` (built into libc since glibc 2.34; the rootfs nsswitch.conf uses only those) and
 * gconv modules (iconv(3); python decodes with its own codecs, node with ICU).
 */
export const GLIBC_DLOPENED = ['libgcc_s.so.1'];

// ---------------------------------------------------------------------------------------------
// ld.so.conf

/**
 * Reads <root>/etc/ld.so.conf the way ldconfig does: '#' starts a comment, `include` takes
 * whitespace-separated glob patterns (relative ones are relative to the including file's
 * directory, matches are read in sorted order), `hwcap` lines are ignored, an old-style `=type`
 * suffix is dropped. Relative directory lines are skipped (ldconfig would resolve them against
 * its cwd). A missing file yields no directories.
 */
export async function readLoaderConfig(root = '/'): Promise<LoaderConfig> {
  const absRoot = resolveHostPath(root);
  const dirs: string[] = [];
  await parseConfFile(absRoot, '/etc/ld.so.conf', dirs, new Set());
  return { root: absRoot, confDirs: unique(dirs) };
}

async function parseConfFile(root: string, file: string, dirs: string[], visited: Set<string>): Promise<void> {
  let text: string;
  try {
    const real = await realpathInRoot(root, file);
    if (visited.has(real)) return; // an include cycle would otherwise never end
    visited.add(real);
    text = await readFile(hostPath(root, real), 'utf8');
  } catch (e) {
    if (isMissing(e) || errnoOf(e) === 'EISDIR') return;
    throw e;
  }
  for (const raw of text.split('\n')) {
    const line = (raw.split('#', 1)[0] ?? '').trim();
    if (line === '') continue;
    const include = /^include[ \t]+(.*)$/.exec(line);
    if (include) {
      for (const pattern of (include[1] ?? '').split(/[ \t]+/).filter((p) => p !== '')) {
        const absPattern = pattern.startsWith('/') ? pattern : posix.join(posix.dirname(file), pattern);
        for (const match of await globInRoot(root, absPattern)) await parseConfFile(root, match, dirs, visited);
      }
      continue;
    }
    if (/^hwcap[ \t]/i.test(line)) continue;
    const dir = (line.split('=', 1)[0] ?? '').trim();
    if (dir.startsWith('/')) dirs.push(normalizeDir(dir));
  }
}

/** glob(3) for absolute patterns inside root: *, ? and [...] per segment, no dotfiles for a wildcard. */
async function globInRoot(root: string, pattern: string): Promise<string[]> {
  let current = ['/'];
  for (const segment of pattern.split('/').filter((s) => s !== '')) {
    const next: string[] = [];
    if (!/[*?[]/.test(segment)) {
      for (const dir of current) next.push(posix.join(dir, segment));
    } else {
      const re = globSegmentRegExp(segment);
      for (const dir of current) {
        let names: string[];
        try {
          names = await readdir(hostPath(root, await realpathInRoot(root, dir)));
        } catch {
          continue;
        }
        for (const name of names) {
          if (name.startsWith('.') && !segment.startsWith('.')) continue;
          if (re.test(name)) next.push(posix.join(dir, name));
        }
      }
    }
    current = next;
  }
  const existing: string[] = [];
  for (const p of current) {
    try {
      await realpathInRoot(root, p);
      existing.push(p);
    } catch {
      // glob only returns what exists
    }
  }
  return existing.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function globSegmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

// ---------------------------------------------------------------------------------------------
// Per-machine knowledge

interface MachineInfo {
  triplets: string[];
  /** AT_PLATFORM as the kernel reports it, for $PLATFORM; undefined where the kernel sets none. */
  platform?: string;
  /** Extra class-specific directories searched before /lib, /usr/lib. */
  extraDirs: string[];
}

function machineInfo(obj: Pick<ElfObject, 'machine' | 'elfClass' | 'endian'>): MachineInfo {
  const lib64 = ['/lib64', '/usr/lib64'];
  switch (`${obj.machine}/${obj.elfClass}`) {
    case '62/64':
      return { triplets: ['x86_64-linux-gnu'], platform: 'x86_64', extraDirs: lib64 };
    case '62/32': // x32
      return { triplets: ['x86_64-linux-gnux32'], platform: 'x86_64', extraDirs: ['/libx32', '/usr/libx32'] };
    case '3/32':
      return { triplets: ['i386-linux-gnu'], platform: 'i686', extraDirs: ['/lib32', '/usr/lib32'] };
    case '183/64':
      return { triplets: ['aarch64-linux-gnu'], platform: 'aarch64', extraDirs: lib64 };
    case '40/32':
      // Hard- vs soft-float is in e_flags, which the class/machine check does not look at.
      return { triplets: ['arm-linux-gnueabihf', 'arm-linux-gnueabi'], platform: 'v7l', extraDirs: [] };
    case '243/64':
      return { triplets: ['riscv64-linux-gnu'], extraDirs: ['/lib64/lp64d', '/usr/lib64/lp64d', ...lib64] };
    case '21/64':
      return {
        triplets: [obj.endian === 'le' ? 'powerpc64le-linux-gnu' : 'powerpc64-linux-gnu'],
        extraDirs: lib64,
      };
    case '22/64':
      return { triplets: ['s390x-linux-gnu'], platform: 's390x', extraDirs: lib64 };
    default:
      return { triplets: [], extraDirs: obj.elfClass === 64 ? lib64 : [] };
  }
}

/**
 * glibc's trusted directories for an object's machine and class, covering both multiarch
 * (Debian/Ubuntu: /lib/<triplet>) and lib64 (Fedora/Arch) layouts; a directory that does not exist
 * simply yields nothing.
 */
export function defaultLibraryDirs(obj: ElfObject): string[] {
  const info = machineInfo(obj);
  return unique([
    ...info.triplets.flatMap((t) => [`/lib/${t}`, `/usr/lib/${t}`]),
    ...info.extraDirs,
    '/lib',
    '/usr/lib',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Closure

interface LoadedObject {
  /** Container path the loader found it at. */
  path: string;
  realPath: string;
  object: ElfObject;
  /** $ORIGIN: the directory of the path as found (of the real path for an executable). */
  origin: string;
  /** The object whose DT_NEEDED first brought it in; undefined for a root object. */
  loader: LoadedObject | undefined;
}

/** What one process has loaded: names (requested and DT_SONAME) and real paths. */
interface Namespace {
  byName: Map<string, LoadedObject>;
  byRealPath: Map<string, LoadedObject>;
}

/**
 * The closure of `objects` (container paths; under config.root when it is not '/'). A name
 * containing '/' is taken as a path relative to the requesting object's directory — ld.so would use
 * its cwd, which means nothing for a static reading.
 */
export async function resolveDependencies(objects: string[], config: LoaderConfig, opts: { runtimeDlopens?: boolean } = {}): Promise<DependencyClosure> {
  return new ClosureResolver(config, opts.runtimeDlopens ?? false).run(objects);
}

class ClosureResolver {
  private readonly root: string;
  private readonly libraries = new Map<string, ResolvedLibrary>();
  private readonly interpreters = new Set<string>();
  private readonly elfCache = new Map<string, Promise<ElfObject>>();
  private readonly libTokenCache = new Map<string, Promise<string>>();
  private readonly rootPaths = new Map<string, string>(); // realPath → path as given

  constructor(
    private readonly config: LoaderConfig,
    /** Also what glibc dlopens at run time (GLIBC_DLOPENED), beyond what ld.so loads at start. */
    private readonly runtimeDlopens = false,
  ) {
    this.root = resolveHostPath(config.root);
  }

  async run(objects: string[]): Promise<DependencyClosure> {
    const closure: DependencyClosure = { libraries: [] };
    for (const given of objects) {
      const path = this.root === '/' ? resolveHostPath(given) : posix.resolve('/', given);
      const realPath = await this.realpathOrThrow(path, () => new RegError('FILE_NOT_FOUND', `${path} does not exist`, {
        file: path,
        hint: 'name an installed executable or shared library',
      }));
      const object = await this.parse(realPath);
      this.rootPaths.set(realPath, path);
      // The kernel hands ld.so the executable through /proc/self/exe, i.e. its real path.
      const origin = posix.dirname(object.interpreter !== undefined ? realPath : path);
      const node: LoadedObject = { path, realPath, object, origin, loader: undefined };
      const ns: Namespace = { byName: new Map(), byRealPath: new Map([[realPath, node]]) };
      if (object.soname !== undefined) ns.byName.set(object.soname, node);

      if (object.interpreter !== undefined) {
        closure.interpreter ??= object.interpreter;
        await this.loadInterpreter(ns, node, object.interpreter);
      }
      // Breadth-first, like _dl_map_object_deps: all of an object's DT_NEEDED before theirs.
      const queue = [node];
      const drain = async () => {
        for (let current = queue.shift(); current; current = queue.shift()) {
          for (const name of current.object.needed) {
            const { loaded, isNew } = await this.loadNeeded(ns, current, name);
            if (isNew) queue.push(loaded);
          }
        }
      };
      await drain();
      // glibc's run-time dlopens, searched as libc would search them (optional: a host without
      // libgcc_s simply lacks it, as that host itself does).
      const libc = this.runtimeDlopens ? ns.byName.get('libc.so.6') : undefined;
      if (libc) {
        for (const name of GLIBC_DLOPENED) {
          const got = await this.loadNeeded(ns, libc, name).catch(() => undefined);
          if (got?.isNew) {
            queue.push(got.loaded);
            await drain();
          }
        }
      }
    }
    const all = [...this.libraries.values()];
    closure.libraries = [
      ...all.filter((l) => !this.interpreters.has(l.realPath)),
      ...all.filter((l) => this.interpreters.has(l.realPath)),
    ];
    return closure;
  }

  private async loadInterpreter(ns: Namespace, requester: LoadedObject, interp: string): Promise<void> {
    const path = posix.resolve('/', interp);
    const realPath = await this.realpathOrThrow(path, () => new RegError(
      'LIBRARY_NOT_FOUND',
      `the program interpreter ${interp} of ${requester.path} does not exist`,
      {
        file: requester.path,
        field: 'PT_INTERP',
        hint: `install the C library (loader) that provides ${interp}, or use a runtime built for this system`,
      },
    ));
    let loaded = ns.byRealPath.get(realPath);
    if (!loaded) {
      const object = await this.parse(realPath);
      loaded = { path, realPath, object, origin: posix.dirname(path), loader: requester };
      ns.byRealPath.set(realPath, loaded);
      // ld.so's own DT_NEEDED (normally none) is not processed: it is mapped by the kernel.
    }
    this.interpreters.add(realPath);
    for (const name of [path, posix.basename(path), loaded.object.soname]) {
      if (name !== undefined && !ns.byName.has(name)) ns.byName.set(name, loaded);
    }
    this.record(loaded, requester, posix.basename(path));
    // The kernel opens exactly the PT_INTERP path, so that is the path the template must provide,
    // even when another root reached the same file through DT_NEEDED under another directory.
    const lib = this.libraries.get(realPath);
    if (lib) Object.assign(lib, { path, soname: posix.basename(path) });
  }

  private async loadNeeded(
    ns: Namespace,
    requester: LoadedObject,
    name: string,
  ): Promise<{ loaded: LoadedObject; isNew: boolean }> {
    const isPath = name.includes('/');
    const key = !isPath || name.startsWith('/') ? name : `${requester.origin}/${name}`;
    let loaded = ns.byName.get(key);
    let isNew = false;
    if (!loaded) {
      const found = isPath
        ? await this.openByPath(requester, name, key)
        : await this.search(requester, name);
      loaded = ns.byRealPath.get(found.realPath);
      if (!loaded) {
        loaded = { ...found, loader: requester };
        ns.byRealPath.set(found.realPath, loaded);
        isNew = true;
      }
      ns.byName.set(key, loaded);
      const soname = loaded.object.soname;
      if (soname !== undefined && !ns.byName.has(soname)) ns.byName.set(soname, loaded);
    }
    this.record(loaded, requester, isPath ? loaded.path : name);
    return { loaded, isNew };
  }

  private async openByPath(requester: LoadedObject, name: string, path: string): Promise<Omit<LoadedObject, 'loader'>> {
    const realPath = await this.realpathOrThrow(path, () => new RegError(
      'LIBRARY_NOT_FOUND',
      `${name}, needed by ${requester.path}, does not exist (looked at ${path})`,
      { file: requester.path, field: 'DT_NEEDED', hint: `install the file ${path} or relink ${requester.path}` },
    ));
    const object = await this.parse(realPath);
    if (!compatible(requester.object, object)) {
      throw new RegError(
        'LIBRARY_NOT_FOUND',
        `${name}, needed by ${requester.path}, is ${describe(object)} but ${requester.path} is ${describe(requester.object)}`,
        { file: requester.path, field: 'DT_NEEDED', hint: `install the ${describe(requester.object)} build of ${name}` },
      );
    }
    return { path: await this.tidy(path, realPath), realPath, object, origin: posix.dirname(path) };
  }

  private async search(requester: LoadedObject, name: string): Promise<Omit<LoadedObject, 'loader'>> {
    const dirs = unique(await this.searchDirs(requester));
    const skipped: string[] = [];
    for (const dir of dirs) {
      const path = posix.join(dir, name);
      let realPath: string;
      try {
        realPath = await this.realpath(path);
        if (!(await stat(hostPath(this.root, realPath))).isFile()) continue;
      } catch (e) {
        if (isMissing(e)) continue;
        throw e;
      }
      // Like ld.so, a file that is not ELF at all is an error, not something to search past.
      const object = await this.parse(realPath);
      if (!compatible(requester.object, object)) {
        skipped.push(`${path} (${describe(object)})`);
        continue;
      }
      return { path: await this.tidy(path, realPath), realPath, object, origin: posix.dirname(path) };
    }
    const skippedNote = skipped.length > 0 ? `; skipped incompatible ${skipped.join(', ')}` : '';
    throw new RegError(
      'LIBRARY_NOT_FOUND',
      `${name}, needed by ${requester.path}, was not found; searched ${dirs.join(', ')}${skippedNote}`,
      {
        file: requester.path,
        field: 'DT_NEEDED',
        hint:
          `install the package that provides ${name} (${describe(requester.object)}), or give ` +
          `${requester.path} a DT_RUNPATH to the directory holding it (-Wl,-rpath,'$ORIGIN/../lib')`,
      },
    );
  }

  /**
   * ld.so reports a path such as <origin>/../lib/libx.so literally. We collapse '.' and '..' when
   * that names the same file (it does not when a directory on the way is a symlink), so templates
   * get clean container paths without changing what the loader opens.
   */
  private async tidy(path: string, realPath: string): Promise<string> {
    const normalized = posix.normalize(path);
    if (normalized === path) return path;
    try {
      return (await this.realpath(normalized)) === realPath ? normalized : path;
    } catch {
      return path;
    }
  }

  private async searchDirs(requester: LoadedObject): Promise<string[]> {
    const dirs: string[] = [];
    if (requester.object.runpath.length === 0) {
      for (let l: LoadedObject | undefined = requester; l; l = l.loader) {
        if (l.object.runpath.length === 0) dirs.push(...(await this.expand(l, l.object.rpath)));
      }
    }
    dirs.push(...(await this.expand(requester, requester.object.runpath)));
    dirs.push(...this.config.confDirs);
    dirs.push(...defaultLibraryDirs(requester.object));
    return dirs;
  }

  /**
   * Expands $ORIGIN, $LIB and $PLATFORM (and their ${...} forms). As in ld.so, an element with a
   * token that cannot be expanded is dropped; so is one that is not absolute afterwards (it would
   * be relative to the process's cwd).
   */
  private async expand(l: LoadedObject, list: string[]): Promise<string[]> {
    const info = machineInfo(l.object);
    const lib = await this.libToken(l.object);
    const out: string[] = [];
    for (const element of list) {
      let ok = true;
      const expanded = element.replace(
        /\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))/g,
        (_m, braced: string | undefined, bare: string | undefined) => {
          const token = braced ?? bare;
          if (token === 'ORIGIN') return l.origin;
          if (token === 'LIB') return lib;
          if (info.platform === undefined) ok = false;
          return info.platform ?? '';
        },
      );
      if (ok && expanded.startsWith('/')) out.push(stripTrailingSlash(expanded));
    }
    return out;
  }

  /**
   * $LIB is glibc's library directory name: Debian/Ubuntu build ld.so with lib/<triplet>, others
   * with lib64 or lib by class. We tell them apart by whether the multiarch directory exists.
   */
  private libToken(obj: ElfObject): Promise<string> {
    const key = `${obj.machine}/${obj.elfClass}/${obj.endian}`;
    let token = this.libTokenCache.get(key);
    if (!token) {
      token = (async () => {
        for (const t of machineInfo(obj).triplets) {
          for (const dir of [`/usr/lib/${t}`, `/lib/${t}`]) {
            try {
              if ((await stat(hostPath(this.root, await this.realpath(dir)))).isDirectory()) return `lib/${t}`;
            } catch {
              // not a multiarch system for this triplet
            }
          }
        }
        return obj.elfClass === 64 ? 'lib64' : 'lib';
      })();
      this.libTokenCache.set(key, token);
    }
    return token;
  }

  private record(loaded: LoadedObject, requester: LoadedObject, requestedAs: string): void {
    let lib = this.libraries.get(loaded.realPath);
    if (!lib) {
      lib = { soname: requestedAs, path: loaded.path, realPath: loaded.realPath, object: loaded.object, neededBy: [] };
      this.libraries.set(loaded.realPath, lib);
    }
    const by =
      this.rootPaths.get(requester.realPath) ?? this.libraries.get(requester.realPath)?.path ?? requester.path;
    if (!lib.neededBy.includes(by)) lib.neededBy.push(by);
  }

  /** Parses a container real path once; `object.path` is the container path, not the host one. */
  private parse(realPath: string): Promise<ElfObject> {
    let parsed = this.elfCache.get(realPath);
    if (!parsed) {
      parsed = readElf(hostPath(this.root, realPath)).then((o) => ({ ...o, path: realPath }));
      this.elfCache.set(realPath, parsed);
    }
    return parsed;
  }

  private realpath(path: string): Promise<string> {
    return realpathInRoot(this.root, path);
  }

  private async realpathOrThrow(path: string, missing: () => RegError): Promise<string> {
    try {
      return await this.realpath(path);
    } catch (e) {
      if (isMissing(e)) throw missing();
      throw e;
    }
  }
}

/** ld.so skips candidates of another class or machine and keeps searching. */
function compatible(requester: ElfObject, candidate: ElfObject): boolean {
  return (
    candidate.elfClass === requester.elfClass &&
    candidate.machine === requester.machine &&
    candidate.endian === requester.endian
  );
}

function describe(obj: ElfObject): string {
  return `ELF${obj.elfClass} ${obj.endian === 'le' ? 'LSB' : 'MSB'} e_machine ${obj.machine}`;
}

// ---------------------------------------------------------------------------------------------
// Paths inside a root

function hostPath(root: string, containerPath: string): string {
  return root === '/' ? containerPath : posix.join(root, containerPath);
}

/**
 * realpath(3) as seen from inside `root`: absolute symlink targets restart at root and '..' stops
 * there, so a tree under construction never resolves into the host. Returns a container path.
 */
async function realpathInRoot(root: string, containerPath: string): Promise<string> {
  if (root === '/') return realpath(containerPath);
  const pending = containerPath.split('/').filter((c) => c !== '').reverse();
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const component = pending.pop() as string;
    if (component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const here = posix.join(root, ...resolved, component);
    const st = await lstat(here); // ENOENT / ENOTDIR propagate: the path does not exist
    if (!st.isSymbolicLink()) {
      resolved.push(component);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw Object.assign(new Error(`too many levels of symbolic links resolving ${containerPath}`), { code: 'ELOOP' });
    }
    const target = await readlink(here);
    if (target.startsWith('/')) resolved.length = 0;
    pending.push(...target.split('/').filter((c) => c !== '').reverse());
  }
  return '/' + resolved.join('/');
}

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(e: unknown): boolean {
  const errno = errnoOf(e);
  return errno === 'ENOENT' || errno === 'ENOTDIR' || errno === 'ELOOP';
}

function normalizeDir(dir: string): string {
  const n = posix.normalize(dir);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function stripTrailingSlash(dir: string): string {
  const n = dir.replace(/\/+$/, '');
  return n === '' ? '/' : n;
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
