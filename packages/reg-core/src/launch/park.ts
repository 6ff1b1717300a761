// Parked launchers: `reg-launch park` processes started ahead of time, each already in its own
// (pooled) cgroup with its namespaces made, waiting on a root-only unix socket for a container's
// plan (packages/native/src/park.c). On cgroup v1 joining four controllers costs a start 10-12 ms
// (every migration waits for an RCU grace period); a parked launcher has paid that before anyone
// is waiting, and a start only renames its cgroup to the container's and sends the plan. SOCK
// (ATC '18) pools its containers' cgroups and zygotes for the same reason.
//
// A member lives in REG_HOME/run/pool/<dir>/: `<id>.json` (who it is) and `<id>.sock` (its control
// socket, which appears only once the launcher listens: "exists" means ready). Taking a member is
// renaming its socket to `<id>.taken`, atomic across processes. Members made with the default
// spawner (detached, stdio /dev/null) live in the shared directory, so short-lived CLI processes
// find the ones an earlier process parked; members made with a caller's spawner (the host's
// node-pty) are that process's own (host-<pid>/) and die with it.

import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { chmod, mkdir, readFile, readdir, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupDriver } from '../cgroup/driver.js';
import { isSameProcess, processStartTime, waitForExit } from '../container/proc.js';
import type { ContainerState } from '../container/state.js';
import { RegError } from '../errors.js';
import type { RegHome } from '../home.js';
import { childProcessSpawner, launcherPath, type SpawnLauncher, type SpawnedLauncher } from './launcher.js';

/** What a parked launcher was made with and a plan must agree with: its network namespace. */
export type PoolKey = 'isolated' | 'shared-net';
export const POOL_KEYS: readonly PoolKey[] = ['isolated', 'shared-net'];

/** The key a container's start needs (its network: a fresh namespace, or the host's). */
export const poolKeyOf = (s: Pick<ContainerState, 'network'>): PoolKey => (s.network === 'host' ? 'shared-net' : 'isolated');

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface PoolMember {
  id: string;
  key: PoolKey;
  /** The parked launcher; after the plan, the container's outer launcher. */
  pid: number;
  startTime?: string;
  /** Its control socket (already claimed: nobody else can take it). */
  control: string;
  /** Its cgroup (`park-<id>`), renamed to the container's on start. */
  cgroup: string;
  procsFiles: string[];
  /** Settles when the process exits (a child's exit, or a poll of a process another CLI made). */
  exited: Promise<Exit>;
  /** Kills a member that will not be used and recycles its cgroup (a start that failed before the plan). */
  discard(): Promise<void>;
  /** Forgets the member's files once its plan has been sent. */
  handedOver(): Promise<void>;
}

export interface LauncherPoolOptions {
  /** How members are spawned; default child_process, detached, stdio /dev/null (shared members). */
  spawn?: SpawnLauncher;
  /** Members kept parked per key (a floor refilled after every take; default none). */
  min?: Partial<Record<PoolKey, number>>;
  /** Parked members at most, all keys together (default 256). */
  max?: number;
  /** Members above the floor parked this long are let go (default 5 min). */
  idleMs?: number;
  /** A shared member with no taker for this long exits by itself (default 1 h): a CLI pool needs no janitor. */
  idleTimeoutSeconds?: number;
}

export interface PoolStatus {
  dir: string;
  shared: boolean;
  members: Array<{ id: string; key: PoolKey; pid: number; cgroup: string; ageMs: number; ready: boolean }>;
  byKey: Record<PoolKey, { ready: number; starting: number; min: number }>;
}

interface MemberRecord {
  id: string;
  key: PoolKey;
  pid: number;
  startTime?: string;
  cgroup: string;
  procsFiles: string[];
  parkedAt: number;
}

interface OwnMember extends MemberRecord {
  exited: Promise<Exit>;
  ready: boolean;
  /** Its record file is written (until then only this process knows it). */
  recorded: boolean;
}

