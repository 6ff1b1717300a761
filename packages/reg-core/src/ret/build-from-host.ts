// Building RETs from a runtime installed on the host (`reg ret build --from-host /usr/bin/python3.11`).
// The target is never executed: its dependencies come from reading ELF files (PT_INTERP,
// DT_NEEDED, RPATH/RUNPATH, the loader's search path), its run-time files from what the runtime is
// known to load (python's stdlib and lib-dynload, node's npm), and its data from the packages that
// provide CA certificates and time zones. Shared libraries are split into library RETs
// (libc@6, libz@1.2.13, ...) that python and node both require, so libc is stored once.
//
// Nothing is written until everything has been read and validated; then blobs, then RET documents
// (libraries before the runtimes that require them), then layer trees. Any failure takes back what
// this build created, so the store is left exactly as it was.

import { createReadStream } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, realpath, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { ensureLayer, layerName } from '../resolve/materialise.js';
import { BlobWriter } from '../store/put.js';
import { relinkLayers } from '../store/relink-layers.js';
import { type Collected, HostCollector } from './collect.js';
import { isElfFile, readElf, type ElfObject } from './elf.js';
import { dpkgOwner, dpkgVersion } from './host-packages.js';
import { mayLinkHostFile, storeLinkModeFromEnv, type StoreLinkMode } from './host-import.js';
import { GLIBC_DLOPENED, readLoaderConfig, resolveDependencies, type ResolvedLibrary } from './loader-search.js';
import { lockId } from './parse.js';
import { bumpRetGeneration, loadRet, metaOf, saveRet, type RetMeta } from './repository.js';
import { modeToString, RetSchema, type LockEntry, type LockedRet } from './schema.js';
import { isValidVersion } from './version.js';

export interface HostBuildOptions {
  /** Override the runtime RET's name (default: derived from the binary, e.g. python, node). */
  name?: string;
  /** Override its version (default: the owning Debian package's, else read from the binary). */
  version?: string;
  /** Called with one line per step, for progress output. */
  log?: (line: string) => void;
  /** Link host files into the store where possible (default: REG_STORE_LINK, else `auto`; see host-import.ts). */
  link?: StoreLinkMode;
}

export interface BuiltRet {
  name: string;
  version: string;
  kind: LockedRet['kind'];
  files: number;
  bytes: number;
  /** 'new', 'updated' (same name@version, new content) or 'unchanged'. */
  status: 'new' | 'updated' | 'unchanged';
}

export interface HostBuildReport {
  runtime: { name: string; version: string };
  rets: BuiltRet[];
  newBlobs: number;
  newBytes: number;
  /** Files stored as the host's own inodes (linked, not copied): now or by an earlier build. */
  linkedFiles?: number;
}

interface Draft {
  ret: Omit<LockedRet, 'lock'>;
  entries: Map<string, Collected | { kind: 'generated'; content: string; mode: number }>;
}

interface RuntimeProfile {
  name: string;
  /** The runtime's own files besides the binary: a name for the paper's `files` map → host path. */
  extras: Array<[string, string]>;
  exclude: (hostPath: string) => boolean;
  dataRets: Array<'ca-certificates' | 'tzdata'>;
  env: Record<string, string>;
  versionFromBinary?: RegExp;
}

function profileFor(binary: string, real: string): RuntimeProfile {
  const base = basename(real);
  const py = /^python(\d+)\.(\d+)$/.exec(base);
  if (py) {
    const stdlib = join(dirname(dirname(real)), 'lib', `python${py[1]}.${py[2]}`);
    return {
      name: 'python',
      extras: [['stdlib', stdlib]],
      // Build-time only: headers, the static libpython and its Makefile (python3-dev's business).
      exclude: (p) => /\/config-\d+\.\d+[^/]*$/.test(p) && p.startsWith(stdlib),
      dataRets: ['ca-certificates', 'tzdata'],
      env: { LANG: 'C.UTF-8', PYTHONDONTWRITEBYTECODE: '1' },
    };
  }
  if (base === 'node' || base === 'nodejs') {
    const modules = join(dirname(dirname(real)), 'lib', 'node_modules');
    return {
      name: 'node',
      extras: [['npm', join(modules, 'npm')], ['npm-cli', join(dirname(binary), 'npm')], ['npx-cli', join(dirname(binary), 'npx')]],
      exclude: () => false,
      dataRets: ['ca-certificates'],
      env: { LANG: 'C.UTF-8' },
      versionFromBinary: /download\/release\/v(\d+\.\d+\.\d+)\//,
    };
  }
  return { name: base.toLowerCase().replace(/[^a-z0-9._+-]/g, '-'), extras: [], exclude: () => false, dataRets: [], env: {} };
}

