// `reg ret add FILE`: a hand-written RET in the paper's form (name, version, files, libs,
// requires...) is completed into a locked RET by reading each file it names from a host tree
// (by default /, or --root DIR). A RET that already carries a lock is imported as it is, provided
// the store holds every blob it names.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { blobPath } from '../store/blob-path.js';
import { commitDrafts, type Draft, type HostBuildReport } from './build-from-host.js';
import { HostCollector } from './collect.js';
import { parseRet } from './parse.js';
import { saveRet } from './repository.js';
import { isLocked, modeToNumber } from './schema.js';

export async function addRet(home: RegHome, file: string, opts: { root?: string; log?: (l: string) => void } = {}): Promise<HostBuildReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new RegError('FILE_NOT_FOUND', `cannot read ${file}`, { file, cause: e });
  }
  const ret = parseRet(text, file);
  const runtime = { name: ret.name, version: ret.version };
  if (isLocked(ret)) {
    for (const [i, e] of ret.lock.files.entries()) {
      if (e.digest === undefined) continue;
      const p = blobPath(home.blobs, e.digest, (modeToNumber(e.mode, 0o644) & 0o111) !== 0);
      if (!(await stat(p).catch(() => undefined))) {
        throw new RegError('BLOB_MISSING', `${file}: lock.files[${i}] (${e.path}) names blob ${e.digest}, which the store lacks`, {
          file,
          field: `lock.files[${i}].digest`,
          hint: 'pull the RET from a registry instead, or drop its lock to rebuild it from host files',
        });
      }
    }
    const meta = await saveRet(home, ret);
    return { runtime, rets: [{ ...runtime, kind: ret.kind, files: meta.files, bytes: meta.bytes, status: 'new' }], newBlobs: 0, newBytes: 0 };
  }
  if (!ret.files || Object.keys(ret.files).length === 0) {
    throw new RegError('RET_INVALID', `${file}: a RET without a lock must name its files`, { file, field: 'files', hint: 'add files: {name: /container/path}' });
  }
  const root = opts.root ?? '/';
  const collector = new HostCollector({ root });
  for (const [key, containerPath] of Object.entries(ret.files)) {
    try {
      await collector.add(join(root, containerPath));
    } catch (e) {
      if (e instanceof RegError) throw new RegError(e.code, `${file}: files.${key}: ${e.message}`, { file, field: `files.${key}`, ...(e.hint && { hint: e.hint }) });
      throw e;
    }
  }
  const draft: Draft = { ret, entries: collector.entries };
  return commitDrafts(home, [draft], { runtime, log: opts.log ?? (() => {}) });
}
