// Building RETs from npm packages (`reg ret build --from-npm lodash@4 express`). Each package is
// installed with `npm install --ignore-scripts` into a scratch prefix — its install scripts never
// run on the host; the build says which packages have them — and laid out as
// /usr/lib/node/<name>/ with its whole dependency tree nested in its own node_modules/. Node
// searches /usr/lib/node (the global folder of any node whose prefix is /usr) for a bare
// `require('express')`, so nothing has to be set in the container. Native addons (*.node) get
// their ELF closure as library RETs, shared with the store as in host builds.
//
// The RET is `node-<name>@<npm version>` (Debian's naming for node modules; a scope becomes part
// of the name: @scope/pkg → node-scope-pkg), kind `package`, requiring the node runtime of the
// store; `source.npm` records the package, version and the registry's integrity digest.

import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { commitDrafts, libraryIdentity, type Draft, type HostBuildReport } from './build-from-host.js';
import { HostCollector } from './collect.js';
import { isElfFile, readElf } from './elf.js';
import { readLoaderConfig, resolveDependencies } from './loader-search.js';
import { findRet, listVersions } from './repository.js';
import { RET_NAME_RE } from './schema.js';
import { isValidVersion } from './version.js';

export interface NpmBuildOptions {
  log?: (line: string) => void;
  /** npm's cache (default: npm's own). */
  npmCache?: string;
}

export interface NpmBuildReport extends HostBuildReport {
  warnings: string[];
}

const NPM_MTIME = 499162500;
const SPEC_RE = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*(@[^\s@]+)?$/;

/** `@scope/name@range` → its parts. */
export function parseNpmSpec(spec: string): { name: string; range?: string } {
  if (!SPEC_RE.test(spec)) {
    throw new RegError('USAGE', `"${spec}" is not an npm package name`, { field: '--from-npm', hint: 'give names such as lodash@4, express or @scope/pkg@1.2' });
  }
  const at = spec.lastIndexOf('@');
  return at > 0 ? { name: spec.slice(0, at), range: spec.slice(at + 1) } : { name: spec };
}

export function retNameOfNpm(name: string): string {
  return `node-${name.replace(/^@/, '').replace('/', '-').toLowerCase()}`;
}

