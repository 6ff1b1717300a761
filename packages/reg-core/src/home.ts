// Where Reg keeps its state. Everything lives under one directory (REG_HOME, default
// /var/lib/reg) so that blobs and the layer trees hard-linked to them share one filesystem,
// and so tests and benchmarks can point Reg at a temp dir.

import { join } from 'node:path';

export interface RegHome {
  root: string;
  /** Content-addressed blobs: store/blobs/<2 hex>/<62 hex>[-x]. */
  blobs: string;
  /** Temp files on the same filesystem as blobs, renamed into place. */
  tmp: string;
  /** RET documents: rets/<name>/<version>.yaml (+ .meta.json, a small header cache). */
  rets: string;
  /** One hard-link tree per RET content: layers/<name>@<version>-<lockId>/. */
  layers: string;
  /** Cached results of resolving a RET closure: closures/<key>.json. */
  closures: string;
  /** Per-container state and upper/work dirs. */
  containers: string;
}

export function regHome(root = process.env.REG_HOME || '/var/lib/reg'): RegHome {
  return {
    root,
    blobs: join(root, 'store', 'blobs'),
    tmp: join(root, 'store', 'tmp'),
    rets: join(root, 'rets'),
    layers: join(root, 'layers'),
    closures: join(root, 'closures'),
    containers: join(root, 'containers'),
  };
}
