// apt, used only as a resolver and a downloader: which Debian packages a request needs beyond
// what the store already provides (`apt-get -s` against a stand-in dpkg status that lists only
// the packages existing RETs provide), their control data (`apt-cache show`), and the .deb files
// themselves (`apt-get download`, hash-checked against the archive's signed index). Nothing is
// installed on the host and no maintainer script runs.
//
// Downloaded .debs live in a cache shared by builds and tests ($REG_CACHE/debs, else
// /var/cache/reg-debs); a cached file is re-hashed on every use and fetched again when it is
// truncated or corrupt, so a half-downloaded package never reaches the store.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError } from '../errors.js';

export interface DebItem {
  package: string;
  /** Full Debian version (epoch and revision included). */
  version: string;
  architecture: string;
}

export interface DebControl extends DebItem {
  /** Depends + Pre-Depends: each group lists its alternatives' package names. */
  depends: string[][];
  provides: string[];
  multiArch?: string;
  sha256: string;
  size: number;
  description: string;
}

export function debCacheDir(): string {
  return process.env.REG_CACHE ? join(process.env.REG_CACHE, 'debs') : '/var/cache/reg-debs';
}

/** `name`, `name=version` or `name@version` (a Debian version or an upstream prefix). */
export function parseDebRequest(req: string): { package: string; version?: string } {
  const m = /^([a-z0-9][a-z0-9+.-]+)(?:[=@](.+))?$/.exec(req.trim());
  if (!m) {
    throw new RegError('USAGE', `"${req}" is not a Debian package name`, { field: '--from-deb', hint: 'give names such as python3-numpy or bash, optionally =VERSION' });
  }
  return { package: m[1]!, ...(m[2] !== undefined && { version: m[2] }) };
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject(new RegError('FILE_NOT_FOUND', `cannot run ${cmd}: ${e.message}`, { file: cmd, hint: 'building RETs from Debian packages needs apt and dpkg-deb (Debian or Ubuntu hosts)', cause: e })),
    );
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

/** Runs `apt-get update` when the host has no package lists yet (a fresh container image). */
export async function ensureAptLists(log: (l: string) => void): Promise<void> {
  const lists = await readdir('/var/lib/apt/lists').catch(() => [] as string[]);
  if (lists.some((f) => f.includes('_Packages'))) return;
  log('no apt package lists yet: apt-get update');
  const r = await run('apt-get', ['update', '-q']);
  if (r.code !== 0) throw new RegError('REGISTRY_UNREACHABLE', `apt-get update failed: ${lastErrorLine(r)}`, { hint: 'check the host\'s apt sources and network' });
}

function lastErrorLine(r: RunResult): string {
  const lines = (r.stderr + '\n' + r.stdout).split('\n').filter((l) => /^E: /.test(l));
  return (lines.length ? lines.join('; ') : r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`).replace(/^E: /, '');
}

/** Turns apt's complaints about a request into an error that names the package. */
function planError(r: RunResult, requests: string[]): RegError {
  const text = r.stderr + '\n' + r.stdout;
  const unknown = /Unable to locate package (\S+)/.exec(text)?.[1];
  if (unknown) {
    return new RegError('RET_NOT_FOUND', `Debian package "${unknown}" does not exist in this host's apt sources`, {
      field: '--from-deb',
      hint: `check the spelling (apt-cache search ${unknown.replace(/[^a-z0-9+.-]/g, '')}), or add the apt source that has it and run apt-get update`,
    });
  }
  const noVersion = /Version '([^']+)' for '([^']+)' was not found/.exec(text);
  if (noVersion) {
    return new RegError('RET_NOT_FOUND', `Debian package "${noVersion[2]}" has no version ${noVersion[1]}`, { field: '--from-deb', hint: `apt-cache policy ${noVersion[2]} lists the versions there are` });
  }
  const noCandidate = /Package '?([^' ]+)'? has no installation candidate/.exec(text);
  if (noCandidate) {
    return new RegError('RET_NOT_FOUND', `Debian package "${noCandidate[1]}" has no installable version (a virtual or removed package)`, { field: '--from-deb', hint: 'name a concrete package that provides it' });
  }
  return new RegError('RET_INVALID', `apt cannot resolve ${requests.join(' ')}: ${lastErrorLine(r)}`, {
    field: '--from-deb',
    hint: 'the packages\' dependencies conflict with each other or with what the store provides; build them separately',
  });
}