function npm(args: string[], cwd: string, cache?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('npm', [...args, ...(cache ? ['--cache', cache] : [])], {
      cwd,
      env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_loglevel: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('error', (e) => reject(new RegError('FILE_NOT_FOUND', `cannot run npm: ${e.message}`, { file: 'npm', hint: 'install node and npm on the host' })));
    c.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

interface PackageJson {
  name?: string;
  version?: string;
  scripts?: Record<string, string>;
  gypfile?: boolean;
  _integrity?: string;
}

async function readJson(path: string): Promise<PackageJson | undefined> {
  return readFile(path, 'utf8').then((t) => JSON.parse(t) as PackageJson, () => undefined);
}

/** Every package directory under node_modules (scopes included). */
async function packageDirs(nodeModules: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(nodeModules).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const p = join(nodeModules, name);
    if (name.startsWith('@')) {
      for (const sub of await readdir(p).catch(() => [] as string[])) out.push(join(p, sub), ...(await packageDirs(join(p, sub, 'node_modules'))));
    } else out.push(p, ...(await packageDirs(join(p, 'node_modules'))));
  }
  return out;
}

export async function buildFromNpm(home: RegHome, specs: string[], opts: NpmBuildOptions = {}): Promise<NpmBuildReport> {
  const log = opts.log ?? (() => {});
  if (specs.length === 0) throw new RegError('USAGE', 'name at least one npm package', { field: '--from-npm', hint: 'e.g. reg ret build --from-npm lodash@4' });
  const wanted = specs.map(parseNpmSpec);
  const nodeVersions = await listVersions(home, 'node');
  const node = nodeVersions.length ? await findRet(home, 'node') : undefined;
  const warnings: string[] = [];
  if (!node) warnings.push('the store has no node RET: build it first (reg ret build --from-host /usr/bin/node); the packages require node');
  const work = await mkdtemp(join(tmpdir(), 'reg-npm-'));
  try {
    const drafts: Draft[] = [];
    const libDrafts = new Map<string, Draft>();
    let top: { name: string; version: string } | undefined;
    for (const w of wanted) {
      const prefix = await mkdtemp(join(work, 'p-'));
      await writeFile(join(prefix, 'package.json'), '{"name":"reg-npm-build","private":true}\n');
      log(`npm install --ignore-scripts ${w.name}${w.range ? `@${w.range}` : ''}`);
      const r = await npm(['install', '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund', '--no-save', '--install-strategy=hoisted', `${w.name}@${w.range ?? 'latest'}`], prefix, opts.npmCache);
      if (r.code !== 0) {
        const text = r.stderr + r.stdout;
        if (/E404|404 Not Found/.test(text)) {
          throw new RegError('RET_NOT_FOUND', `npm package "${w.name}" does not exist in the npm registry`, { field: '--from-npm', hint: 'check the spelling (npm search NAME)' });
        }
        if (/ETARGET|No matching version/.test(text)) {
          throw new RegError('RET_NOT_FOUND', `npm package "${w.name}" has no version matching ${w.range}`, { field: '--from-npm', hint: `npm view ${w.name} versions lists them` });
        }
        throw new RegError('REGISTRY_UNREACHABLE', `npm install ${w.name} failed: ${text.trim().split('\n').slice(-3).join(' ')}`, { field: '--from-npm' });
      }
      const nm = join(prefix, 'node_modules');
      const main = join(nm, w.name);
      const pj = await readJson(join(main, 'package.json'));
      if (!pj?.version) throw new RegError('RET_INVALID', `npm installed no ${w.name}`, { field: '--from-npm' });
      // Install scripts: never run here; a package that needs one may not work.
      for (const dir of await packageDirs(nm)) {
        const p = await readJson(join(dir, 'package.json'));
        const scripts = ['preinstall', 'install', 'postinstall'].filter((s) => p?.scripts?.[s]);
        const gyp = p?.gypfile || (await lstat(join(dir, 'binding.gyp')).then(() => true, () => false));
        if (scripts.length || gyp) {
          warnings.push(`${p?.name ?? basename(dir)}@${p?.version ?? '?'} has ${scripts.length ? `an install script (${scripts.map((s) => `${s}: ${p!.scripts![s]}`).join('; ')})` : 'a native addon to compile'} that was not run: what it would build or download is missing`);
        }
      }
      // /usr/lib/node/<name>/ with its dependencies nested in its own node_modules/.
      const entries: Draft['entries'] = new Map();
      const dest = `usr/lib/node/${w.name}`;
      const skipped = (p: string) => basename(p) === '.package-lock.json' || basename(p) === '.bin' || p === main;
      const put = async (root: string, path: string, to: string) => {
        const sub = new HostCollector({ root, exclude: skipped });
        await sub.add(path, false);
        // npm extracts with the time of the install; the tarballs all say 1985-10-26 (npm's fixed
        // date). Keeping that makes a rebuild of the same version identical (`unchanged`).
        for (const [p, e] of sub.entries) entries.set(`${to}/${p}`, e.kind === 'file' ? { ...e, mtime: NPM_MTIME } : e);
      };
      for (const name of await readdir(main)) await put(main, join(main, name), dest); // its own node_modules included
      for (const name of await readdir(nm)) if (!name.startsWith('.')) await put(nm, join(nm, name), `${dest}/node_modules`);
      // Native addons: their shared libraries from the host, as library RETs.
      const libs = new Set<string>();
      const elf: string[] = [];
      for (const e of entries.values()) if (e.kind === 'file' && e.hostPath.endsWith('.node') && (await isElfFile(e.hostPath))) elf.push(e.hostPath);
      if (elf.length) {
        const closure = await resolveDependencies(elf, await readLoaderConfig('/'));
        const refBySoname = new Map<string, string>();
        for (const l of closure.libraries) {
          const id = libraryIdentity(l.object.soname ?? basename(l.path), basename(l.realPath));
          refBySoname.set(l.soname, `${id.name}@${id.range}`);
          if (await findRet(home, `${id.name}@${id.range}`).then(() => true, () => false)) continue;
          const lc = new HostCollector();
          await lc.add(l.path);
          await lc.add(l.realPath);
          libDrafts.set(`${id.name}@${id.version}`, { ret: { name: id.name, version: id.version, kind: 'library', description: `shared library ${l.object.soname ?? basename(l.path)}` }, entries: lc.entries });
        }
        for (const f of elf) for (const n of (await readElf(f)).needed) if (refBySoname.get(n)) libs.add(refBySoname.get(n)!);
      }
      const name = retNameOfNpm(w.name);
      if (!RET_NAME_RE.test(name) || !isValidVersion(pj.version)) {
        throw new RegError('RET_INVALID', `npm package ${w.name}@${pj.version} cannot be a RET name/version (${name}@${pj.version})`, { field: '--from-npm' });
      }
      const lock = await readJson(join(nm, '.package-lock.json')) as { packages?: Record<string, { integrity?: string }> } | undefined;
      const integrity = lock?.packages?.[`node_modules/${w.name}`]?.integrity;
      drafts.push({
        ret: {
          name,
          version: pj.version,
          kind: 'package',
          description: `npm ${w.name}@${pj.version} with its dependencies, for require('${w.name}')`,
          ...(libs.size && { libs: [...libs].sort() }),
          ...(node && { requires: [`node@${node.version.split('.')[0]}`] }),
          source: { builtAt: new Date().toISOString(), builder: 'reg ret build --from-npm', npm: { package: w.name, version: pj.version, ...(integrity && { integrity }) } },
        },
        entries,
      });
      top ??= { name, version: pj.version };
    }
    const report = await commitDrafts(home, [...libDrafts.values(), ...drafts], { runtime: top!, log });
    return { ...report, warnings };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => {});
  }
}