/** Scans a binary for a version string without executing it (bounded: first match wins). */
async function versionInBinary(path: string, re: RegExp): Promise<string | undefined> {
  let carry = '';
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    const text = carry + (chunk as Buffer).toString('latin1');
    const m = re.exec(text);
    if (m) return m[1];
    carry = text.slice(-256);
  }
  return undefined;
}

/** Interpreters named by `#!` lines of the executable scripts collected (e.g. /usr/bin/env). */
async function shebangInterpreters(c: HostCollector): Promise<string[]> {
  const found = new Set<string>();
  const buf = Buffer.alloc(256);
  for (const e of c.entries.values()) {
    if (e.kind !== 'file' || (e.mode & 0o111) === 0 || e.size < 4) continue;
    const fh = await open(e.hostPath, 'r');
    try {
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const first = buf.subarray(0, bytesRead).toString('latin1').split('\n')[0]!;
      const m = /^#!\s*(\/\S+)/.exec(first);
      if (m && !c.entries.has(m[1]!.slice(1))) found.add(m[1]!);
    } finally {
      await fh.close();
    }
  }
  return [...found].sort();
}

/** libz.so.1 (real file libz.so.1.2.13) → libz@1.2.13, required as libz@1. */
export function libraryIdentity(soname: string, realName: string): { name: string; version: string; range: string } {
  let stem = soname;
  let sover = '';
  const m = /^(.+?)\.so(?:\.(\d[0-9A-Za-z.]*))?$/.exec(soname);
  if (m) {
    stem = m[1]!;
    sover = m[2] ?? '';
  }
  if (!sover) {
    const dashed = /^(.+)-(\d+(?:\.\d+)*)$/.exec(stem); // libdb-5.3.so
    if (dashed) {
      stem = dashed[1]!;
      sover = dashed[2]!;
    }
  }
  const range = sover || '0';
  let version = range;
  if (sover && realName.startsWith(`${soname}.`)) {
    const rest = realName.slice(soname.length + 1);
    if (/^\d[0-9.]*$/.test(rest)) version = `${sover}.${rest}`;
  }
  const name = stem.toLowerCase().replace(/[^a-z0-9._+-]/g, '-');
  return { name, version: isValidVersion(version) ? version : range, range };
}

function rootfsDraft(topLinks: Map<string, string>): Draft {
  const entries: Draft['entries'] = new Map();
  for (const [name, target] of topLinks) entries.set(name, { kind: 'link', target });
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'run', 'work', 'root', 'home', 'etc', 'var/tmp', 'usr/bin', 'usr/lib', 'usr/local/bin']) {
    // tmp and var/tmp are only mount points: the launcher mounts a private tmpfs (1777) on each
    // inside the container. A 1777 directory in the shared layer tree would let any local user
    // plant a file that appears in every new container.
    entries.set(d, { kind: 'dir', mode: 0o755 });
  }
  const gen = (content: string) => ({ kind: 'generated' as const, content, mode: 0o644 });
  entries.set('etc/passwd', gen('root:x:0:0:root:/root:/bin/sh\nstudent:x:1000:1000:student:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'));
  entries.set('etc/group', gen('root:x:0:\nstudent:x:1000:\nnogroup:x:65534:\n'));
  entries.set('etc/hosts', gen('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'));
  entries.set('etc/nsswitch.conf', gen('passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n'));
  return { ret: { name: 'rootfs', version: '1', kind: 'base', description: 'The skeleton every container starts from: top-level directories, usrmerge links, passwd' }, entries };
}

async function topLevelLinks(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    try {
      if ((await lstat(`/${name}`)).isSymbolicLink()) out.set(name, await readlink(`/${name}`));
    } catch {
      // absent on this host
    }
  }
  return out;
}

