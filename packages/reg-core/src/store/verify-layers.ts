// The layer trees' half of `reg store verify`: every tree under layers/ must be exactly what its
// RET's lock says — each file a hard link to the blob the lock names (same inode), each symlink
// with its target, each directory root-owned and writable by root alone — and hold nothing else.
// A planted file would appear in every new container that uses the layer; a world-writable
// directory lets any local user plant one.

import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegHome } from '../home.js';
import { layerName } from '../resolve/materialise.js';
import { addToPlan, type FilePlan } from '../resolve/resolve.js';
import { lockId } from '../ret/parse.js';
import { listRets, loadRet } from '../ret/repository.js';
import { blobPath } from './blob-path.js';

export interface LayerProblem {
  kind: 'planted' | 'not-linked' | 'wrong-link' | 'missing' | 'writable' | 'wrong-type';
  /** The layer tree (layers/<name>@<version>-<lockid>). */
  layer: string;
  /** The path inside the tree. */
  path: string;
  detail: string;
}

export async function verifyLayers(home: RegHome): Promise<{ checked: number; problems: LayerProblem[] }> {
  const problems: LayerProblem[] = [];
  const byName = new Map<string, FilePlan>();
  for (const meta of await listRets(home)) {
    const ret = await loadRet(home, meta.name, meta.version).catch(() => undefined);
    if (!ret) continue;
    const plan: FilePlan = new Map();
    try {
      addToPlan(plan, ret);
    } catch {
      continue; // an inconsistent lock is the RET's problem, reported by parse
    }
    byName.set(layerName({ name: ret.name, version: ret.version, lockId: lockId(ret) }), plan);
  }
  let checked = 0;
  for (const name of (await readdir(home.layers).catch(() => [] as string[])).sort()) {
    const plan = byName.get(name);
    if (!plan || name.startsWith('.tmp-')) continue; // unreferenced or being built: gc's business
    checked++;
    const dir = join(home.layers, name);
    const report = (kind: LayerProblem['kind'], path: string, detail: string) => problems.push({ kind, layer: dir, path, detail });
    const root = await lstat(dir);
    if ((root.mode & 0o022) !== 0 || root.uid !== 0) report('writable', '.', `mode ${(root.mode & 0o7777).toString(8)}, owner ${root.uid}: only root may write a layer tree`);
    for (const [path, e] of plan) {
      const p = join(dir, path);
      const st = await lstat(p).catch(() => undefined);
      if (!st) {
        report('missing', path, `the lock has a ${e.kind} here`);
        continue;
      }
      if (e.kind === 'file') {
        if (!st.isFile()) report('wrong-type', path, 'the lock has a file here');
        else {
          const blob = await lstat(blobPath(home.blobs, e.digest, e.executable)).catch(() => undefined);
          if (!blob || blob.ino !== st.ino || blob.dev !== st.dev) report('not-linked', path, `not a hard link to the blob ${e.digest}${blob ? '' : ' (missing from the store)'}`);
        }
      } else if (e.kind === 'link') {
        if (!st.isSymbolicLink()) report('wrong-type', path, 'the lock has a symlink here');
        else {
          const target = await readlink(p);
          if (target !== e.target) report('wrong-link', path, `points to ${target}, the lock says ${e.target}`);
        }
      } else if (!st.isDirectory()) report('wrong-type', path, 'the lock has a directory here');
      else if ((st.mode & 0o7022) !== 0 || st.uid !== 0) report('writable', path, `mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}: only root may write a layer tree`);
    }
    // Anything the lock does not name was planted.
    const walk = async (rel: string): Promise<void> => {
      for (const n of await readdir(join(dir, rel)).catch(() => [] as string[])) {
        const path = rel ? `${rel}/${n}` : n;
        const e = plan.get(path);
        if (!e) {
          report('planted', path, 'not in the lock');
          continue;
        }
        if (e.kind === 'dir') await walk(path);
      }
    };
    await walk('');
  }
  return { checked, problems };
}
