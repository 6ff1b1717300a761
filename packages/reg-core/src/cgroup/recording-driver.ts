// An in-memory CgroupDriver that records every call, for testing lifecycle logic anywhere (no
// root, no cgroupfs). It keeps just enough state (names, limits, pids) to answer exists/pids/list.

import type { CgroupDriver, CgroupLimits, CgroupStats } from './driver.js';
import { assertCgroupName, validateLimits } from './driver.js';

export type RecordedCgroupCall =
  | { op: 'create' | 'setLimits'; name: string; limits: CgroupLimits }
  | { op: 'killAll' | 'remove' | 'resetForReuse'; name: string }
  | { op: 'rename'; name: string; to: string };

export class RecordingCgroupDriver implements CgroupDriver {
  readonly calls: RecordedCgroupCall[] = [];
  /** Live cgroups: tests may push pids into them to simulate a launched container. */
  readonly groups = new Map<string, { limits: CgroupLimits; pids: number[]; stats: CgroupStats }>();

  constructor(readonly version: 1 | 2 = 2) {}

  async create(name: string, limits: CgroupLimits): Promise<{ procsFiles: string[] }> {
    assertCgroupName(name);
    const clean = validateLimits(limits);
    this.calls.push({ op: 'create', name, limits: clean });
    if (!this.groups.has(name)) this.groups.set(name, { limits: clean, pids: [], stats: { memoryBytes: 0, oomKills: 0, pids: 0 } });
    return { procsFiles: [`/fake/reg/${name}/cgroup.procs`] };
  }

  async setLimits(name: string, limits: CgroupLimits): Promise<void> {
    const clean = validateLimits(limits);
    this.calls.push({ op: 'setLimits', name, limits: clean });
    const group = this.groups.get(name);
    if (group) group.limits = { ...group.limits, ...clean };
  }

  async procsFiles(name: string): Promise<string[]> {
    return [`/fake/reg/${name}/cgroup.procs`];
  }

  async exists(name: string): Promise<boolean> {
    return this.groups.has(name);
  }

  async pids(name: string): Promise<number[]> {
    return [...(this.groups.get(name)?.pids ?? [])];
  }

  async stats(name: string): Promise<CgroupStats> {
    const group = this.groups.get(name);
    return group ? { ...group.stats, pids: group.pids.length } : { memoryBytes: 0, oomKills: 0, pids: 0 };
  }

  async killAll(name: string): Promise<void> {
    this.calls.push({ op: 'killAll', name });
    const group = this.groups.get(name);
    if (group) group.pids = [];
  }

  async killMany(names: string[]): Promise<void> {
    for (const name of names) await this.killAll(name);
  }

  async remove(name: string): Promise<void> {
    this.calls.push({ op: 'remove', name });
    this.groups.delete(name);
  }

  async list(): Promise<string[]> {
    return [...this.groups.keys()].sort();
  }

  async rename(from: string, to: string): Promise<void> {
    assertCgroupName(to);
    this.calls.push({ op: 'rename', name: from, to });
    const group = this.groups.get(from);
    if (!group || this.groups.has(to)) throw new Error(`fake rename ${from} -> ${to}: ${group ? 'target exists' : 'no such cgroup'}`);
    this.groups.delete(from);
    this.groups.set(to, group);
  }

  async resetForReuse(name: string): Promise<boolean> {
    this.calls.push({ op: 'resetForReuse', name });
    const group = this.groups.get(name);
    if (!group || group.pids.length > 0 || group.stats.oomKills > 0) return false;
    group.limits = {};
    group.stats = { memoryBytes: 0, oomKills: 0, pids: 0 };
    return true;
  }
}
