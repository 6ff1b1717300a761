// Where a student's container goes: a pure function of the live hosts, so it is unit-tested
// without hosts. Rules, in order:
//   1. the host that already holds the student's workspace lease, if it is live and has room
//      (the image is mounted there; moving it costs a mount and gains nothing);
//   2. otherwise among live hosts with at least `needBytes` free, the best score:
//        free memory   (its share of the roomiest host's free memory)            weight 1
//      + RET cached    (the class's environment is in its store: no pull)        weight 0.5
//      − class spread  (its share of the class beyond the least-loaded host's,
//                       relative to the average per host)                        weight 1
//      ties go to fewer containers, then to the smaller id (deterministic).
// Spreading a class limits how many of its students one host failure interrupts; RETs cached
// keep a class start off the registry; free memory keeps hosts from being packed unevenly.
//
// planClass places a whole class at once (Start class) by running placeContainer for each student
// in turn on a copy of the hosts: each placement takes what a container is expected to use
// (`expectedBytes`, a few MiB in Reg, not the `needBytes` headroom a host must keep) off that
// host's free memory and adds one to its class count. Charging the headroom instead made three
// hosts with 15 GiB free "full" after ~120 students each, and the rest of 1000 all went to one.
// The RET-cached term is left out of a class plan: the pre-pull that follows puts the class's
// RETs on every host chosen, and the term would let the host that already held them take half an
// average share more of the class (444/278/278 of 1000).

export interface PlacementHost {
  id: string;
  freeMemoryBytes: number;
  /** "name@version" of the RETs in its store. */
  rets: readonly string[];
  /** Running containers, all classes. */
  containers: number;
}

export interface PlacementRequest {
  /** The class environment's RET ("name@version", or a name). */
  ret: string;
  /** Free memory a host must have to take one more container. */
  needBytes: number;
  /** Containers of this class on each host (missing: 0). */
  classCounts: ReadonlyMap<string, number>;
  /** The host holding the student's workspace lease, if any. */
  leaseHolder?: string;
}

export type Placement =
  | { ok: true; hostId: string; why: 'lease' | 'score'; score: number }
  | { ok: false; reason: string };

export const WEIGHTS = { freeMemory: 1, retCached: 0.5, classSpread: 1 } as const;

export function hasRet(host: PlacementHost, ret: string): boolean {
  // "python@3.11" is held by "python@3.11.2"; a bare name by any version.
  return host.rets.some((r) => r === ret || r.startsWith(ret.includes('@') ? `${ret}.` : `${ret}@`));
}

export function scoreHosts(hosts: readonly PlacementHost[], req: PlacementRequest): Array<{ host: PlacementHost; score: number }> {
  const roomy = hosts.filter((h) => h.freeMemoryBytes >= req.needBytes);
  if (roomy.length === 0) return [];
  const maxFree = Math.max(...roomy.map((h) => h.freeMemoryBytes)) || 1;
  const counts = roomy.map((h) => req.classCounts.get(h.id) ?? 0);
  const minCount = Math.min(...counts);
  const avg = Math.max(1, counts.reduce((a, b) => a + b, 0) / roomy.length);
  return roomy
    .map((host, i) => ({
      host,
      score: WEIGHTS.freeMemory * (host.freeMemoryBytes / maxFree) + (hasRet(host, req.ret) ? WEIGHTS.retCached : 0) - WEIGHTS.classSpread * ((counts[i]! - minCount) / avg),
    }))
    .sort((a, b) => b.score - a.score || a.host.containers - b.host.containers || a.host.id.localeCompare(b.host.id));
}

export function placeContainer(hosts: readonly PlacementHost[], req: PlacementRequest): Placement {
  if (hosts.length === 0) return { ok: false, reason: 'no sandbox host is up' };
  const holder = req.leaseHolder ? hosts.find((h) => h.id === req.leaseHolder) : undefined;
  if (holder && holder.freeMemoryBytes >= req.needBytes) return { ok: true, hostId: holder.id, why: 'lease', score: Number.NaN };
  const ranked = scoreHosts(hosts, req);
  if (ranked.length === 0) {
    const best = Math.max(...hosts.map((h) => h.freeMemoryBytes));
    return { ok: false, reason: `no sandbox host has ${mib(req.needBytes)} MiB free (the most is ${mib(best)} MiB on ${hosts.length} live host${hosts.length === 1 ? '' : 's'})` };
  }
  return { ok: true, hostId: ranked[0]!.host.id, why: 'score', score: ranked[0]!.score };
}

export interface ClassPlanRequest {
  ret: string;
  needBytes: number;
  /** What one more container is expected to take from a host's free memory. */
  expectedBytes: number;
  /** Containers of this class on each host already. */
  classCounts: ReadonlyMap<string, number>;
  students: ReadonlyArray<{ userId: string; leaseHolder?: string }>;
}

/**
 * Which host prepares which student. A student no host has room for goes to the host with the
 * fewest of the class (their open is placed again at the click, when memory may have freed).
 * Empty `hosts`: an empty plan.
 */
export function planClass(hosts: readonly PlacementHost[], req: ClassPlanRequest): Map<string, string[]> {
  const plan = new Map<string, string[]>();
  if (hosts.length === 0) return plan;
  const sim = hosts.map((h) => ({ ...h, rets: [req.ret] }));
  const counts = new Map(req.classCounts);
  for (const s of req.students) {
    const p = placeContainer(sim, { ret: req.ret, needBytes: req.needBytes, classCounts: counts, ...(s.leaseHolder && { leaseHolder: s.leaseHolder }) });
    const fewest = (a: PlacementHost, b: PlacementHost) => (counts.get(a.id) ?? 0) - (counts.get(b.id) ?? 0) || a.id.localeCompare(b.id);
    const hostId = p.ok ? p.hostId : sim.reduce((best, h) => (fewest(h, best) < 0 ? h : best)).id;
    plan.set(hostId, [...(plan.get(hostId) ?? []), s.userId]);
    counts.set(hostId, (counts.get(hostId) ?? 0) + 1);
    const h = sim.find((x) => x.id === hostId)!;
    h.freeMemoryBytes -= req.expectedBytes;
    h.containers += 1;
  }
  return plan;
}

const mib = (b: number) => Math.floor(b / 2 ** 20);