/**
 * What must be downloaded for `requests`, dependency order, given stand-in dpkg status stanzas
 * for what the store already provides (written to `statusFile`). Recommends are left out (as
 * `--no-install-recommends`). A stand-in an exact-version Depends cannot accept is dropped and
 * its package planned too (it is then rebuilt, usually to an unchanged RET).
 */
export async function planDebs(requests: string[], stanzas: Map<string, string>, statusFile: string, keep?: (pkg: string) => boolean): Promise<DebItem[]> {
  const args = ['-s', '-q', '-o', `Dir::State::status=${statusFile}`, '-o', 'APT::Install-Recommends=false', '-o', 'APT::Install-Suggests=false', '-o', 'Debug::NoLocking=1', 'install'];
  for (const req of requests) {
    const { package: p, version } = parseDebRequest(req);
    args.push(version ? `${p}=${await fullVersion(p, version)}` : p);
  }
  const standIns = new Map(stanzas);
  for (let round = 0; ; round++) {
    await writeFile(statusFile, [...standIns.values()].join('\n\n') + '\n');
    const r = await run('apt-get', args);
    if (r.code !== 0) {
      const exact = /Depends: (\S+) \(= [^)]+\) but \S+\+reg is to be installed/.exec(r.stdout + r.stderr);
      if (exact && standIns.has(exact[1]!) && round < 50) {
        standIns.delete(exact[1]!);
        continue;
      }
      throw planError(r, requests);
    }
    const items: DebItem[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) .*\[(\S+)\]\)/.exec(line);
      // "Inst P [old+reg] (new …)": apt replaces a stand-in for a RET (an exact-version Depends
      // such as libncursesw6's on libtinfo6); the RET that provides it is used instead.
      if (m && !(m[2] !== undefined && (m[2].endsWith('+reg') || m[2] === m[3]) && keep?.(m[1]!.split(':')[0]!) !== true)) {
        items.push({ package: m[1]!.split(':')[0]!, version: m[3]!, architecture: m[4]! });
      }
    }
    return items;
  }
}

/** An upstream prefix (`1.24`) → the full Debian version apt knows that starts with it. */
async function fullVersion(pkg: string, version: string): Promise<string> {
  const r = await run('apt-cache', ['madison', pkg]);
  const versions = r.stdout.split('\n').map((l) => l.split('|')[1]?.trim()).filter((v): v is string => !!v);
  if (versions.includes(version)) return version;
  const upstream = (v: string) => v.replace(/^\d+:/, '');
  const hit = versions.find((v) => upstream(v) === version || upstream(v).startsWith(`${version}.`) || upstream(v).startsWith(`${version}-`) || upstream(v).startsWith(`${version}+`));
  if (hit) return hit;
  if (versions.length === 0) throw new RegError('RET_NOT_FOUND', `Debian package "${pkg}" does not exist in this host's apt sources`, { field: '--from-deb' });
  throw new RegError('RET_NOT_FOUND', `Debian package "${pkg}" has no version ${version}`, { field: '--from-deb', hint: `available: ${versions.join(', ')}` });
}

