// Students' persistent workspaces, one per class × student (reg-core's Workspaces: a quota volume
// mounted under REG_HOME, its home/ bound as the home directory of every container the student
// opens in that class). This module adds the classroom's side: the quota from the class, starter
// files copied in when a workspace is made, the Workspace rows, and reading and writing a
// student's files from the host — always as the student's own uid (a child process: tar to read,
// cp to write), so a symlink planted in a workspace cannot make the host read or overwrite a file
// that is not the student's, and a write past the quota fails as it would inside the container.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { RegError } from '@reg/core';
import tarStream from 'tar-stream';
import yazl from 'yazl';
import type { Db } from '../db/client.js';

export interface DiskQuota {
  bytes: number;
  inodes: number;
}

/** What the host needs of reg-core's Workspaces. */
export interface WorkspaceStore {
  ensure(key: { classId: string; userId: string }, quota: DiskQuota): Promise<{ path: string; created: boolean; uid: number }>;
  usage(key: { classId: string; userId: string }): Promise<{ bytes: number; inodes: number; quotaBytes: number; quotaInodes: number }>;
  list(classId: string): Promise<string[]>;
  unmountAll(): Promise<void>;
  unmountMany(keys: ReadonlyArray<{ classId: string; userId: string }>, failed: (key: { classId: string; userId: string }, e: unknown) => void): Promise<void>;
}

export interface WorkspaceClass {
  id: string;
  workspaceQuotaMiB: number | null;
  workspaceQuotaInodes: number | null;
}

const MiB = 1024 * 1024;
export const DEFAULT_WORKSPACE_QUOTA: DiskQuota = { bytes: 512 * MiB, inodes: 50_000 };
/** Starter files of one class, altogether. */
export const STARTER_MAX_BYTES = 64 * MiB;

/** A relative path inside a workspace or the starter files: no absolute paths, no "..", no NUL. */
export function checkRelativePath(p: unknown, field = 'path'): string {
  if (typeof p !== 'string' || p.trim() === '') throw new RegError('USAGE', `${field} is missing`, { field, hint: 'a path relative to the home directory, e.g. week1/exercise.py' });
  const norm = posix.normalize(p.replace(/^\.\/+/, ''));
  if (norm.startsWith('/') || norm === '..' || norm.startsWith('../') || norm.includes('\0') || norm === '.' || norm.length > 1024 || norm.split('/').some((s) => s.length > 255)) {
    throw new RegError('PATH_ESCAPES', `${field} ${JSON.stringify(p)} is not a path inside the home directory`, { field, hint: 'a relative path such as hello.py or week1/data.csv' });
  }
  return norm.replace(/\/+$/, '');
}

export class WorkspaceService {
  /** Homes ensured by this host, by `${classId}/${userId}` (see ensureQuick). */
  private readonly ready = new Map<string, string>();

  constructor(
    private readonly store: WorkspaceStore,
    private readonly db: Db,
    private readonly dataDir: string,
    /**
     * Cluster mode: starter files in the shared directory, and a lease taken before an image is
     * mounted (one host mounts a workspace at a time; cluster/cluster-node.ts leaseWorkspace).
     */
    private readonly shared: { starterRoot?: string; lease?: (classId: string, userId: string) => Promise<void> } = {},
  ) {}

  quotaOf(cls: WorkspaceClass): DiskQuota {
    return {
      bytes: cls.workspaceQuotaMiB ? cls.workspaceQuotaMiB * MiB : DEFAULT_WORKSPACE_QUOTA.bytes,
      inodes: cls.workspaceQuotaInodes ?? DEFAULT_WORKSPACE_QUOTA.inodes,
    };
  }

  starterDir(classId: string): string {
    return join(this.shared.starterRoot ?? this.dataDir, 'classes', classId, 'starter');
  }

  /**
   * The student's home for this class, mounted and ready: made (with the starter files copied in)
   * on first use; a home emptied or removed from inside is made again, the starter files are not.
   */
  async ensure(cls: WorkspaceClass, userId: string): Promise<{ home: string; uid: number; created: boolean }> {
    await this.shared.lease?.(cls.id, userId);
    const ws = await this.store.ensure({ classId: cls.id, userId }, this.quotaOf(cls));
    this.ready.set(`${cls.id}/${userId}`, ws.path);
    if (ws.created) await this.copyStarter(cls.id, ws.path, ws.uid);
    const now = new Date();
    await this.db.workspace.upsert({ where: { classId_userId: { classId: cls.id, userId } }, create: { classId: cls.id, userId, lastUsedAt: now }, update: { lastUsedAt: now } });
    return { home: ws.path, uid: ws.uid, created: ws.created };
  }

