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

const mib = (b: number) => Math.floor(b / 2 ** 20);