function parseDepends(field: string | undefined): string[][] {
  if (!field) return [];
  return field
    .split(',')
    .map((group) => group.split('|').map((alt) => alt.trim().split(/[\s(:]/)[0]!).filter(Boolean))
    .filter((g) => g.length > 0);
}

function field(stanza: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: ?(.*(?:\\n[ \\t].*)*)`, 'm').exec(stanza);
  return m?.[1]?.replace(/\n[ \t]+/g, ' ').trim();
}

/** Control data of exactly the versions planned. */
export async function showDebs(items: DebItem[]): Promise<Map<string, DebControl>> {
  const out = new Map<string, DebControl>();
  if (items.length === 0) return out;
  const r = await run('apt-cache', ['show', '--no-all-versions', ...items.map((i) => `${i.package}:${i.architecture}=${i.version}`)]);
  if (r.code !== 0) throw new RegError('RET_NOT_FOUND', `apt-cache cannot describe the planned packages: ${lastErrorLine(r)}`, { field: '--from-deb' });
  for (const stanza of r.stdout.split(/\n\n+/)) {
    const pkg = field(stanza, 'Package');
    const version = field(stanza, 'Version');
    if (!pkg || !version) continue;
    const want = items.find((i) => i.package === pkg && i.version === version);
    if (!want || out.has(pkg)) continue;
    out.set(pkg, {
      ...want,
      depends: [...parseDepends(field(stanza, 'Pre-Depends')), ...parseDepends(field(stanza, 'Depends'))],
      provides: (field(stanza, 'Provides') ?? '').split(',').map((p) => p.trim().split(/[\s(]/)[0]!).filter(Boolean),
      ...(field(stanza, 'Multi-Arch') && { multiArch: field(stanza, 'Multi-Arch')! }),
      sha256: field(stanza, 'SHA256') ?? '',
      size: Number(field(stanza, 'Size') ?? 0),
      description: (field(stanza, 'Description') ?? '').split('\n')[0]!.slice(0, 200),
    });
  }
  for (const i of items) if (!out.has(i.package)) throw new RegError('RET_NOT_FOUND', `apt-cache has no record of ${i.package} ${i.version}`, { field: '--from-deb' });
  return out;
}

/** The candidate version of each package, as a stand-in stanza (for packages left out on purpose). */
export async function candidateStanzas(pkgs: string[]): Promise<string[]> {
  if (pkgs.length === 0) return [];
  const r = await run('apt-cache', ['show', '--no-all-versions', ...pkgs]);
  const out: string[] = [];
  for (const p of pkgs) {
    const stanza = r.stdout.split(/\n\n+/).find((st) => field(st, 'Package') === p);
    if (!stanza) throw new RegError('RET_NOT_FOUND', `Debian package "${p}" (--skip) does not exist in this host's apt sources`, { field: '--skip' });
    out.push([`Package: ${p}`, 'Status: install ok installed', `Version: ${field(stanza, 'Version')}+reg`, `Architecture: ${field(stanza, 'Architecture')}`, ...(field(stanza, 'Provides') ? [`Provides: ${field(stanza, 'Provides')}`] : []), ...(field(stanza, 'Multi-Arch') ? [`Multi-Arch: ${field(stanza, 'Multi-Arch')}`] : []), 'Description: left out (--skip)'].join('\n'));
  }
  return out;
}

export function debFileName(i: DebItem): string {
  return `${i.package}_${i.version.replace(/:/g, '%3a')}_${i.architecture}.deb`;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * The .deb file of every control, from the cache or downloaded; each one's SHA256 checked against
 * the archive's index. A corrupt cached copy is replaced; a download that does not match fails.
 */
export async function fetchDebs(controls: DebControl[], log: (l: string) => void, cacheDir = debCacheDir()): Promise<Map<string, string>> {
  await mkdir(cacheDir, { recursive: true });
  const files = new Map<string, string>();
  const missing: DebControl[] = [];
  for (const c of controls) {
    const path = join(cacheDir, debFileName(c));
    const st = await stat(path).catch(() => undefined);
    if (st) {
      if (st.size === c.size && (await sha256File(path)) === c.sha256) {
        files.set(c.package, path);
        continue;
      }
      log(`cached ${debFileName(c)} is ${st.size === c.size ? 'corrupt' : `truncated (${st.size} of ${c.size} bytes)`}: downloading it again`);
      await rm(path, { force: true });
    }
    missing.push(c);
  }
  if (missing.length === 0) return files;
  log(`downloading ${missing.length} package${missing.length === 1 ? '' : 's'} with apt-get download`);
  const tmp = await mkdtemp(join(cacheDir, '.download-'));
  try {
    const r = await run('apt-get', ['download', '-q', ...missing.map((c) => `${c.package}:${c.architecture}=${c.version}`)], { cwd: tmp });
    if (r.code !== 0) {
      throw new RegError('REGISTRY_UNREACHABLE', `apt-get download failed: ${lastErrorLine(r)}`, { field: '--from-deb', hint: 'check the network and apt sources, then build again (nothing was stored)' });
    }
    for (const c of missing) {
      const got = join(tmp, debFileName(c));
      const sum = await sha256File(got).catch(() => undefined);
      if (sum !== c.sha256) {
        throw new RegError('DIGEST_MISMATCH', `the downloaded ${debFileName(c)} does not match the archive's SHA256`, { file: got, hint: 'a mirror or proxy served a bad file; build again' });
      }
      const path = join(cacheDir, debFileName(c));
      await rename(got, path);
      files.set(c.package, path);
    }
    return files;
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
  }
}

export { run as runTool };
