// The resolver: a reference (python@3.11) → the RET and everything it requires, recursively →
// a file plan (path inside the container → blob, mode, link target). Pure over what it reads:
// the graph walk reads only RET headers; the plan reads locks. Cycles, missing RETs and two
// RETs that disagree about one path are errors naming the RETs and paths involved.

import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { findRet, loadMeta, loadRet, type RetMeta } from '../ret/repository.js';
import { modeToNumber } from '../ret/lock.js';
import type { LockedRet } from '../ret/schema.js';
import { parseRef } from '../ret/version.js';
import { findCycle } from './graph.js';

export interface RetGraph {
  /** The RET asked for, then its requirements in breadth-first order, each once. */
  rets: RetMeta[];
}

const id = (m: { name: string; version: string }) => `${m.name}@${m.version}`;

export async function resolveGraph(home: RegHome, ref: string): Promise<RetGraph> {
  const root = await findRet(home, parseRef(ref));
  const byId = new Map<string, RetMeta>();
  const edges = new Map<string, string[]>();
  const queue: Array<{ name: string; version: string }> = [root];
  while (queue.length) {
    const next = queue.shift()!;
    if (byId.has(id(next))) continue;
    const meta = await loadMeta(home, next.name, next.version);
    byId.set(id(meta), meta);
    const deps: string[] = [];
    for (const req of meta.requires) {
      const dep = await findRet(home, parseRef(req), id(meta));
      deps.push(id(dep));
      queue.push(dep);
    }
    edges.set(id(meta), deps);
  }
  const cycle = findCycle([id(root)], edges);
  if (cycle) {
    throw new RegError('DEPENDENCY_CYCLE', `RET requirements form a cycle: ${cycle.join(' → ')}`, {
      hint: 'remove one of these requires; library RETs may require each other only one way',
    });
  }
  return { rets: [...byId.values()] };
}

export type PlanEntry =
  | { kind: 'file'; digest: string; executable: boolean; mode: number; size: number; ret: string }
  | { kind: 'link'; target: string; ret: string }
  | { kind: 'dir'; mode: number; ret: string };

export type FilePlan = Map<string, PlanEntry>;

function describe(e: PlanEntry): string {
  if (e.kind === 'file') return `a file (${e.digest.slice(7, 19)}…, mode ${e.mode.toString(8)})`;
  if (e.kind === 'link') return `a symlink to ${e.target}`;
  return 'a directory';
}

function same(a: PlanEntry, b: PlanEntry): boolean {
  if (a.kind === 'file' && b.kind === 'file') return a.digest === b.digest && a.executable === b.executable;
  if (a.kind === 'link' && b.kind === 'link') return a.target === b.target;
  return a.kind === 'dir' && b.kind === 'dir';
}

function conflict(path: string, a: PlanEntry, b: PlanEntry): RegError {
  return new RegError('PATH_CONFLICT', `RETs ${a.ret} and ${b.ret} disagree about /${path}: ${a.ret} has ${describe(a)}, ${b.ret} has ${describe(b)}`, {
    field: `/${path}`,
    hint: 'two RETs of one container may share a path only with identical content; rebuild one of them or drop it from requires',
  });
}

/** Adds one RET's lock to a plan; implied parent directories are planned too. */
export function addToPlan(plan: FilePlan, ret: LockedRet): void {
  const owner = id(ret);
  const put = (path: string, entry: PlanEntry) => {
    const prev = plan.get(path);
    if (!prev) plan.set(path, entry);
    else if (!same(prev, entry)) throw conflict(path, prev, entry);
  };
  for (const e of ret.lock.files) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) put(parts.slice(0, i).join('/'), { kind: 'dir', mode: 0o755, ret: owner });
    if (e.digest !== undefined) {
      const mode = modeToNumber(e.mode, 0o644);
      put(e.path, { kind: 'file', digest: e.digest, executable: (mode & 0o111) !== 0, mode, size: e.size ?? 0, ret: owner });
    } else if (e.link !== undefined) put(e.path, { kind: 'link', target: e.link, ret: owner });
    else put(e.path, { kind: 'dir', mode: modeToNumber(e.mode, 0o755), ret: owner });
  }
}

/** The complete file plan of a resolved graph. */
export async function filePlan(home: RegHome, graph: RetGraph): Promise<FilePlan> {
  const plan: FilePlan = new Map();
  for (const m of graph.rets) addToPlan(plan, await loadRet(home, m.name, m.version));
  return plan;
}
