// Pulling RETs and, recursively, the RETs they require from an OCI registry into the store.
//
//   1. Discover: for each reference, list the repository's tags and take the highest version
//      satisfying the range; fetch its manifest (checked to be a RET artifact) and, unless the
//      local YAML is byte-identical to the manifest's config, the YAML itself (digest-checked,
//      validated by parseRet: a lock path escaping the tree is refused). Then the same for what
//      it requires. A requirement the registry does not offer may be satisfied locally. Cycles
//      are refused (DEPENDENCY_CYCLE) once the graph is known.
//   2. Fetch the blobs the store lacks, with bounded concurrency and retries: each body streams
//      into store/tmp while hashed and is renamed into place only when it matches (blob-sink.ts).
//      A file's mode comes from the lock: executables are the "-x" variant; when the store already
//      holds the other variant of a digest, it is copied locally instead of fetched.
//   3. Save the RET documents, requirements first, only once every blob is in.
// Any failure takes back every blob, RET and directory this pull created, so the store is exactly
// as before — unless `keepPartial` asks to keep the verified blobs, making a retry fetch only the
// rest (`reg store gc` removes them if the pull is abandoned).

import { readFile, rm, rmdir, stat, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError, isRegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { parseRet } from '../ret/parse.js';
import { listVersions, loadMeta, loadRet, saveRet, bumpRetGeneration } from '../ret/repository.js';
import { isLocked, modeToNumber, type LockedRet } from '../ret/schema.js';
import { formatRef, maxSatisfying, parseRef } from '../ret/version.js';
import { blobPath, isExecutableMode } from '../store/blob-path.js';
import { BlobWriter, hashFile } from '../store/put.js';
import { checkLockAgainstManifest, MAX_CONFIG_BYTES, parseRetManifest } from './artifact.js';
import { BlobSink, TruncatedTransfer } from './blob-sink.js';
import { storedSize } from '../store/put.js';
import { markTransient, RegistryClient, unreachable, type ClientOptions, type ClientStats } from './client.js';
import { dependencyOrder, findCycle } from '../resolve/graph.js';
import { createLimiter, DEFAULT_CONCURRENCY } from './limiter.js';
import type { ProgressSink } from './progress.js';
import { parseRegistryTarget, repositoryOf, tagToVersion, versionToTag, type RegistryTarget } from './reference.js';

export interface PullOptions extends Omit<ClientOptions, 'home'> {
  /** REGISTRY/NAMESPACE to pull from. */
  registry: string | RegistryTarget;
  /** Parallel transfers (default 8). */
  concurrency?: number;
  /** On failure keep the blobs already verified and stored, so a retry resumes. */
  keepPartial?: boolean;
  onProgress?: ProgressSink;
}

export interface PulledRet {
  name: string;
  version: string;
  /** pulled: saved now; up-to-date: the local YAML was identical; local: not in the registry, satisfied by the store. */
  status: 'pulled' | 'up-to-date' | 'local';
  repository?: string;
  /** Blobs fetched from the registry for this RET, and their bytes. */
  blobsFetched: number;
  bytesFetched: number;
}

export interface PullReport {
  registry: string;
  /** name@version of each reference asked for. */
  roots: string[];
  /** Every RET of the closures, requirements first. */
  rets: PulledRet[];
  blobsFetched: number;
  bytesFetched: number;
  /** Blobs made from the other mode variant already in the store (no transfer). */
  blobsCopied: number;
  requests: ClientStats;
  seconds: number;
}

interface Node {
  id: string;
  name: string;
  version: string;
  source: 'registry' | 'local';
  repo: string;
  tag: string;
  ret?: LockedRet;
  upToDate: boolean;
  deps: string[];
}

interface BlobTask {
  digest: string;
  size: number;
  variants: boolean[];
  node: Node;
}

async function* emptyBody(): AsyncIterable<Uint8Array> {}

const id = (name: string, version: string) => `${name}@${version}`;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Re-throws a RET validation error with the registry and RET in front. */
function fromRegistry(e: unknown, what: string): never {
  if (isRegError(e) && (e.code === 'RET_INVALID' || e.code === 'PATH_ESCAPES')) {
    throw new RegError(e.code, `${what}: ${e.message}`, {
      ...(e.file && { file: e.file }),
      ...(e.field && { field: e.field }),
      ...(e.issues && { issues: e.issues }),
      hint: 'the registry holds a RET that Reg refuses; nothing of it was stored',
      cause: e,
    });
  }
  throw e;
}

/** Pulls one reference and its requirements. */
export function pullRet(home: RegHome, ref: string, opts: PullOptions): Promise<PullReport> {
  return pullMany(home, [ref], opts);
}

/** Pulls several references (e.g. what a class needs) in one go, sharing blobs and requests. */
export async function pullMany(home: RegHome, refs: readonly string[], opts: PullOptions): Promise<PullReport> {
  const started = Date.now();
  const target = typeof opts.registry === 'string' ? parseRegistryTarget(opts.registry) : opts.registry;
  const client = await RegistryClient.open(target, { ...opts, home });
  const limit = createLimiter(opts.concurrency ?? DEFAULT_CONCURRENCY);
  const progress = opts.onProgress ?? (() => {});
  const registry = target.display;

  // ---- 1. discover the graph ----------------------------------------------------------------
  const nodes = new Map<string, Node>();
  const loading = new Map<string, Promise<void>>();
  const tags = new Map<string, Promise<string[] | undefined>>();

  const remoteVersions = (name: string): Promise<string[] | undefined> => {
    const repo = repositoryOf(target, name);
    let p = tags.get(repo);
    if (!p) {
      p = limit(() => client.listTags(repo, `listing the versions of ${name} (${repo})`)).then((t) =>
        t?.map(tagToVersion).filter((v): v is string => v !== undefined),
      );
      tags.set(repo, p);
    }
    return p;
  };

  const resolve = async (ref: string, requiredBy: string | undefined): Promise<string> => {
    const r = parseRef(ref, requiredBy ? `requires of ${requiredBy}` : 'REF');
    const versions = await remoteVersions(r.name);
    const version = versions && maxSatisfying(versions, r.range);
    if (version) {
      visit(r.name, version, 'registry');
      return id(r.name, version);
    }
    if (requiredBy) {
      const local = maxSatisfying(await listVersions(home, r.name), r.range);
      if (local) {
        visit(r.name, local, 'local');
        return id(r.name, local);
      }
    }
    const there = versions === undefined ? `it has no repository ${repositoryOf(target, r.name)}` : `versions there: ${versions.join(', ') || 'none'}`;
    throw new RegError('REGISTRY_NOT_FOUND', `registry ${registry} offers no RET matching ${formatRef(r)}${requiredBy ? ` (required by ${requiredBy})` : ''}; ${there}`, {
      hint: requiredBy ? `push ${r.name} to ${registry} (reg push pushes a RET with everything it requires)` : `list what it offers: reg search ${registry}`,
    });
  };

  const visit = (name: string, version: string, source: Node['source']) => {
    const key = id(name, version);
    if (!loading.has(key)) loading.set(key, load(name, version, source));
  };

  const load = async (name: string, version: string, source: Node['source']): Promise<void> => {
    const repo = repositoryOf(target, name);
    const tag = versionToTag(version);
    const node: Node = { id: id(name, version), name, version, source, repo, tag, upToDate: false, deps: [] };
    nodes.set(node.id, node);
    let requires: string[];
    if (source === 'local') {
      requires = (await loadMeta(home, name, version)).requires;
    } else {
      const where = `${target.host}/${repo}:${tag}`;
      const m = await limit(() => client.getManifest(repo, tag, `fetching the manifest of ${node.id}`));
      const manifest = parseRetManifest(m.bytes, m.mediaType, `RET ${node.id} in registry ${registry} (${where})`);
      const localYaml = join(home.rets, name, `${version}.yaml`);
      const localDigest = (await exists(localYaml)) ? (await hashFile(localYaml)).digest : undefined;
      let ret: LockedRet;
      if (localDigest === manifest.config.digest) {
        ret = await loadRet(home, name, version);
        node.upToDate = true;
      } else {
        const what = `fetching the YAML (blob ${manifest.config.digest}) of RET ${node.id}`;
        const bytes = await limit(() => client.getBlob(repo, manifest.config.digest, MAX_CONFIG_BYTES, what));
        let parsed;
        try {
          parsed = parseRet(bytes.toString('utf8'), where);
        } catch (e) {
          fromRegistry(e, `RET ${node.id} from registry ${registry}`);
        }
        if (!isLocked(parsed)) throw new RegError('RET_INVALID', `RET ${node.id} from registry ${registry} has no lock`, { file: where, field: 'lock' });
        if (parsed.name !== name || parsed.version !== version) {
          throw new RegError('REGISTRY_PROTOCOL', `registry ${registry}: ${where} holds ${parsed.name}@${parsed.version}, not ${node.id}`, {
            hint: 'the tag and the RET inside disagree; re-push it with `reg push`',
          });
        }
        ret = parsed;
      }
      checkLockAgainstManifest(ret, manifest, `RET ${node.id} in registry ${registry} (${where})`);
      node.ret = ret;
      requires = [...(ret.libs ?? []), ...(ret.requires ?? [])];
    }
    node.deps = await Promise.all(requires.map((r) => resolve(r, node.id)));
  };

  const rootResults = await Promise.allSettled(refs.map((r) => resolve(r, undefined)));
  // New nodes appear while others load: wait until a round adds none. Settle everything before
  // reporting, so nothing still runs in the background when the caller sees the error.
  for (let seen = -1; seen !== loading.size; ) {
    seen = loading.size;
    const results = await Promise.allSettled([...loading.values()]);
    const failed = [...rootResults, ...results].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
  const roots = rootResults.map((r) => (r as PromiseFulfilledResult<string>).value);
  const edges = new Map([...nodes.values()].map((n) => [n.id, n.deps] as const));
  const cycle = findCycle(roots, edges);
  if (cycle) {
    throw new RegError('DEPENDENCY_CYCLE', `RETs in registry ${registry} require each other: ${cycle.join(' → ')}`, {
      hint: 'a RET may not require itself, directly or through others; fix the requires and push again. Nothing was stored.',
    });
  }
  const order = dependencyOrder(roots, edges).map((k) => nodes.get(k)!);

  // ---- 2. fetch the blobs the store lacks ---------------------------------------------------
  const tasks = new Map<string, BlobTask>();
  const perRet = new Map<string, { files: number; bytes: number; left: number; fetched: number; fetchedBytes: number }>();
  const wanted = new Set<string>();
  for (const node of order) {
    if (!node.ret) continue;
    const counts = { files: 0, bytes: 0, left: 0, fetched: 0, fetchedBytes: 0 };
    perRet.set(node.id, counts);
    const files = node.ret.lock.files
      .filter((e) => e.digest !== undefined)
      .map((e) => ({ digest: e.digest!, size: e.size ?? 0, executable: isExecutableMode(modeToNumber(e.mode, 0o644)) }))
      .filter((e) => {
        const key = `${e.digest}${e.executable ? '-x' : ''}`;
        return wanted.has(key) ? false : (wanted.add(key), true);
      });
    const sizes = await Promise.all(files.map((e) => storedSize(blobPath(home.blobs, e.digest, e.executable))));
    for (const [i, e] of files.entries()) {
      const { size, executable } = e;
      if (sizes[i] === size) continue;
      const task = tasks.get(e.digest);
      if (task) task.variants.push(executable);
      else {
        tasks.set(e.digest, { digest: e.digest, size, variants: [executable], node });
        counts.files++;
        counts.bytes += size;
        counts.left++;
      }
    }
    if (counts.files) progress({ type: 'plan', ret: node.id, files: counts.files, bytes: counts.bytes });
  }

  const dirsBefore = await Promise.all([home.root, join(home.root, 'store'), home.blobs, home.tmp, home.rets].map(async (d) => [d, await exists(d)] as const));
  const sink = new BlobSink(home);
  const writer = new BlobWriter(home);
  const saved: Array<{ name: string; version: string; previous?: string }> = [];
  let blobsFetched = 0;
  let bytesFetched = 0;
  let blobsCopied = 0;
  let aborted = false;

  const fetchBlob = (t: BlobTask, executable: boolean): Promise<string> => {
    const what = `fetching blob ${t.digest} of RET ${t.node.id}`;
    const where = `blob ${t.digest} of RET ${t.node.id} from registry ${registry}`;
    return client.retrying(async () => {
      const res = await client.openBlob(t.node.repo, t.digest, what);
      try {
        return await sink.write(t.digest, t.size, executable, res.body ?? emptyBody(), where, (n) => {
          client.countIn(n);
          progress({ type: 'bytes', ret: t.node.id, bytes: n });
        });
      } catch (e) {
        if (e instanceof TruncatedTransfer) {
          throw markTransient(new RegError('REGISTRY_UNREACHABLE', `registry ${registry}: transfer of ${where} ${e.message}`, { hint: 'the connection dropped; pull again (with --keep-partial to keep what was verified)' }));
        }
        if (isRegError(e)) throw e;
        throw unreachable(target.host, what, e);
      } finally {
        await res.body?.cancel().catch(() => {});
      }
    });
  };

  const copyVariant = async (source: string, t: BlobTask, executable: boolean) => {
    const r = await writer.putFile(source, executable);
    if (r.digest !== t.digest) {
      throw new RegError('DIGEST_MISMATCH', `the store's copy of blob ${t.digest} (needed by RET ${t.node.id}) hashes to ${r.digest}`, {
        file: source,
        hint: 'the local store is damaged: run `reg store verify`',
      });
    }
  };

  const runTask = async (t: BlobTask) => {
    if (aborted) return;
    const [first, ...others] = t.variants as [boolean, ...boolean[]];
    const counts = perRet.get(t.node.id)!;
    const otherVariant = blobPath(home.blobs, t.digest, !first);
    let source: string;
    if ((await storedSize(otherVariant)) === t.size) {
      await copyVariant(otherVariant, t, first);
      source = otherVariant;
      blobsCopied++;
    } else {
      source = await fetchBlob(t, first);
      blobsFetched++;
      bytesFetched += t.size;
      counts.fetched++;
      counts.fetchedBytes += t.size;
    }
    for (const v of others) {
      await copyVariant(source, t, v);
      blobsCopied++;
    }
    progress({ type: 'file', ret: t.node.id });
    if (--counts.left === 0) progress({ type: 'done', ret: t.node.id, outcome: 'fetched' });
  };

  try {
    const results = await Promise.allSettled(
      [...tasks.values()].map((t) =>
        limit(() => runTask(t)).catch((e: unknown) => {
          aborted = true; // queued tasks skip; those in flight finish or fail
          throw e;
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    // Blobs this pull created carry the mtime their lock records (python's .pyc check needs it).
    const created = new Set([...sink.created, ...writer.created]);
    if (created.size) {
      for (const node of order) {
        for (const e of node.ret?.lock.files ?? []) {
          if (e.digest === undefined || e.mtime === undefined) continue;
          const p = blobPath(home.blobs, e.digest, isExecutableMode(modeToNumber(e.mode, 0o644)));
          if (created.delete(p)) await utimes(p, e.mtime, e.mtime).catch(() => {});
        }
      }
    }

    // ---- 3. save the RETs, requirements first ---------------------------------------------
    for (const node of order) {
      if (!node.ret) continue;
      if (!node.upToDate) {
        const file = join(home.rets, node.name, `${node.version}.yaml`);
        const previous = await readFile(file, 'utf8').catch(() => undefined);
        saved.push({ name: node.name, version: node.version, ...(previous !== undefined && { previous }) });
        await saveRet(home, node.ret);
      }
      if (perRet.get(node.id)!.files === 0) progress({ type: 'done', ret: node.id, outcome: node.upToDate ? 'up to date' : 'pulled (its files were already in the store)' });
    }
  } catch (e) {
    for (const s of saved.reverse()) {
      const dir = join(home.rets, s.name);
      await rm(join(dir, `${s.version}.meta.json`), { force: true }).catch(() => {});
      if (s.previous !== undefined) await writeFile(join(dir, `${s.version}.yaml`), s.previous).catch(() => {});
      else {
        await rm(join(dir, `${s.version}.yaml`), { force: true }).catch(() => {});
        await rmdir(dir).catch(() => {});
      }
    }
    if (saved.length) await bumpRetGeneration(home);
    if (!opts.keepPartial) {
      await sink.rollback();
      await writer.rollback();
      for (const [dir, existed] of dirsBefore.reverse()) if (!existed) await rmdir(dir).catch(() => {});
    }
    throw e;
  }

  return {
    registry,
    roots,
    rets: order.map((n) => {
      const c = perRet.get(n.id);
      return {
        name: n.name,
        version: n.version,
        status: n.source === 'local' ? 'local' : n.upToDate ? 'up-to-date' : 'pulled',
        ...(n.source === 'registry' && { repository: n.repo }),
        blobsFetched: c?.fetched ?? 0,
        bytesFetched: c?.fetchedBytes ?? 0,
      };
    }),
    blobsFetched,
    bytesFetched,
    blobsCopied,
    requests: client.stats,
    seconds: (Date.now() - started) / 1000,
  };
}