async function dataDraft(kind: 'ca-certificates' | 'tzdata'): Promise<Draft | undefined> {
  const c = new HostCollector({ exclude: (p) => p === '/etc/ssl/private' || p === '/usr/lib/ssl/private' });
  if (kind === 'tzdata') {
    if (!(await stat('/usr/share/zoneinfo').catch(() => undefined))) return undefined;
    await c.add('/usr/share/zoneinfo');
    const zi = await readFile('/usr/share/zoneinfo/tzdata.zi', 'utf8').catch(() => '');
    const version = /^# version (\S+)/.exec(zi)?.[1] ?? (await dpkgVersion('tzdata')) ?? '0';
    return { ret: { name: 'tzdata', version: isValidVersion(version) ? version : '0', kind: 'data', description: 'IANA time zone database' }, entries: c.entries };
  }
  if (!(await stat('/etc/ssl/certs').catch(() => undefined))) return undefined;
  for (const p of ['/etc/ssl/certs', '/usr/share/ca-certificates', '/etc/ssl/openssl.cnf', '/usr/lib/ssl/cert.pem', '/usr/lib/ssl/certs', '/usr/lib/ssl/openssl.cnf']) {
    await c.add(p, false);
  }
  const v = (await dpkgVersion('ca-certificates')) ?? '1';
  return { ret: { name: 'ca-certificates', version: isValidVersion(v) ? v : '1', kind: 'data', description: 'CA certificates and the OpenSSL configuration' }, entries: c.entries };
}

export async function buildFromHost(home: RegHome, binary: string, opts: HostBuildOptions = {}): Promise<HostBuildReport> {
  const log = opts.log ?? (() => {});
  const linkMode = opts.link ?? storeLinkModeFromEnv();
  const st = await stat(binary).catch(() => undefined);
  if (!st) throw new RegError('FILE_NOT_FOUND', `${binary} does not exist`, { file: binary, field: '--from-host', hint: 'give the path of an installed runtime, e.g. /usr/bin/python3.11' });
  if (!st.isFile()) throw new RegError('NOT_ELF', `${binary} is not a regular file`, { file: binary, field: '--from-host' });
  if (!(await isElfFile(binary))) {
    throw new RegError('NOT_ELF', `${binary} is not an ELF executable`, { file: binary, field: '--from-host', hint: 'give the runtime binary itself (e.g. /usr/bin/python3.11), not a script or wrapper' });
  }
  const real = await realpath(binary);
  const profile = profileFor(binary, real);
  const name = opts.name ?? profile.name;

  // 1. The runtime's own files: the binary, the links beside it that point at it, the profile's extras.
  const runtime = new HostCollector({ exclude: profile.exclude });
  await runtime.add(real);
  const binDir = dirname(binary);
  for (const entry of await readdir(binDir)) {
    const p = join(binDir, entry);
    const target = await realpath(p).catch(() => undefined);
    if (target === real && p !== real) await runtime.add(p);
  }
  // python without its stdlib cannot start: that one is required; node without npm still runs.
  for (const [key, extra] of profile.extras) await runtime.add(extra, key === 'stdlib');
  // Scripts the runtime ships (npm's `#!/usr/bin/env node`) need their interpreter inside too.
  for (const interp of await shebangInterpreters(runtime)) await runtime.add(interp, false);
  // Debian's site.py puts /usr/lib/python3/dist-packages on sys.path only if it exists when the
  // interpreter starts: an empty one lets a package inserted later (reg install ID python3-numpy)
  // be imported by an interpreter that is already running.
  if (profile.name === 'python') runtime.entries.set('usr/lib/python3/dist-packages', { kind: 'dir', mode: 0o755 });
  log(`collected ${runtime.entries.size} runtime entries for ${name}`);

  // 2. Its ELF dependency closure, read statically.
  const elfFiles: string[] = [];
  for (const e of runtime.entries.values()) if (e.kind === 'file' && (await isElfFile(e.hostPath))) elfFiles.push(e.hostPath);
  const config = await readLoaderConfig('/');
  const closure = await resolveDependencies(elfFiles, config, { runtimeDlopens: true });
  const interpreterReal = closure.interpreter ? await realpath(closure.interpreter).catch(() => undefined) : undefined;
  log(`${elfFiles.length} ELF objects need ${closure.libraries.length} shared libraries`);

  // 3. One library RET per shared library (unless the runtime ships it in its own tree).
  const libDrafts = new Map<string, Draft>();
  const refBySoname = new Map<string, string>();
  const libByReal = new Map<string, { lib: ResolvedLibrary; id: ReturnType<typeof libraryIdentity> }>();
  for (const lib of closure.libraries) {
    const inRuntime = runtime.entries.has(await runtime.treePath(lib.realPath).catch(() => ''));
    if (inRuntime) continue;
    const id = libraryIdentity(lib.object.soname ?? basename(lib.path), basename(lib.realPath));
    libByReal.set(lib.realPath, { lib, id });
    refBySoname.set(lib.soname, `${id.name}@${id.range}`);
    if (lib.object.soname) refBySoname.set(lib.object.soname, `${id.name}@${id.range}`);
  }
  for (const { lib, id } of libByReal.values()) {
    const key = `${id.name}@${id.version}`;
    const c = new HostCollector();
    await c.add(lib.path);
    await c.add(lib.realPath);
    if (interpreterReal === lib.realPath && closure.interpreter) await c.add(closure.interpreter);
    const prev = libDrafts.get(key);
    if (prev) {
      throw new RegError('PATH_CONFLICT', `two different libraries would both be ${key}: ${lib.realPath} and another copy`, {
        file: lib.realPath,
        hint: 'remove the duplicate library from the loader path, or build with a different host',
      });
    }
    const requires = [...new Set(lib.object.needed.map((n) => refBySoname.get(n)).filter((r): r is string => r !== undefined && r !== `${id.name}@${id.range}`))];
    libDrafts.set(key, {
      ret: { name: id.name, version: id.version, kind: 'library', description: `shared library ${lib.object.soname ?? basename(lib.path)}`, ...(requires.length && { requires }) },
      entries: c.entries,
    });
  }

  // 4. Data the runtime reads at run time, and the root skeleton.
  const drafts: Draft[] = [...libDrafts.values()];
  const requires: string[] = [];
  for (const kind of profile.dataRets) {
    const d = await dataDraft(kind);
    if (d) {
      drafts.push(d);
      requires.push(`${d.ret.name}@${d.ret.version}`);
    }
  }
  const rootfs = rootfsDraft(await topLevelLinks());
  drafts.push(rootfs);
  requires.unshift('rootfs@1');

  // 5. The runtime RET itself: the paper's `files` and `libs`, plus requires, env, command.
  let version = opts.version;
  if (!version) {
    const pkg = await dpkgOwner(real);
    version = pkg ? await dpkgVersion(pkg) : undefined;
    if (!version && profile.versionFromBinary) version = await versionInBinary(real, profile.versionFromBinary);
    version ??= /(\d+(?:\.\d+)*)$/.exec(basename(real))?.[1] ?? '0';
    if (!isValidVersion(version)) version = /^(\d+(?:\.\d+)*)/.exec(version)?.[1] ?? '0';
  }
  const direct = new Set<string>();
  for (const f of elfFiles) {
    const obj: ElfObject = await readElf(f);
    for (const n of obj.needed) {
      const r = refBySoname.get(n);
      if (r) direct.add(r);
    }
  }
  // What glibc dlopens at run time (libgcc_s) is required by the runtime itself: libc cannot
  // require it (libgcc_s needs libc: a cycle), and nothing else names it.
  for (const s of GLIBC_DLOPENED) {
    const r = refBySoname.get(s);
    if (r) direct.add(r);
  }
  if (closure.interpreter) {
    const ld = [...libByReal.values()].find((x) => x.lib.realPath === interpreterReal);
    if (ld) direct.add(`${ld.id.name}@${ld.id.range}`);
  }
  const binPath = '/' + (await runtime.treePath(binary));
  const files: Record<string, string> = { [basename(binary)]: binPath };
  for (const [key, extra] of profile.extras) {
    const e = await runtime.treePath(extra).catch(() => undefined);
    if (e && runtime.entries.has(e)) files[key] = '/' + e;
  }
  drafts.push({
    ret: {
      name,
      version,
      kind: 'runtime',
      description: `${name} ${version} built from ${binary}`,
      files,
      libs: [...direct].sort(),
      requires,
      env: profile.env,
      command: [binPath],
      source: { host: binary, builtAt: new Date().toISOString(), builder: 'reg ret build --from-host' },
    },
    entries: runtime.entries,
  });

  return commitDrafts(home, drafts, { runtime: { name, version }, log, ...(linkMode === 'auto' && { link: mayLinkHostFile }) });
}

