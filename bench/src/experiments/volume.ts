// Experiment 1 — volume: what Reg stores against what Docker images hold.
//   - RET build time for python and node (into an empty store, in process);
//   - the store for python+node against the sum of their closures (deduplication);
//   - each runtime's closure (exported as one hard-link tree) against its Docker image tree,
//     counted by the same walker, plus `docker image inspect` size;
//   - the store for all five services against the sum of their Docker images;
//   - materialise(): the per-container cost of finding a closure's lower layers, median of R
//     calls, for python and for synthetic one-RET runtimes of 100 / 1,000 / 10,000 files.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext, ImageName } from '../context.js';
import { addRet, exportTree, materialise, storeStats } from '../reg-core.js';
import { SERVICE_ORDER, Services, type ServiceName } from '../services.js';
import { median } from '../stats.js';
import { treeSize, type TreeSize } from '../tree-size.js';

export interface VolumeRow {
  service: ServiceName;
  ref: string;
  closure: TreeSize;
  image?: TreeSize & { dockerBytes?: number; packages: string };
}

export interface MaterialiseRow {
  label: string;
  files: number;
  rets: number;
  /** The first call: resolves, checks for conflicts, builds missing layer trees. */
  firstMs: number;
  medianMs: number;
  p95Ms: number;
}

export interface VolumeResult {
  builds: Array<{ binary: string; runtime: string; ms: number; rets: number; newBytes: number }>;
  pythonNode: { storeBytes: number; storeBlobs: number; closureBytes: number; savedBytes: number };
  all: { storeBytes: number; closureBytes: number; imageBytes?: number; dockerBytes?: number };
  rows: VolumeRow[];
  materialise: MaterialiseRow[];
}

const RUNTIME_PACKAGES: Record<ImageName, string> = {
  python: 'python3',
  node: 'host node + npm copied',
  nginx: 'nginx',
  mariadb: 'mariadb-server',
  tomcat: 'tomcat10',
};

export async function volumeExperiment(ctx: BenchContext): Promise<VolumeResult> {
  const home = ctx.reg.home;
  // python then node into the empty store: the second build finds libc & co. already stored.
  await ctx.buildRuntime('/usr/bin/python3.11');
  await ctx.buildRuntime('/usr/bin/node');
  const pn = await storeStats(home);
  const pythonNode = { storeBytes: pn.bytes, storeBlobs: pn.blobs, closureBytes: pn.logicalBytes, savedBytes: pn.savedBytes };

  const services = new Services(ctx);
  const refs = await services.regRefs();
  const rows: VolumeRow[] = [];
  let imageBytes = 0;
  let dockerBytes = 0;
  let imagesComplete = true;
  for (const name of SERVICE_ORDER) {
    const ref = refs[name];
    const out = join(ctx.tmp, 'closures', name);
    await exportTree(home, ref, out);
    const row: VolumeRow = { service: name, ref, closure: await treeSize(out) };
    const image = services.specs[name].image;
    try {
      const tree = await ctx.tree(image);
      const size = await treeSize(tree);
      const tag = await ctx.image(image);
      const d = await ctx.docker();
      const inspected = tag && d ? await d.imageSize(tag) : undefined;
      row.image = { ...size, packages: RUNTIME_PACKAGES[image], ...(inspected !== undefined && { dockerBytes: inspected }) };
      imageBytes += size.bytes;
      if (inspected !== undefined) dockerBytes += inspected;
      else imagesComplete = false;
    } catch (e) {
      imagesComplete = false;
      ctx.note(`volume: no image tree for ${name}: ${(e as Error).message}`);
    }
    rows.push(row);
    ctx.log(`volume ${name}: closure ${row.closure.files} files ${(row.closure.bytes / 2 ** 20).toFixed(1)} MiB; image ${row.image ? `${row.image.files} files ${(row.image.bytes / 2 ** 20).toFixed(1)} MiB` : '–'}`);
  }
  const st = await storeStats(home);
  const all = {
    storeBytes: st.bytes,
    closureBytes: rows.reduce((n, r) => n + r.closure.bytes, 0),
    ...(rows.every((r) => r.image) && { imageBytes }),
    ...(imagesComplete && { dockerBytes }),
  };

  const builds = [...ctx.builds].map(([binary, b]) => ({ binary, ...b }));
  return { builds, pythonNode, all, rows, materialise: await materialiseTimes(ctx, refs.python) };
}

async function timeMaterialise(ctx: BenchContext, ref: string, label: string, files: number, rets: number): Promise<MaterialiseRow> {
  const t0 = performance.now();
  await materialise(ctx.reg.home, ref);
  const firstMs = performance.now() - t0;
  const samples: number[] = [];
  for (let i = 0; i < ctx.opts.materialiseRuns; i++) {
    const t = performance.now();
    await materialise(ctx.reg.home, ref);
    samples.push(performance.now() - t);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { label, files, rets, firstMs, medianMs: median(samples), p95Ms: sorted[Math.ceil(sorted.length * 0.95) - 1]! };
}

async function materialiseTimes(ctx: BenchContext, pythonRef: string): Promise<MaterialiseRow[]> {
  const rows: MaterialiseRow[] = [];
  const m = await materialise(ctx.reg.home, pythonRef);
  const files = (await storeStats(ctx.reg.home)).closures.find((c) => c.ret.startsWith('python@'))?.files ?? 0;
  rows.push(await timeMaterialise(ctx, pythonRef, `${pythonRef} (real)`, files, m.rets.length));
  for (const n of ctx.opts.quick ? [100, 1000] : [100, 1000, 10000]) {
    // A one-RET runtime of n small distinct files under /opt/synth.
    const root = join(ctx.tmp, 'synthetic', String(n));
    const dir = join(root, 'opt', `synth${n}`);
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < n; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, k) => writeFile(join(dir, `f${String(i + k).padStart(5, '0')}.txt`), `synthetic file ${i + k}\n`)));
    }
    const yaml = join(root, 'ret.yaml');
    await writeFile(yaml, `name: synth${n}\nversion: "1"\nkind: data\nfiles:\n  tree: /opt/synth${n}\n`);
    await addRet(ctx.reg.home, yaml, { root });
    rows.push(await timeMaterialise(ctx, `synth${n}@1`, `synthetic, ${n.toLocaleString('en')} files`, n, 1));
  }
  return rows;
}
