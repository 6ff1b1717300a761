// Pushing a RET and everything it requires (its local closure) to an OCI registry, as one artifact
// per RET in NAMESPACE/<name>:<version> (artifact.ts). Only what the registry lacks travels:
//   - a RET whose tag already points at the identical manifest is skipped after one HEAD;
//   - otherwise each blob is HEADed in the target repository; one the registry holds elsewhere in
//     this push (another RET of the same namespace) is cross-repository mounted; the rest is
//     uploaded, in one PUT up to `chunkSize` or in PATCH chunks beyond.
// Uploads of one digest are serialised, so the second RET needing it can mount instead of upload.
// Manifests go up requirements first, so the registry never offers a RET whose requirements are
// missing. Blobs run with bounded concurrency; transient failures are retried with backoff.

import { open } from 'node:fs/promises';
import { RegError, isRegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { resolveGraph } from '../resolve/resolve.js';
import { findRet, loadRet } from '../ret/repository.js';
import { modeToNumber, type LockedRet } from '../ret/schema.js';
import { parseRef } from '../ret/version.js';
import { blobPath, isExecutableMode } from '../store/blob-path.js';
import { OCI_EMPTY_BYTES, OCI_EMPTY_DIGEST, retArtifact, type Descriptor, type RetArtifact } from './artifact.js';
import { storedSize } from '../store/put.js';
import { OCI_MANIFEST, RegistryClient, type ClientOptions, type ClientStats } from './client.js';
import { dependencyOrder } from '../resolve/graph.js';
import { createLimiter, DEFAULT_CONCURRENCY } from './limiter.js';
import type { ProgressSink } from './progress.js';
import { parseRegistryTarget, repositoryOf, versionToTag, type RegistryTarget } from './reference.js';

export const DEFAULT_CHUNK_SIZE = 16 << 20;

export interface PushOptions extends Omit<ClientOptions, 'home'> {
  concurrency?: number;
  /** Blobs above this size are uploaded in PATCH chunks of this size (default 16 MiB). */
  chunkSize?: number;
  onProgress?: ProgressSink;
}

export interface PushedRet {
  name: string;
  version: string;
  repository: string;
  tag: string;
  /** pushed: the manifest was written; up-to-date: the tag already held this exact manifest. */
  status: 'pushed' | 'up-to-date';
  manifestDigest: string;
  blobsUploaded: number;
  blobsMounted: number;
  blobsPresent: number;
  bytesUploaded: number;
}

export interface PushReport {
  registry: string;
  /** name@version of the RET asked for. */
  root: string;
  /** Every RET of the closure, requirements first. */
  rets: PushedRet[];
  blobsUploaded: number;
  blobsMounted: number;
  blobsPresent: number;
  bytesUploaded: number;
  requests: ClientStats;
  seconds: number;
}

interface Item {
  id: string;
  ret: LockedRet;
  art: RetArtifact;
  repo: string;
  tag: string;
  deps: string[];
  report: PushedRet;
}

type Reader = (offset: number, length: number) => Promise<Buffer>;

function bufferReader(buf: Buffer): Reader {
  return async (offset, length) => buf.subarray(offset, offset + length);
}

function fileReader(path: string): Reader {
  return async (offset, length) => {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      let n = 0;
      while (n < length) {
        const { bytesRead } = await fh.read(buf, n, length - n, offset + n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      if (n < length) throw new RegError('DIGEST_MISMATCH', `${path} is shorter than its blob size`, { file: path, hint: 'the local store is damaged: run `reg store verify`' });
      return buf;
    } finally {
      await fh.close();
    }
  };
}

/** Where the store holds a blob: the variant the lock asks for, else the other one. */
async function storedBlob(home: RegHome, ret: LockedRet, digest: string, size: number): Promise<string> {
  const entry = ret.lock.files.find((e) => e.digest === digest);
  const executable = entry ? isExecutableMode(modeToNumber(entry.mode, 0o644)) : false;
  for (const x of [executable, !executable]) {
    const p = blobPath(home.blobs, digest, x);
    if ((await storedSize(p)) === size) return p;
  }
  throw new RegError('BLOB_MISSING', `the store lacks blob ${digest} of RET ${ret.name}@${ret.version}${entry ? ` (for /${entry.path})` : ''}`, {
    hint: 'rebuild or pull the RET; `reg store verify` lists what else is missing',
  });
}

/** Pushes `ref` and its whole local closure to REGISTRY/NAMESPACE. */
export async function pushRet(home: RegHome, ref: string, registry: string | RegistryTarget, opts: PushOptions = {}): Promise<PushReport> {
  const started = Date.now();
  const target = typeof registry === 'string' ? parseRegistryTarget(registry) : registry;
  const graph = await resolveGraph(home, ref); // local: RET_NOT_FOUND, DEPENDENCY_CYCLE
  const items = new Map<string, Item>();
  for (const meta of graph.rets) {
    const ret = await loadRet(home, meta.name, meta.version);
    const key = `${meta.name}@${meta.version}`;
    const deps: string[] = [];
    for (const r of meta.requires) {
      const d = await findRet(home, parseRef(r), key);
      deps.push(`${d.name}@${d.version}`);
    }
    const art = retArtifact(ret);
    const repo = repositoryOf(target, meta.name);
    const tag = versionToTag(meta.version);
    items.set(key, {
      id: key,
      ret,
      art,
      repo,
      tag,
      deps,
      report: { name: meta.name, version: meta.version, repository: repo, tag, status: 'pushed', manifestDigest: art.manifestDigest, blobsUploaded: 0, blobsMounted: 0, blobsPresent: 0, bytesUploaded: 0 },
    });
  }
  const root = `${graph.rets[0]!.name}@${graph.rets[0]!.version}`;
  const order = dependencyOrder([root], new Map([...items.values()].map((i) => [i.id, i.deps] as const)));

  const client = await RegistryClient.open(target, { ...opts, home });
  const limit = createLimiter(opts.concurrency ?? DEFAULT_CONCURRENCY);
  const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const progress = opts.onProgress ?? (() => {});
  const knownIn = new Map<string, Set<string>>(); // digest → repositories holding it
  const chains = new Map<string, Promise<unknown>>(); // digest → last operation on it
  let aborted = false;

  const remember = (digest: string, repo: string) => {
    let s = knownIn.get(digest);
    if (!s) knownIn.set(digest, (s = new Set()));
    s.add(repo);
  };

  const ensureBlob = (item: Item, d: Descriptor, reader: () => Promise<Reader>): Promise<void> => {
    const what = `pushing blob ${d.digest} of RET ${item.id}`;
    const previous = chains.get(d.digest) ?? Promise.resolve();
    // Wait for the previous operation on this digest outside the pool (see limiter.ts).
    const op = previous
      .catch(() => {})
      .then(() =>
        limit(async () => {
          if (aborted) throw new Error('aborted');
          const r = item.report;
          const known = knownIn.get(d.digest);
          if (known?.has(item.repo) || (await client.hasBlob(item.repo, d.digest, what))) {
            r.blobsPresent++;
          } else {
            let session: URL | undefined;
            const from = [...(known ?? [])].find((x) => x !== item.repo);
            const mounted = from ? await client.mountBlob(item.repo, d.digest, from, `${what} (mounting from ${from})`) : undefined;
            if (mounted === true) r.blobsMounted++;
            else {
              session = mounted;
              await client.uploadBlob(item.repo, d.digest, d.size, await reader(), { chunkSize, ...(session && { session }), what });
              r.blobsUploaded++;
              r.bytesUploaded += d.size;
              progress({ type: 'bytes', ret: item.id, bytes: d.size });
            }
          }
          remember(d.digest, item.repo);
          progress({ type: 'file', ret: item.id });
        }),
      );
    chains.set(d.digest, op);
    return op;
  };

  const pushItem = async (item: Item, depsDone: Array<Promise<void>>): Promise<void> => {
    const head = await limit(() => client.headManifest(item.repo, item.tag, `checking ${item.id} in ${item.repo}`));
    if (head?.digest === item.art.manifestDigest) {
      for (const d of [item.art.configDescriptor, ...item.art.layers]) remember(d.digest, item.repo);
      item.report.status = 'up-to-date';
      await Promise.all(depsDone);
      progress({ type: 'done', ret: item.id, outcome: 'up to date' });
      return;
    }
    const layers = item.art.layers;
    progress({ type: 'plan', ret: item.id, files: layers.length + 1, bytes: layers.reduce((n, l) => n + l.size, item.art.config.length) });
    await Promise.all([
      ensureBlob(item, item.art.configDescriptor, async () => bufferReader(item.art.config)),
      ...layers.map((l) =>
        ensureBlob(item, l, async () => (l.digest === OCI_EMPTY_DIGEST && l.size === OCI_EMPTY_BYTES.length ? bufferReader(OCI_EMPTY_BYTES) : fileReader(await storedBlob(home, item.ret, l.digest, l.size)))),
      ),
    ]);
    await Promise.all(depsDone); // requirements' manifests first
    const digest = await limit(() => client.putManifest(item.repo, item.tag, item.art.manifest, OCI_MANIFEST, `writing the manifest of ${item.id} to ${item.repo}:${item.tag}`));
    if (digest && digest !== item.art.manifestDigest) {
      throw new RegError('REGISTRY_PROTOCOL', `registry ${target.host} stored the manifest of ${item.id} as ${digest}, not ${item.art.manifestDigest}`, {
        hint: 'the registry rewrote the manifest; Reg needs registries that store manifests as sent',
      });
    }
    progress({ type: 'done', ret: item.id, outcome: 'pushed' });
  };

  const done = new Map<string, Promise<void>>();
  for (const key of order) {
    const item = items.get(key)!;
    const p = pushItem(item, item.deps.map((d) => done.get(d)!));
    p.catch(() => {
      aborted = true;
    });
    done.set(key, p);
  }
  const results = await Promise.allSettled(done.values());
  // Report the root cause, not an "aborted" of a task that stopped because of it.
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  const failure = failures.find((e) => isRegError(e)) ?? failures[0];
  if (failure !== undefined) throw failure;

  const rets = order.map((k) => items.get(k)!.report);
  const sum = (f: (r: PushedRet) => number) => rets.reduce((n, r) => n + f(r), 0);
  return {
    registry: target.display,
    root,
    rets,
    blobsUploaded: sum((r) => r.blobsUploaded),
    blobsMounted: sum((r) => r.blobsMounted),
    blobsPresent: sum((r) => r.blobsPresent),
    bytesUploaded: sum((r) => r.bytesUploaded),
    requests: client.stats,
    seconds: (Date.now() - started) / 1000,
  };
}