/**
 * Stores drafts as locked RETs: blobs first, then documents (in the order given: dependencies
 * first), then layer trees. On any failure, takes back every blob, document and layer it wrote.
 */
export async function commitDrafts(
  home: RegHome,
  drafts: Draft[],
  ctx: {
    runtime: { name: string; version: string };
    log: (line: string) => void;
    /** Checks the locked RETs before any is saved (e.g. for path conflicts); a throw rolls back. */
    verify?: (locked: LockedRet[]) => Promise<void>;
    /** Which host files to try linking into the store instead of copying (RETs built from the host). */
    link?: (hostPath: string) => boolean;
  },
): Promise<HostBuildReport> {
  const writer = new BlobWriter(home);
  // Directories this commit may create; on failure the ones that did not exist before go too.
  const ownDirs = [home.tmp, home.blobs, join(home.root, 'store'), home.rets, home.layers];
  const dirsBefore = new Set<string>();
  for (const d of ownDirs) if (await stat(d).then(() => true, () => false)) dirsBefore.add(d);
  const restore: Array<{ name: string; version: string; previous?: LockedRet }> = [];
  const newLayers: string[] = [];
  let linkedFiles = 0;
  const linkedNew = new Set<string>(); // created blobs that are host inodes: no new disk space
  try {
    const locked: LockedRet[] = [];
    for (const d of drafts) {
      const lock: LockEntry[] = [];
      for (const [path, e] of [...d.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (e.kind === 'dir') lock.push({ path, dir: true, mode: modeToString(e.mode) });
        else if (e.kind === 'link') lock.push({ path, link: e.target });
        else {
          const executable = (e.mode & 0o111) !== 0;
          if (e.kind === 'file') {
            const put = await writer.putFile(e.hostPath, executable, e.mtime, { link: ctx.link?.(e.hostPath) ?? false });
            if (put.linked) linkedFiles++;
            if (put.linked && put.created) linkedNew.add(put.path);
            lock.push({ path, digest: put.digest, size: put.size, mode: modeToString(e.mode), mtime: e.mtime });
          } else {
            const put = await writer.putBuffer(e.content, executable);
            lock.push({ path, digest: put.digest, size: put.size, mode: modeToString(e.mode) });
          }
        }
      }
      // Validate through the same schema a hand-written RET meets: a host that yields a path
      // escaping the tree fails here, before anything is saved.
      const parsed = RetSchema.safeParse({ ...d.ret, lock: { files: lock } });
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        throw new RegError('RET_INVALID', `the RET built for ${d.ret.name}@${d.ret.version} is invalid: ${i.path.join('.')}: ${i.message}`, {
          field: i.path.join('.'),
          hint: 'this host has a file layout Reg cannot express; report it with the path shown',
        });
      }
      locked.push(parsed.data as LockedRet);
    }
    if (ctx.verify) await ctx.verify(locked);
    const report: HostBuildReport = { runtime: ctx.runtime, rets: [], newBlobs: writer.created.length, newBytes: 0, ...(ctx.link && { linkedFiles }) };
    if (ctx.link) ctx.log(`${linkedFiles} files are the host's own inodes (linked into the store, not copied)`);
    for (const p of writer.created) if (!linkedNew.has(p)) report.newBytes += (await stat(p)).size;
    for (const ret of locked) {
      const previous = await loadRet(home, ret.name, ret.version).catch(() => undefined);
      const unchanged = previous !== undefined && lockId(previous) === lockId(ret);
      if (!unchanged) restore.push({ name: ret.name, version: ret.version, ...(previous && { previous }) });
      const meta: RetMeta = unchanged ? metaOf(ret) : await saveRet(home, ret);
      const layer = join(home.layers, layerName(meta));
      const hadLayer = await stat(layer).then(() => true, () => false);
      await ensureLayer(home, ret);
      if (!hadLayer) newLayers.push(layer);
      report.rets.push({ name: ret.name, version: ret.version, kind: ret.kind, files: meta.files, bytes: meta.bytes, status: unchanged ? 'unchanged' : previous ? 'updated' : 'new' });
      ctx.log(`${unchanged ? 'unchanged' : previous ? 'updated  ' : 'new      '} ${ret.name}@${ret.version} (${meta.files} files)`);
    }
    if (writer.relinked.length) {
      // Copies stored by an earlier build are now the host's inodes: re-point the layer trees.
      const r = await relinkLayers(home, writer.relinked);
      ctx.log(`${writer.relinked.length} stored copies replaced by the host's own files; ${r.files} files in ${r.layers} layer trees re-linked`);
      if (r.inUse.length) ctx.log(`${r.inUse.length} layer trees in use by containers keep their copies until rebuilt: ${r.inUse.join(', ')}`);
    }
    return report;
  } catch (e) {
    for (const l of newLayers) await rm(l, { recursive: true, force: true }).catch(() => {});
    for (const r of restore.reverse()) {
      if (r.previous) await saveRet(home, r.previous).catch(() => {});
      else {
        await rm(join(home.rets, r.name, `${r.version}.yaml`), { force: true }).catch(() => {});
        await rm(join(home.rets, r.name, `${r.version}.meta.json`), { force: true }).catch(() => {});
        await rmdir(join(home.rets, r.name)).catch(() => {});
      }
    }
    if (restore.length) await bumpRetGeneration(home);
    await writer.rollback();
    for (const d of ownDirs) if (!dirsBefore.has(d)) await rmdir(d).catch(() => {});
    throw e;
  }
}

export type { Draft };
