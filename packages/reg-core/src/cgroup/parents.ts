// Each REG_HOME's cgroup parent (reg, or reg-<hash>) in every hierarchy: marked with the home it
// belongs to, removed when its last container goes, and pruned when its home no longer exists
// (`reg cgroup prune`). The marks live in /run/reg/cgroup-parents/<parent> (a tmpfs, cleared at
// boot like the cgroups themselves), since a cgroup directory cannot hold a file of our own.

import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';
export const PARENT_MARKS = '/run/reg/cgroup-parents';
/** Where the v2 driver records renames (v2.ts), per parent. */
export const CGROUP_NAMES = '/run/reg/cgroup-names';

/** The parent's directory in every hierarchy (v2: root itself; v1: each controller mount). */
export async function parentDirs(parent: string, root = CGROUP_ROOT): Promise<string[]> {
  const hierarchies = await readdir(root, { withFileTypes: true }).catch(() => []);
  return [join(root, parent), ...hierarchies.filter((d) => d.isDirectory()).map((d) => join(root, d.name, parent))];
}

/** Records which home a parent belongs to (idempotent; best effort: /run may be read-only). */
export async function markParent(parent: string, homeRoot: string, marks = PARENT_MARKS): Promise<void> {
  const file = join(marks, parent);
  if ((await readFile(file, 'utf8').catch(() => '')) === homeRoot) return;
  await mkdir(marks, { recursive: true, mode: 0o755 }).catch(() => {});
  await writeFile(file, homeRoot).catch(() => {});
}

/** rmdir of the parent wherever it is empty (EBUSY/ENOTEMPTY: still in use, kept). */
export async function removeParentIfEmpty(parent: string, root = CGROUP_ROOT): Promise<void> {
  for (const d of await parentDirs(parent, root)) await rmdir(d).catch(() => {});
}

export interface PruneReport {
  /** Parents removed, with the home they belonged to (or "unknown"). */
  removed: Array<{ parent: string; home: string }>;
  /** Parents kept although their home is gone: a cgroup below still has processes. */
  busy: Array<{ parent: string; home: string; cgroups: string[] }>;
}

/**
 * Removes the cgroup parents of REG_HOMEs that no longer exist (and unmarked reg-<hash> parents
 * left by older versions), with their empty child cgroups. A child that still has processes is
 * never killed here: its parent is reported busy.
 */
export async function pruneCgroupParents(opts: { root?: string; marks?: string; names?: string; dryRun?: boolean } = {}): Promise<PruneReport> {
  const root = opts.root ?? CGROUP_ROOT;
  const marks = opts.marks ?? PARENT_MARKS;
  const names = new Set<string>();
  for (const dir of [root, ...(await readdir(root, { withFileTypes: true }).catch(() => [])).filter((d) => d.isDirectory()).map((d) => join(root, d.name))]) {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory() && (e.name === 'reg' || /^reg-[0-9a-f]{12}$/.test(e.name))) names.add(e.name);
    }
  }
  const report: PruneReport = { removed: [], busy: [] };
  for (const parent of [...names].sort()) {
    const home = (await readFile(join(marks, parent), 'utf8').catch(() => '')) || (parent === 'reg' ? '/var/lib/reg' : '');
    if (home && (await stat(home).then(() => true, () => false))) continue; // its home is alive
    const busy = await removeParent(parent, { root, marks, names: opts.names ?? CGROUP_NAMES, dryRun: !!opts.dryRun });
    if (busy.length) report.busy.push({ parent, home: home || 'unknown', cgroups: busy });
    else report.removed.push({ parent, home: home || 'unknown' });
  }
  return report;
}

/**
 * Removes one parent with its empty child cgroups (idle pool members, parked launchers' and
 * containers' cgroups whose processes are gone), its mark and its v2 rename records; returns the
 * children that still have processes (never killed here).
 */
async function removeParent(parent: string, o: { root: string; marks: string; names: string; dryRun: boolean }): Promise<string[]> {
  const busy = new Set<string>();
  for (const dir of await parentDirs(parent, o.root)) {
    for (const child of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!child.isDirectory()) continue;
      if (o.dryRun) busy.add(child.name);
      else await rmdir(join(dir, child.name)).catch(() => busy.add(child.name));
    }
    if (!o.dryRun) await rmdir(dir).catch(() => {});
  }
  if (!busy.size && !o.dryRun) {
    await rm(join(o.marks, parent), { force: true });
    // The v2 driver's record of renamed (pooled) cgroups under that parent goes with it.
    await rm(join(o.names, parent), { recursive: true, force: true });
  }
  return [...busy].sort();
}

/**
 * For a REG_HOME being deleted (tests, benchmarks, a cluster's temp dirs): removes its cgroup
 * parent (`cgroupParentFor(home)`) with every empty child, waiting up to `waitMs` for processes that are
 * still exiting (a killed host's parked launchers end on their pty's hangup). Returns the
 * children still busy after that.
 */
export async function removeCgroupParent(parent: string, opts: { waitMs?: number; root?: string } = {}): Promise<string[]> {
  const o = { root: opts.root ?? CGROUP_ROOT, marks: PARENT_MARKS, names: CGROUP_NAMES, dryRun: false };
  const deadline = Date.now() + (opts.waitMs ?? 3000);
  for (;;) {
    const busy = await removeParent(parent, o);
    if (!busy.length || Date.now() >= deadline) return busy;
    await new Promise((r) => setTimeout(r, 100));
  }
}