const ID = /^[0-9a-f]{8}$/;
export const isParkCgroup = (name: string) => /^park-[0-9a-f]{8}$/.test(name);
const DEFAULT_MAX = 256;
const DEFAULT_IDLE_MS = 5 * 60_000;
const DEFAULT_IDLE_TIMEOUT_S = 3600;
/** A member that has not listened after this long is broken (it failed setup, or the machine is stalled). */
const READY_TIMEOUT_MS = 10_000;

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The pool directory root; created root-only (the sockets are 0600 too). */
export const poolRoot = (home: RegHome) => join(home.root, 'run', 'pool');

async function processExit(pid: number, startTime: string | undefined): Promise<Exit> {
  await waitForExit(pid, startTime, Number.MAX_SAFE_INTEGER, 100);
  return { code: null, signal: null };
}

export class LauncherPool {
  private spawner: SpawnLauncher;
  private custom: boolean;
  private readonly own = new Map<string, OwnMember>();
  private readonly making = new Set<string>();
  private readonly min: Record<PoolKey, number> = { isolated: 0, 'shared-net': 0 };
  private readonly max: number;
  private readonly idleMs: number;
  private readonly idleTimeoutSeconds: number;
  private filling: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly home: RegHome,
    private readonly cgroups: CgroupDriver,
    opts: LauncherPoolOptions = {},
  ) {
    this.custom = !!opts.spawn;
    this.spawner = opts.spawn ?? childProcessSpawner({ detached: true, stdio: 'ignore' });
    this.max = opts.max ?? DEFAULT_MAX;
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
    this.idleTimeoutSeconds = opts.idleTimeoutSeconds ?? DEFAULT_IDLE_TIMEOUT_S;
    for (const k of POOL_KEYS) this.min[k] = opts.min?.[k] ?? 0;
  }

  /**
   * Members from now on are spawned by fn (the host's node-pty: each member sits under its pty
   * already). Such members are this process's own; the shared directory is then left alone.
   * Members parked before are drained.
   */
  async setSpawner(fn: SpawnLauncher): Promise<void> {
    await this.drainOwn();
    this.spawner = fn;
    this.custom = true;
  }

  /** Whether members come from a caller's spawner (a pty) rather than detached /dev/null ones. */
  get hasCustomSpawner(): boolean {
    return this.custom;
  }

  /** This pool's directory: the shared one, or this process's own. */
  get dir(): string {
    return join(poolRoot(this.home), this.custom ? `host-${process.pid}` : 'shared');
  }

  private async ensureDir(): Promise<string> {
    const root = poolRoot(this.home);
    await mkdir(root, { recursive: true, mode: 0o700 });
    await chmod(root, 0o700);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    return this.dir;
  }

  /** A floor for key, refilled after every take and never shrunk below (a class waiting for its students). */
  setMin(key: PoolKey, n: number): Promise<void> {
    this.min[key] = Math.max(0, Math.min(Math.floor(n), this.max));
    this.schedule();
    return this.fill(key, this.min[key]);
  }

  /** Grows key's parked members to at least n now (members above the floor are shrunk when idle). */
  reserve(n: number, key: PoolKey = 'isolated'): Promise<void> {
    return this.fill(key, n);
  }

  /**
   * Grows key to n parked members in total (ready or starting), one spawn per macrotask so a large
   * fill never holds the event loop (node-pty's forkpty is synchronous). Resolves when they listen.
   */
  fill(key: PoolKey, n: number): Promise<void> {
    const run = this.filling.then(async () => {
      const dir = await this.ensureDir();
      const target = Math.min(n, this.max);
      const waits: Promise<boolean>[] = [];
      // Fills run one after another (this.filling), so nothing else spawns for us meanwhile.
      const need = Math.min(target - (await this.count(key)), this.max - this.parkedTotal());
      for (let i = 0; i < need && !this.closed; i++) {
        waits.push(this.spawnMember(dir, key).catch(() => false));
        await macrotask();
      }
      await Promise.all(waits);
      this.schedule();
    });
    this.filling = run.catch(() => {});
    return run;
  }

  private parkedTotal(): number {
    return this.own.size;
  }

  /**
   * Members of key parked or starting: this process's own, plus the shared directory's for a
   * shared pool (an own member another process took has lost its record: not counted).
   */
  private async count(key: PoolKey): Promise<number> {
    const ids = new Set<string>();
    for (const m of this.own.values()) if (m.key === key && (this.custom || !m.recorded)) ids.add(m.id);
    if (!this.custom) for (const r of await this.records()) if (r.key === key) ids.add(r.id);
    return ids.size;
  }

  private async records(): Promise<MemberRecord[]> {
    const out: MemberRecord[] = [];
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const taken = new Set(names.filter((f) => f.endsWith('.taken')).map((f) => f.slice(0, -6)));
    for (const f of names) {
      // A claimed member's record stays until its plan is handed over: it is no longer parked.
      if (!f.endsWith('.json') || !ID.test(f.slice(0, -5)) || taken.has(f.slice(0, -5))) continue;
      const r = await readRecord(join(this.dir, f));
      if (!r) continue;
      // A member that exited while parked (its --idle-timeout, a kill) is cleaned up by whoever looks first.
      if (!(await isSameProcess(r.pid, r.startTime))) {
        if (!this.own.has(r.id)) await this.forget(this.dir, r);
        continue;
      }
      out.push(r);
    }
    return out;
  }

  private async spawnMember(dir: string, key: PoolKey): Promise<boolean> {
    const id = randomBytes(4).toString('hex');
    const cgroup = `park-${id}`;
    const control = join(dir, `${id}.sock`);
    this.making.add(cgroup); // named before it has a record: reconcile must not take it for a stray
    let procsFiles: string[];
    try {
      ({ procsFiles } = await this.cgroups.create(cgroup, {}));
    } catch (e) {
      this.making.delete(cgroup);
      throw e;
    }
    const args = ['park', '--control', control, ...procsFiles.flatMap((f) => ['--cgroup-procs', f])];
    if (key === 'shared-net') args.push('--share-net');
    if (!this.custom) args.push('--idle-timeout', String(this.idleTimeoutSeconds));
    let spawned: SpawnedLauncher;
    try {
      spawned = this.spawner(launcherPath(), args);
    } catch (e) {
      this.making.delete(cgroup);
      await this.cgroups.remove(cgroup).catch(() => {});
      throw e;
    }
    const startTime = await processStartTime(spawned.pid);
    const record: MemberRecord = { id, key, pid: spawned.pid, ...(startTime && { startTime }), cgroup, procsFiles, parkedAt: Date.now() };
    const member: OwnMember = { ...record, exited: spawned.exited, ready: false, recorded: false };
    this.own.set(id, member);
    this.making.delete(cgroup);
    await writeFile(join(dir, `${id}.json`), JSON.stringify(record), { mode: 0o600 });
    member.recorded = true;
    // Parked or not, a member that exits before it is taken leaves its cgroup and files behind.
    void spawned.exited.then(() => this.forget(dir, member, { parkedOnly: true }));
    // Ready = its socket exists (the launcher renames it into place after listen()).
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && this.own.get(id) === member) {
      if (await exists(control)) {
        member.ready = true;
        return true;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    if (this.own.get(id) === member) await this.kill(dir, member);
    return false;
  }

  /** Removes a member's files and recycles its cgroup (only while it was still parked, with parkedOnly). */
  private async forget(dir: string, m: MemberRecord, opts: { parkedOnly?: boolean } = {}): Promise<void> {
    const wasOwn = this.own.get(m.id);
    if (opts.parkedOnly && !wasOwn) return; // taken: its cgroup is a container's now
    this.own.delete(m.id);
    await Promise.all([`${m.id}.json`, `${m.id}.sock`, `${m.id}.sock.tmp`, `${m.id}.taken`].map((f) => unlink(join(dir, f)).catch(() => {})));
    await this.cgroups.remove(m.cgroup).catch(() => {});
  }

  private async kill(dir: string, m: MemberRecord): Promise<void> {
    if (await isSameProcess(m.pid, m.startTime)) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await waitForExit(m.pid, m.startTime, 2000, 5);
    }
    await this.forget(dir, m);
  }

  /**
   * A ready member of key, claimed for the caller (nobody else can take it), or undefined. A
   * member whose process died or whose cgroup vanished is dropped (and replaced) on the way.
   */
  async take(key: PoolKey): Promise<PoolMember | undefined> {
    if (this.closed) return undefined;
    const dir = this.dir;
    const candidates: MemberRecord[] = this.custom
      ? [...this.own.values()].filter((m) => m.key === key && m.ready).sort((a, b) => a.parkedAt - b.parkedAt)
      : (await this.records()).filter((r) => r.key === key).sort((a, b) => a.parkedAt - b.parkedAt);
    for (const r of candidates) {
      const sock = join(dir, `${r.id}.sock`);
      const taken = join(dir, `${r.id}.taken`);
      try {
        await rename(sock, taken);
      } catch {
        // not listening yet, or another process took it first
        continue;
      }
      const own = this.own.get(r.id);
      this.own.delete(r.id);
      if (!(await isSameProcess(r.pid, r.startTime)) || !(await this.cgroups.exists(r.cgroup))) {
        // Died, or its cgroup was removed behind our back: not usable.
        await this.kill(dir, r);
        continue;
      }
      const member: PoolMember = {
        id: r.id,
        key: r.key,
        pid: r.pid,
        ...(r.startTime && { startTime: r.startTime }),
        control: taken,
        cgroup: r.cgroup,
        procsFiles: r.procsFiles,
        exited: own?.exited ?? processExit(r.pid, r.startTime),
        discard: () => this.kill(dir, r),
        handedOver: async () => {
          await Promise.all([`${r.id}.json`, `${r.id}.taken`].map((f) => unlink(join(dir, f)).catch(() => {})));
        },
      };
      this.refill(key);
      return member;
    }
    this.refill(key);
    return undefined;
  }

  /** Back to the floor (paced, in the background). */
  private refill(key: PoolKey): void {
    if (this.min[key] > 0 && !this.closed) void this.fill(key, this.min[key]).catch(() => {});
  }

  private schedule(): void {
    if (this.timer || this.closed || this.idleMs <= 0) return;
    this.timer = setInterval(() => void this.shrink().catch(() => {}), Math.max(1000, Math.floor(this.idleMs / 4)));
    this.timer.unref();
  }

  /** Lets go of own members above the floor parked longer than idleMs (closing their socket ends them with 0). */
  async shrink(now = Date.now()): Promise<number> {
    let n = 0;
    for (const key of POOL_KEYS) {
      const mine = [...this.own.values()].filter((m) => m.key === key && m.ready).sort((a, b) => a.parkedAt - b.parkedAt);
      let excess = mine.length - this.min[key];
      for (const m of mine) {
        if (excess <= 0) break;
        if (now - m.parkedAt < this.idleMs) continue;
        const claimed = await this.take(key);
        if (!claimed) break;
        await releaseMember(claimed);
        excess--;
        n++;
      }
    }
    return n;
  }

  /** Every parked member of this pool (own, and the shared directory's for a shared pool) let go. */
  async drain(): Promise<number> {
    let n = 0;
    for (const key of POOL_KEYS) {
      const floor = this.min[key];
      this.min[key] = 0;
      for (let m = await this.take(key); m; m = await this.take(key)) {
        await releaseMember(m);
        n++;
      }
      this.min[key] = floor;
    }
    return n + (await this.drainOwn());
  }

  /** Own members still starting (not ready) are killed too. */
  private async drainOwn(): Promise<number> {
    const dir = this.dir;
    const all = [...this.own.values()];
    for (const m of all) await this.kill(dir, m);
    return all.length;
  }

  async status(): Promise<PoolStatus> {
    const now = Date.now();
    const byKey = Object.fromEntries(POOL_KEYS.map((k) => [k, { ready: 0, starting: 0, min: this.min[k] }])) as PoolStatus['byKey'];
    const members: PoolStatus['members'] = [];
    const seen = this.custom ? [...this.own.values()] : await this.records();
    for (const r of seen) {
      const ready = await exists(join(this.dir, `${r.id}.sock`));
      byKey[r.key][ready ? 'ready' : 'starting']++;
      members.push({ id: r.id, key: r.key, pid: r.pid, cgroup: r.cgroup, ageMs: now - r.parkedAt, ready });
    }
    return { dir: this.dir, shared: !this.custom, members, byKey };
  }

  /**
   * After a host was killed: members of a process that is gone (its own directory) are killed and
   * their cgroups recycled; dead members of the shared directory are cleaned; `park-*` cgroups
   * that no member record names are removed. Live shared members are kept: they are usable.
   */
  async reconcile(): Promise<{ killed: number; strayCgroups: string[] }> {
    const root = poolRoot(this.home);
    let killed = 0;
    const named = new Set<string>([...this.own.values()].map((m) => m.cgroup).concat([...this.making]));
    for (const d of await readdir(root).catch(() => [] as string[])) {
      const dir = join(root, d);
      const owner = /^host-(\d+)$/.exec(d)?.[1];
      const ownerGone = owner !== undefined && Number(owner) !== process.pid && !(await isSameProcess(Number(owner), undefined));
      for (const f of await readdir(dir).catch(() => [] as string[])) {
        if (!f.endsWith('.json')) continue;
        const r = await readRecord(join(dir, f));
        if (!r) {
          await unlink(join(dir, f)).catch(() => {});
          continue;
        }
        if (ownerGone || !(await isSameProcess(r.pid, r.startTime))) {
          await this.kill(dir, r);
          killed++;
        } else named.add(r.cgroup);
      }
      if (ownerGone) await rm(dir, { recursive: true, force: true });
    }
    const strayCgroups: string[] = [];
    for (const name of await this.cgroups.list().catch(() => [] as string[])) {
      if (isParkCgroup(name) && !named.has(name)) {
        await this.cgroups.remove(name).catch(() => {});
        strayCgroups.push(name);
      }
    }
    return { killed, strayCgroups };
  }

  /** Stops the timers; a private pool's members are killed (a shared pool's stay for the next process). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.filling;
    if (this.custom) {
      await this.drainOwn();
      await rmdir(this.dir).catch(() => {});
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readRecord(file: string): Promise<MemberRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as MemberRecord;
    if (!ID.test(r.id) || !POOL_KEYS.includes(r.key) || !Number.isInteger(r.pid) || !isParkCgroup(r.cgroup) || !Array.isArray(r.procsFiles)) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** A taken member let go unused: closing the connection before a plan ends it with 0; its cgroup is recycled. */