  /**
   * The hot path of opening a prepared terminal: a workspace ensured earlier whose home is still
   * there (the volume mounted, the home not removed from inside) needs nothing more; anything
   * else goes through ensure(). Its row's lastUsedAt is written without waiting.
   */
  async ensureQuick(cls: WorkspaceClass, userId: string): Promise<{ home: string }> {
    const known = this.ready.get(`${cls.id}/${userId}`);
    const st = known ? await stat(known).catch(() => undefined) : undefined;
    if (!known || !st?.isDirectory() || st.uid === 0) return this.ensure(cls, userId);
    void this.db.workspace.updateMany({ where: { classId: cls.id, userId }, data: { lastUsedAt: new Date() } }).catch(() => {});
    return { home: known };
  }

  /** Updates the recorded size (for the roster page); never fails the caller. */
  async recordUsage(classId: string, userId: string): Promise<void> {
    try {
      const u = await this.store.usage({ classId, userId });
      await this.db.workspace.update({ where: { classId_userId: { classId, userId } }, data: { bytesUsed: u.bytes } });
    } catch {
      // no workspace yet, or it could not be mounted: the page shows the last figure
    }
  }

  private async copyStarter(classId: string, home: string, uid: number): Promise<void> {
    const dir = this.starterDir(classId);
    const names = await readdir(dir).catch(() => [] as string[]);
    if (names.length === 0) return;
    // Only into a home made a moment ago, which no container has used yet, so nothing in it can
    // be a planted symlink: copy as root (the starter files are the host's), then hand it all to
    // the student. -n: never overwrite.
    await run('cp', ['-R', '-n', '--', ...names.map((n) => join(dir, n)), home])
      .then(() => run('chown', ['-R', '--no-dereference', `${uid}:${uid}`, '--', home]))
      .catch((e: Error) => {
      throw new RegError('STORE_IO', `copying the starter files into the workspace failed: ${e.message}`, { hint: 'the workspace may be full: raise the class quota' });
    });
  }

  async listStarter(classId: string): Promise<Array<{ path: string; bytes: number }>> {
    const out: Array<{ path: string; bytes: number }> = [];
    const walk = async (dir: string, prefix: string) => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(join(dir, e.name), rel);
        else if (e.isFile()) out.push({ path: rel, bytes: (await stat(join(dir, e.name))).size });
      }
    };
    await walk(this.starterDir(classId), '');
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Stores one starter file (replacing one of the same path), streamed from the request. */
  async putStarter(classId: string, relPath: string, body: ReadableStream<Uint8Array> | null): Promise<{ path: string; bytes: number }> {
    const rel = checkRelativePath(relPath);
    const used = (await this.listStarter(classId)).filter((f) => f.path !== rel).reduce((n, f) => n + f.bytes, 0);
    const dest = join(this.starterDir(classId), rel);
    await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
    const tmp = `${dest}.${randomBytes(4).toString('hex')}.upload`;
    try {
      const bytes = await saveUpload(body, tmp, STARTER_MAX_BYTES - used, `starter files (${STARTER_MAX_BYTES / MiB} MiB per class)`);
      await chmod(tmp, 0o644);
      const { rename } = await import('node:fs/promises');
      await rename(tmp, dest);
      return { path: rel, bytes };
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async deleteStarter(classId: string, relPath: string): Promise<void> {
    const rel = checkRelativePath(relPath);
    await unlink(join(this.starterDir(classId), rel)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new RegError('FILE_NOT_FOUND', `no starter file ${rel}`, { field: 'path' });
      throw e;
    });
  }

  /**
   * Writes one uploaded file into every listed student's workspace at `relPath` (their workspace
   * is made first if they never opened one). A student's own file of the same name is kept; a
   * file larger than the quota is refused before anything is written.
   */
  async distribute(
    cls: WorkspaceClass,
    students: Array<{ userId: string; username: string }>,
    relPath: string,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<{ path: string; bytes: number; delivered: number; failures: Array<{ userId: string; username: string; code: string; message: string }> }> {
    const rel = checkRelativePath(relPath);
    const quota = this.quotaOf(cls);
    const stage = await mkdtemp(join(tmpdir(), 'reg-distribute-'));
    try {
      await chmod(stage, 0o711);
      const staged = join(stage, randomBytes(8).toString('hex'));
      const bytes = await saveUpload(body, staged, quota.bytes, `the class's workspace quota (${Math.round(quota.bytes / MiB)} MiB)`);
      await chmod(staged, 0o644);
      let delivered = 0;
      const failures: Array<{ userId: string; username: string; code: string; message: string }> = [];
      for (const s of students) {
        try {
          const ws = await this.ensure(cls, s.userId);
          await runAs(ws.uid, 'sh', ['-c', DISTRIBUTE_SCRIPT, 'distribute', rel, staged], ws.home);
          delivered++;
        } catch (e) {
          const msg = (e as Error).message;
          if (/exit 3/.test(msg)) failures.push({ ...s, code: 'EXISTS', message: `kept ${s.username}'s own ${rel} (a file of that name is already there)` });
          else if (/No space left|quota exceeded/i.test(msg)) failures.push({ ...s, code: 'QUOTA', message: `${s.username}'s workspace is full (quota ${Math.round(quota.bytes / MiB)} MiB)` });
          else failures.push({ ...s, code: (e as RegError).code ?? 'FAILED', message: msg });
        }
      }
      return { path: rel, bytes, delivered, failures };
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  }

  /**
   * A zip streamed as it is made: one folder per entry (`prefix/`), each the student's `relPath`
   * (or whole home) read by tar running as the student. Nothing is buffered whole; a client that
   * goes away stops the readers.
   */
  zip(entries: Array<{ prefix: string; cls: WorkspaceClass; userId: string; relPath?: string }>): Readable {
    const zip = new yazl.ZipFile();
    const out = zip.outputStream as Readable;
    let current: ReturnType<typeof spawn> | undefined;
    let gone = false;
    out.on('close', () => {
      gone = true;
      current?.kill('SIGKILL');
    });
    const missing: string[] = [];
    void (async () => {
      const existing = new Map<string, Set<string>>();
      for (const e of entries) {
        if (gone) break;
        try {
          // A student who never opened a terminal has no workspace: nothing to read (and none is
          // made just to be read, which would also skip their starter files later).
          if (!existing.has(e.cls.id)) existing.set(e.cls.id, new Set(await this.store.list(e.cls.id)));
          if (!existing.get(e.cls.id)!.has(e.userId)) {
            missing.push(`${e.prefix || '.'}: no workspace yet`);
            continue;
          }
          const ws = await this.store.ensure({ classId: e.cls.id, userId: e.userId }, this.quotaOf(e.cls));
          const target = e.relPath ?? '.';
          if (e.relPath && !(await runAs(ws.uid, 'test', ['-e', e.relPath], ws.path).then(() => true, () => false))) {
            missing.push(`${e.prefix || '.'}: no ${e.relPath}`);
            continue;
          }
          // cwd is entered before the uid changes (libuv), so the student needs no way through REG_HOME.
          const child = spawn('tar', ['-cf', '-', '--', target], { cwd: ws.path, uid: ws.uid, gid: ws.uid, stdio: ['ignore', 'pipe', 'ignore'] });
          current = child;
          await tarIntoZip(child.stdout!, zip, e.prefix);
          await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('close', r)));
        } catch (err) {
          missing.push(`${e.prefix || '.'}: ${(err as Error).message}`);
        }
      }
      if (missing.length) zip.addBuffer(Buffer.from(`Not collected:\n${missing.join('\n')}\n`), 'NOT-COLLECTED.txt');
      zip.end();
    })();
    return out;
  }
}

