// Materialising RETs as OverlayFS lower layers. Each RET's content is laid out ONCE as a tree of
// hard links into the store (layers/<name>@<version>-<lockId>/), shared by every container that
// uses it; a container's lower layer is the stack of its RETs' trees. So the work per container is
// one small cached lookup (closures/<key>.json) and a stat per RET — it does not grow with the
// thousands of files in a python RET. Trees are built under a temp name and renamed into place,
// so concurrent builders and crashes never expose a half-built layer.

import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError, storeIoError } from '../errors.js';
import type { RegHome } from '../home.js';
import { generationFile, loadRet, type RetMeta } from '../ret/repository.js';
import { blobPath } from '../store/blob-path.js';
import { lockId } from '../ret/lock.js';
import type { LockedRet } from '../ret/schema.js';
import { addToPlan, resolveGraph, type FilePlan } from './resolve.js';

export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';

export function layerName(m: { name: string; version: string; lockId: string }): string {
  return `${m.name}@${m.version}-${m.lockId}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Lays a plan out under `dir` (which must not exist yet) as hard links to the store. */
export async function writeTree(home: RegHome, plan: FilePlan, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // Sorted paths put every directory before what it contains.
  const paths = [...plan.keys()].sort();
  for (const p of paths) {
    const e = plan.get(p)!;
    const dst = join(dir, p);
    if (e.kind === 'dir') {
      await mkdir(dst).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      // Layer trees are shared by every container and must be writable by root alone: whatever
      // a RET says (an old or pulled one with a 1777 tmp), no group/world write, no sticky/set-id.
      await chmod(dst, e.mode & 0o755);
    }
    else if (e.kind === 'link') await symlink(e.target, dst);
    else {
      const src = blobPath(home.blobs, e.digest, e.executable);
      try {
        await link(src, dst);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await exists(src))) {
          throw new RegError('BLOB_MISSING', `the store lacks blob ${e.digest} for /${p} of ${e.ret}`, {
            file: src,
            hint: 'rebuild or pull the RET again; `reg store verify` lists what else is missing',
          });
        }
        throw err;
      }
    }
  }
  await chmod(dir, 0o755);
}

/** The shared layer tree of one RET, built if missing. Returns its directory. */
export async function ensureLayer(home: RegHome, ret: LockedRet): Promise<string> {
  const final = join(home.layers, layerName({ name: ret.name, version: ret.version, lockId: lockId(ret) }));
  if (await exists(final)) return final;
  const tmp = join(home.layers, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const plan: FilePlan = new Map();
    addToPlan(plan, ret);
    await writeTree(home, plan, tmp);
    try {
      await rename(tmp, final);
    } catch (e) {
      // Another process finished the same layer first: theirs is identical, keep it.
      if (!['EEXIST', 'ENOTEMPTY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
    return final;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof RegError) throw e;
    throw storeIoError(e, `materialising ${ret.name}@${ret.version}`, final);
  }
}

export interface Materialised {
  /** The RETs of the closure, the one asked for first. */
  rets: RetMeta[];
  /** OverlayFS lower dirs, topmost first (the RET asked for on top). */
  lowerdirs: string[];
  env: Record<string, string>;
  command?: string[];
  workdir?: string;
}

function closureKey(rets: RetMeta[]): string {
  const h = createHash('sha256');
  for (const m of rets) h.update(`${layerName(m)}\n`);
  return h.digest('hex').slice(0, 32);
}

/**
 * Everything a container of `ref` needs from the store: its lower layers, env and command.
 * The first call for a closure checks it for path conflicts and builds missing layers; later
 * calls read one cached JSON file and stat the layers.
 */
export async function materialise(home: RegHome, ref: string): Promise<Materialised> {
  // Hot path of every container start: one stat of the RET generation marker answers from memory.
  const gen = await stat(generationFile(home)).then((st) => `${st.ino}:${st.mtimeMs}`, () => undefined);
  const key = `${home.root}\0${ref}`;
  const hit = gen !== undefined ? memo.get(key) : undefined;
  if (hit && hit.gen === gen) return hit.result;
  const result = await materialiseUncached(home, ref);
  if (gen !== undefined) {
    if (memo.size > 256) memo.clear();
    memo.set(key, { gen, result });
  }
  return result;
}

const memo = new Map<string, { gen: string; result: Materialised }>();

async function materialiseUncached(home: RegHome, ref: string): Promise<Materialised> {
  const { rets } = await resolveGraph(home, ref);
  const lowerdirs = rets.map((m) => join(home.layers, layerName(m)));
  const cache = join(home.closures, `${closureKey(rets)}.json`);
  const cached = await readFile(cache, 'utf8').then(
    (t) => JSON.parse(t) as { lowerdirs: string[] },
    () => undefined,
  );
  const layersPresent = cached !== undefined && (await Promise.all(lowerdirs.map(exists))).every(Boolean);
  if (!layersPresent) {
    const plan: FilePlan = new Map();
    const locked: LockedRet[] = [];
    for (const m of rets) {
      const ret = await loadRet(home, m.name, m.version);
      addToPlan(plan, ret); // throws PATH_CONFLICT naming both RETs
      locked.push(ret);
    }
    for (const ret of locked) await ensureLayer(home, ret);
    try {
      await mkdir(home.closures, { recursive: true });
      // A unique temp name per writer: concurrent first starts of one RET (a class's rush) each
      // write their own file and the renames race harmlessly (the contents are equal).
      const tmp = `${cache}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify({ ref, lowerdirs }));
        await rename(tmp, cache);
      } catch (e) {
        await rm(tmp, { force: true }).catch(() => {});
        throw e;
      }
    } catch (e) {
      throw storeIoError(e, 'caching a resolved closure', cache);
    }
  }
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const m of [...rets].reverse()) Object.assign(env, m.env);
  const root = rets[0]!;
  return {
    rets,
    lowerdirs,
    env,
    ...(root.command && { command: root.command }),
    ...(root.workdir && { workdir: root.workdir }),
  };
}

/** One flat hard-link tree of a whole closure (for chroot and inspection; containers use layers). */
export async function exportTree(home: RegHome, ref: string, dir: string): Promise<{ files: number }> {
  if (await exists(dir)) throw new RegError('USAGE', `${dir} already exists`, { file: dir, hint: 'name a directory that does not exist yet' });
  const { rets } = await resolveGraph(home, ref);
  const plan: FilePlan = new Map();
  for (const m of rets) addToPlan(plan, await loadRet(home, m.name, m.version));
  try {
    await writeTree(home, plan, dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    if (e instanceof RegError) throw e;
    throw storeIoError(e, `exporting ${ref}`, dir);
  }
  return { files: plan.size };
}