async function releaseMember(m: PoolMember): Promise<void> {
  await new Promise<void>((resolve) => {
    const c = createConnection(m.control);
    c.on('connect', () => c.end());
    c.on('close', () => resolve());
    c.on('error', () => resolve());
  });
  await m.discard(); // waits for the exit (or kills it) and recycles the cgroup
}

/**
 * Sends a plan (the argv of a `run`, without --cgroup-procs) straight from Node: no fds, so the
 * member's own stdio (its pty) is the container's. The connection is returned open: for an
 * attached plan it stands for the parent (closing it kills the container), and the exit code
 * arrives on it. It does not keep the event loop alive.
 */
export function sendPlan(control: string, plan: string[]): Promise<Socket> {
  const body = Buffer.from(plan.map((a) => `${a}\0`).join(''), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  return new Promise<Socket>((resolve, reject) => {
    const c = createConnection(control);
    c.once('error', (e) => reject(new RegError('LAUNCH_FAILED', `the parked launcher at ${control} did not take the plan: ${e.message}`, { hint: 'the pool drops it; the start can be retried' })));
    c.once('connect', () => {
      c.write(Buffer.concat([header, body]), (e) => {
        if (e) return;
        c.removeAllListeners('error');
        c.on('error', () => {}); // the peer going away later is the container ending
        c.unref();
        resolve(c);
      });
    });
  });
}
