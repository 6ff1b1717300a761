// Inserting: Running → Inserting → Running. A RET (a tool, a library) is added to a running
// container without restarting it: its layers — those of its closure the container lacks — are
// overlaid read-only on the top-level directories they fill (/usr, /etc, ...) inside the
// container's mount namespace. Running processes keep their open files; new lookups see the new
// files. Uninstall re-overlays the remaining inserted layers (or an empty one).

import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RegError } from '../errors.js';
import { runLauncher } from '../launch/launcher.js';
import { insertArgs } from '../launch/plan.js';
import { materialiseOrPull } from './generate.js';
import type { EngineContext } from './context.js';
import { refresh } from './refresh.js';
import { saveState, type ContainerState } from './state.js';
import { assertTransition } from './status.js';

/** Directories a RET may not overlay: they are the container's own mounts. */
const RESERVED = new Set(['proc', 'dev', 'sys', 'tmp', 'work', 'run']);

async function topLevelDirs(layer: string): Promise<string[]> {
  const entries = await readdir(layer, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

async function applyInserted(ctx: EngineContext, s: ContainerState, inserted: ContainerState['inserted'], dirs: Set<string>): Promise<void> {
  const layers = inserted.flatMap((i) => i.lowerdirs).reverse(); // the latest insert on top
  const empty = join(ctx.home.layers, '.empty');
  for (const dir of [...dirs].sort()) {
    const has: string[] = [];
    for (const l of layers) if ((await topLevelDirs(l)).includes(dir)) has.push(l);
    if (has.length === 0) {
      await mkdir(join(empty, dir), { recursive: true });
      has.push(empty);
    }
    const r = await runLauncher(insertArgs(s, has, [`/${dir}`]));
    if (r.code !== 0) {
      const why = r.events.find((e) => e.event === 'setup-failed');
      throw new RegError('LAUNCH_FAILED', `cannot overlay /${dir} in container ${s.id}: ${why ? `${why.step}: ${why.error}` : r.stderr.trim()}`, { hint: 'is the container still running?' });
    }
  }
}

export async function insert(ctx: EngineContext, id: string, ref: string): Promise<ContainerState> {
  const s = await refresh(ctx, id);
  assertTransition(s.id, s.status, 'insert');
  const m = await materialiseOrPull(ctx, ref);
  const present = new Set([...s.lowerdirs, ...s.inserted.flatMap((i) => i.lowerdirs)]);
  const lowerdirs = m.lowerdirs.filter((l) => !present.has(l));
  if (lowerdirs.length === 0) {
    throw new RegError('ILLEGAL_TRANSITION', `${ref} is already in container ${s.id}`, { field: 'ret', hint: 'nothing to insert' });
  }
  const dirs = new Set<string>();
  for (const l of lowerdirs) for (const d of await topLevelDirs(l)) dirs.add(d);
  const reserved = [...dirs].filter((d) => RESERVED.has(d));
  if (reserved.length) {
    throw new RegError('USAGE', `${ref} puts files under /${reserved[0]}, which a running container cannot take`, { field: 'ret', hint: 'only RETs that install under /usr, /etc, /opt, ... can be inserted' });
  }
  return transition(ctx, s, [...s.inserted, { ref, rets: m.rets.map((r) => `${r.name}@${r.version}`), lowerdirs }], dirs);
}

export async function uninstall(ctx: EngineContext, id: string, ref: string): Promise<ContainerState> {
  const s = await refresh(ctx, id);
  assertTransition(s.id, s.status, 'insert');
  const gone = s.inserted.find((i) => i.ref === ref);
  if (!gone) {
    throw new RegError('RET_NOT_FOUND', `${ref} was not inserted into container ${s.id}`, { field: 'ret', hint: `inserted: ${s.inserted.map((i) => i.ref).join(', ') || 'nothing'}` });
  }
  const dirs = new Set<string>();
  for (const l of gone.lowerdirs) for (const d of await topLevelDirs(l)) dirs.add(d);
  return transition(ctx, s, s.inserted.filter((i) => i !== gone), dirs);
}

/** Running → Inserting → Running around re-overlaying `dirs` with the `inserted` set. */
async function transition(ctx: EngineContext, s: ContainerState, inserted: ContainerState['inserted'], dirs: Set<string>): Promise<ContainerState> {
  s.status = 'inserting';
  await saveState(ctx.home, s);
  try {
    await applyInserted(ctx, s, inserted, dirs);
    s.inserted = inserted;
  } finally {
    s.status = 'running';
    await saveState(ctx.home, s);
  }
  return refresh(ctx, s.id);
}