/** Run as the student: refuse to overwrite (exit 3), make the folders, copy. */
const DISTRIBUTE_SCRIPT = 'set -e; if [ -e "$1" ] || [ -L "$1" ]; then exit 3; fi; mkdir -p -- "$(dirname -- "$1")"; cp -- "$2" "$1"';

const run = (cmd: string, args: string[]) => runAs(undefined, cmd, args);

/** Runs a tool as `uid` (undefined: as the host) in `cwd`, entered before the uid changes. */
function runAs(uid: number | undefined, cmd: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...(uid !== undefined && { uid, gid: uid }), ...(cwd && { cwd }), stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin', LANG: 'C' } });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${err.trim() || cmd} (exit ${code})`))));
  });
}

/** Streams a request body to a file, refusing it once it passes `max` bytes. */
async function saveUpload(body: ReadableStream<Uint8Array> | null, dest: string, max: number, what: string): Promise<number> {
  if (!body) throw new RegError('USAGE', 'the upload is empty: send the file as the request body', { field: 'file' });
  const tooLarge = () => new RegError('USAGE', `the file is larger than ${what}`, { field: 'file', hint: 'upload a smaller file, or raise the class quota' });
  let bytes = 0;
  const out = createWriteStream(dest, { mode: 0o600 });
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      // Past the limit the rest is read and dropped (a client still sending would otherwise see
      // its connection cut instead of the answer), up to a point.
      if (bytes > max) {
        if (bytes > max + 64 * 1024 * 1024) break;
        continue;
      }
      if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    reader.releaseLock();
  }
  if (bytes > max) throw tooLarge();
  return bytes;
}

function tarIntoZip(tar: Readable, zip: yazl.ZipFile, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const extract = tarStream.extract();
    extract.on('entry', (header, stream, next) => {
      const name = posix.normalize(header.name).replace(/^(\.\/)+/, '').replace(/^\.$/, '');
      const full = (prefix ? `${prefix}/${name}` : name).replace(/\/+$/, '');
      const opts = { mtime: header.mtime ?? new Date(), mode: header.mode ?? 0o644 };
      if (header.type === 'file' && full) {
        // yazl reads this stream when it reaches the entry; the next tar entry waits for its end.
        stream.on('end', next);
        zip.addReadStream(stream, full, { ...opts, size: header.size ?? 0 });
        return;
      }
      if (header.type === 'directory' && full) zip.addEmptyDirectory(full, opts);
      // symlinks and special files are not copied out
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    tar.on('error', reject);
    tar.pipe(extract);
  });
}
