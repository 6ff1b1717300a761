// The local RET repository: rets/<name>/<version>.yaml, each with a small .meta.json header
// cache so that resolving a container's closure reads a few hundred bytes per RET instead of
// parsing a lock of thousands of entries. The YAML is the truth; the meta is rebuilt from it
// whenever it is missing or unreadable.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError, isRegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import { isLocked, lockId, RET_NAME_RE } from './lock.js';
import type { LockedRet } from './schema.js';
import { compareVersions, formatRef, maxSatisfying, parseRef, type RetRef } from './version.js';

export interface RetMeta {
  name: string;
  version: string;
  kind: LockedRet['kind'];
  description?: string;
  /** libs and requires together, as written. */
  requires: string[];
  lockId: string;
  env: Record<string, string>;
  command?: string[];
  workdir?: string;
  files: number;
  bytes: number;
}

export function metaOf(ret: LockedRet): RetMeta {
  let bytes = 0;
  for (const e of ret.lock.files) bytes += e.size ?? 0;
  return {
    name: ret.name,
    version: ret.version,
    kind: ret.kind,
    ...(ret.description !== undefined && { description: ret.description }),
    requires: [...(ret.libs ?? []), ...(ret.requires ?? [])],
    lockId: lockId(ret),
    env: ret.env ?? {},
    ...(ret.command && { command: ret.command }),
    ...(ret.workdir && { workdir: ret.workdir }),
    files: ret.lock.files.length,
    bytes,
  };
}

function retFile(home: RegHome, name: string, version: string): string {
  return join(home.rets, name, `${version}.yaml`);
}

async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { mode: 0o644 });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw storeIoError(e, `writing ${path}`, path);
  }
}

/**
 * The RET generation: a marker rewritten (new inode) whenever any RET is saved or removed, so a
 * process can cache resolved closures and revalidate them with one stat.
 */
export function generationFile(home: RegHome): string {
  return join(home.rets, '.generation');
}

export async function bumpRetGeneration(home: RegHome): Promise<void> {
  await mkdir(home.rets, { recursive: true }).catch(() => {});
  await writeAtomic(generationFile(home), `${Date.now()} ${process.pid} ${randomBytes(4).toString('hex')}\n`).catch(() => {});
}

/** Saves a locked RET (replacing the same name@version). Every blob it names must already be stored. */
export async function saveRet(home: RegHome, ret: LockedRet): Promise<RetMeta> {
  const dir = join(home.rets, ret.name);
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw storeIoError(e, 'creating the RET directory', dir);
  }
  const meta = metaOf(ret);
  // YAML first, meta second: a crash in between leaves a YAML whose meta is rebuilt on read.
  // YAML and the schema are loaded only when a document is written or read: resolving a closure
  // from the .meta.json headers (every container start, `reg ps`) needs neither.
  const { stringifyRet } = await import('./parse.js');
  await writeAtomic(retFile(home, ret.name, ret.version), stringifyRet(ret));
  await writeAtomic(join(dir, `${ret.version}.meta.json`), JSON.stringify(meta));
  await bumpRetGeneration(home);
  return meta;
}

export async function loadRet(home: RegHome, name: string, version: string): Promise<LockedRet> {
  const file = retFile(home, name, version);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new RegError('RET_NOT_FOUND', `RET ${name}@${version} is not in the local repository`, {
      file,
      hint: 'list RETs with `reg ret ls`; build one with `reg ret build --from-host PATH`',
    });
  }
  const { parseRet } = await import('./parse.js');
  const ret = parseRet(text, file);
  if (!isLocked(ret)) throw new RegError('RET_INVALID', `${file}: a stored RET must have a lock`, { file, field: 'lock' });
  return ret;
}

export async function loadMeta(home: RegHome, name: string, version: string): Promise<RetMeta> {
  try {
    const meta = JSON.parse(await readFile(join(home.rets, name, `${version}.meta.json`), 'utf8')) as RetMeta;
    if (meta.name === name && meta.version === version && typeof meta.lockId === 'string') return meta;
  } catch {
    // missing or torn: rebuild from the YAML below
  }
  const meta = metaOf(await loadRet(home, name, version));
  await writeAtomic(join(home.rets, name, `${version}.meta.json`), JSON.stringify(meta)).catch(() => {});
  return meta;
}

export async function listVersions(home: RegHome, name: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(join(home.rets, name));
  } catch {
    return [];
  }
  return entries
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort(compareVersions);
}

export async function listRets(home: RegHome): Promise<RetMeta[]> {
  let names: string[];
  try {
    names = (await readdir(home.rets)).filter((n) => RET_NAME_RE.test(n)).sort();
  } catch {
    return [];
  }
  const out: RetMeta[] = [];
  for (const name of names) {
    for (const version of await listVersions(home, name)) {
      try {
        out.push(await loadMeta(home, name, version));
      } catch (e) {
        if (!isRegError(e)) throw e;
      }
    }
  }
  return out;
}

/** The highest local version satisfying a reference. `requiredBy` names who asked, for the error. */
export async function findRet(home: RegHome, ref: RetRef | string, requiredBy?: string): Promise<{ name: string; version: string }> {
  const r = typeof ref === 'string' ? parseRef(ref) : ref;
  const versions = await listVersions(home, r.name);
  const version = maxSatisfying(versions, r.range);
  if (version === undefined) {
    const have = versions.length ? `; versions here: ${versions.join(', ')}` : '';
    throw new RegError('RET_NOT_FOUND', `no RET matches ${formatRef(r)}${requiredBy ? ` (required by ${requiredBy})` : ''}${have}`, {
      hint: versions.length
        ? `ask for one of the versions listed, or build it with \`reg ret build --from-host PATH\``
        : `build it with \`reg ret build --from-host PATH\`, or pull it from a registry`,
    });
  }
  return { name: r.name, version };
}

export async function removeRet(home: RegHome, name: string, version: string): Promise<void> {
  await loadMeta(home, name, version); // RET_NOT_FOUND when absent
  await rm(join(home.rets, name, `${version}.meta.json`), { force: true });
  await rm(retFile(home, name, version), { force: true });
  await bumpRetGeneration(home);
}
