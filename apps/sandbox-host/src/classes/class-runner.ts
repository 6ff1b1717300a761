// Running a class: opening a student's terminal in the class environment, and "Start class" /
// "Stop class".
//
// Opening a terminal takes everything from the class (the composed RET, its command — a login
// shell in the home —, the limits resolved through the admin's policy, the per-student cap) and
// nothing from the request; the student's workspace is the container's home. Opens go through
// one Admission queue so a rush waits its turn instead of timing out, and a client that gives up
// while queued costs nothing (and one that gives up mid-open has its session ended).
//
// Start class prepares every enrolled student ahead of time: the environment RET composed and
// its layers materialised, each workspace ensured (starter files copied), and one container
// generated per student and kept in a pool, so that "open terminal" is only a start. Progress
// ("212 of 240 ready", failures named) goes to ClassEvents and the ClassRun row. Starting twice
// answers the run in progress; stopping mid-start cancels what is left, then ends every session
// of the class (the students are told why) and removes the pool. Workspaces stay.
//
// Start class also holds a warm terminal per student in the host's terminal pool (parked
// launchers under their ptys, terminals/terminal-pool.ts), so the click is a plan sent to a
// process that is already in its cgroup and namespaces; Stop class lets them go.
//
// In a cluster the host that receives the click coordinates the run (ClassRun.hostId): it places
// every student (placement.ts: a workspace lease first, then free memory, cached RETs and class
// spread), pre-pulls the class's RETs onto the hosts chosen, and asks each of them to prepare its
// share (a signed, streamed POST /api/cluster/classes/:classId/prepare). Each host prepares its
// students exactly as a single host does (their workspace leases are then its, so their clicks
// land there and take the prepared container and warm terminal); the coordinator counts the
// per-student answers and alone writes the run's progress. A host that stops answering mid-start
// has its unanswered students prepared by the coordinator instead. Stop class (on any host) ends
// the class on every host. A coordinator's own restart resumes its runs; its failover (another host
// marked it down) hands its runs to the host that ran the failover.

import { randomUUID } from 'node:crypto';
import { cgroupLimitsOf, diskQuotaOf, effectiveLimits, isRegError, RegError, type ContainerState, type Engine, type Limits } from '@reg/core';
import type { ClassRunView, ContainerView } from '@reg/protocol';
import { audit } from '../admin/audit.js';
import { loadLimitPolicy } from '../admin/limit-settings.js';
import { AccessError, type Principal } from '../auth/principal.js';
import type { ContainerService } from '../containers/container-service.js';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import type { SessionRegistry } from '../terminals/session-registry.js';
import type { WorkspaceService } from '../workspaces/workspace-service.js';
import { Admission } from './admission.js';
import type { ClassEvents } from './class-events.js';
import { composeEnvironment, type ComposedEnvironment } from './class-environment.js';
import { isDue } from './class-schedule.js';
import { runView, type ClassService } from './class-service.js';

export const CLASS_STOPPED_MESSAGE = 'the class was stopped by your instructor';
/** Students prepared at once by Start class (generate is mostly disk work: a few in parallel). */
const PREPARE_CONCURRENCY = 4;

type Failure = ClassRunView['failures'][number];

interface ActiveRun {
  id: string;
  /** coordinator: this host runs the whole start; share: another host's start asked this one for its part. */
  role: 'coordinator' | 'share';
  cancelled: boolean;
  done: Promise<void>;
  /** Aborts the requests to other hosts (cluster mode). */
  abort?: AbortController;
}

/** One student's outcome in a start: what a host reports to the run's coordinator. */
export type PrepareResult = { userId: string; ok: true } | { userId: string; ok: false; code: string; message: string };

type Student = { userId: string; username: string };

/** What the runner needs of a cluster (cluster/cluster-node.ts implements it). */
export interface ClassCluster {
  readonly id: string;
  /** The live hosts' ids. */
  liveHostIds(): Promise<string[]>;
  /** Splits students over the live hosts by placement: host id → user ids (this host included). */
  assign(classId: string, userIds: string[], o?: { only?: string[]; signal?: AbortSignal }): Promise<Map<string, string[]>>;
  /** Pre-pulls the class's RETs onto these hosts; which of them hold every RET now. */
  prepull(classId: string, hostIds: string[], who: Principal, signal?: AbortSignal): Promise<{ ready: string[] }>;
  /**
   * Asks another host to prepare these students; `onResult` gets each answer as it comes. Resolves
   * when the host finished; rejects when it could not be reached or stopped answering midway.
   */
  prepareOn(hostId: string, classId: string, runId: string, userIds: string[], onResult: (r: PrepareResult) => void, signal: AbortSignal): Promise<void>;
  /** Stop class on the other live hosts; how many sessions they ended. */
  stopElsewhere(classId: string): Promise<number>;
  /** Resolves once a host that is no longer live has been failed over (its workspace leases freed). */
  settled(hostId: string, signal?: AbortSignal): Promise<void>;
}

export class ClassRunner {
  /** Containers generated by Start class, by `${classId}/${userId}`, waiting to be started. */
  private readonly pool = new Map<string, ContainerState>();
  private readonly runs = new Map<string, ActiveRun>();
  private readonly envs = new Map<string, Promise<ComposedEnvironment>>();
  readonly admission: Admission;

  constructor(
    private readonly db: Db,
    private readonly engine: Engine,
    private readonly sessions: SessionRegistry,
    private readonly containers: ContainerService,
    private readonly classes: ClassService,
    private readonly workspaces: WorkspaceService,
    private readonly events: ClassEvents,
    private readonly log: Log,
    opts: { openConcurrency?: number; cluster?: ClassCluster } = {},
  ) {
    this.admission = new Admission(opts.openConcurrency ?? 8);
    this.cluster = opts.cluster;
  }

  private readonly cluster: ClassCluster | undefined;

  /**
   * At host start. A previous host's prepared containers and sessions ended with it, but a class
   * its instructor started is still meant to be running: each class whose latest run was
   * `starting` or `started` is prepared again, in that same run (same start time and starter;
   * progress from zero), so the class page tells the truth and students find their environment
   * ready. A run left `stopping`, an older one, or one of an archived or deleted class is closed
   * as stopped. Returns the ids of the classes prepared again.
   */
  async resumeRuns(): Promise<string[]> {
    // In a cluster a host resumes the runs it coordinated, and those whose coordinator is not live
    // (the whole cluster restarted): a live host's runs are its own.
    const live = this.cluster ? new Set(await this.cluster.liveHostIds()) : undefined;
    const mine = (hostId: string | null) => !this.cluster || hostId === null || hostId === this.cluster.id || !live!.has(hostId);
    return this.takeOverRuns((r) => mine(r.hostId), 'was started before the host restarted');
  }

  /**
   * Cluster failover: host `hostId` was marked down, and the runs it coordinated (still starting
   * or started) are taken over here: prepared again, the students the dead host held included.
   */
  async adoptRuns(hostId: string): Promise<string[]> {
    return this.takeOverRuns((r) => r.hostId === hostId, `lost its coordinating host (${hostId})`);
  }

  private async takeOverRuns(ours: (r: { hostId: string | null }) => boolean, why: string): Promise<string[]> {
    const open = await this.db.classRun.findMany({ where: { status: { in: ['starting', 'started', 'stopping'] } }, orderBy: { startedAt: 'desc' } });
    const resumed: string[] = [];
    for (const r of open) {
      if (!ours(r) || this.runs.get(r.classId)?.role === 'coordinator') continue;
      // This host's part of the dead coordinator's start ends here; the run goes on as ours.
      const share = this.runs.get(r.classId);
      if (share) {
        share.cancelled = true;
        await share.done;
      }
      const latest = await this.db.classRun.findFirst({ where: { classId: r.classId }, orderBy: { startedAt: 'desc' }, select: { id: true } });
      const c = await this.db.class.findUnique({ where: { id: r.classId } });
      if (r.status === 'stopping' || latest?.id !== r.id || !c || c.archivedAt || resumed.includes(r.classId)) {
        await this.db.classRun.updateMany({ where: { id: r.id, hostId: r.hostId }, data: { status: 'stopped', stoppedAt: new Date() } });
        continue;
      }
      const students = await this.classes.students(c.id);
      // Taken only if nobody took it meanwhile (two hosts restarting at once).
      const took = await this.db.classRun.updateMany({ where: { id: r.id, hostId: r.hostId }, data: { status: 'starting', total: students.length, ready: 0, failed: 0, failures: '[]', readyAt: null, hostId: this.cluster?.id ?? null } });
      if (took.count !== 1) continue;
      const run: ActiveRun = { id: r.id, role: 'coordinator', cancelled: false, done: Promise.resolve() };
      this.runs.set(c.id, run);
      run.done = this.prepare(c, run, students, ADMIN).catch((e) => this.log.error(`class ${c.id}: preparing again failed`, e));
      this.log.info(`class "${c.name}" ${why}: preparing its ${students.length} students again`);
      resumed.push(c.id);
    }
    return resumed;
  }

  private environment(c: { id: string; ret: string; tools: string }): Promise<ComposedEnvironment> {
    const key = `${c.ret}\n${c.tools}`;
    let env = this.envs.get(key);
    if (!env) {
      env = composeEnvironment(this.engine.home, c.ret, JSON.parse(c.tools) as string[]);
      this.envs.set(key, env);
      env.catch(() => this.envs.delete(key));
    }
    return env;
  }

  /** The admin's policy, then the class's layer, then (given a student) the student's own. */
  private async limitsOf(c: { id: string; limits: string }, userId?: string): Promise<{ limits: Limits; maxPerUser: number }> {
    const policy = await loadLimitPolicy(this.db, this.engine.home.root);
    const own = userId ? await this.db.enrolment.findUnique({ where: { classId_userId: { classId: c.id, userId } }, select: { limits: true } }) : null;
    return { limits: effectiveLimits(policy, JSON.parse(c.limits) as Partial<Limits>, own ? (JSON.parse(own.limits) as Partial<Limits>) : undefined), maxPerUser: policy.maxContainersPerUser };
  }

  /** Generates (does not start) a student's container in the class environment. */
  private async generate(c: ClassRow, userId: string): Promise<ContainerState> {
    const [env, { limits }, ws] = await Promise.all([this.environment(c), this.limitsOf(c, userId), this.workspaces.ensure(c, userId)]);
    // The writable layer gets its own disk quota too: a tmpfs of that size inside the container
    // (ephemeral: the student's files live in the workspace, so no loop volume per container).
    const state = await this.engine.generate({ ret: env.ref, limits: cgroupLimitsOf(limits), disk: diskQuotaOf(limits), writable: 'ephemeral', home: { dir: ws.home }, tty: true });
    await this.db.container.create({ data: { id: state.id, ownerId: userId, classId: c.id, ret: state.ret, command: JSON.stringify(state.command), tty: true, status: state.status } });
    return state;
  }

  /** `POST /api/classes/:classId/terminals`: a terminal for the caller in the class environment. */
  async open(p: Principal, classId: string, signal?: AbortSignal): Promise<ContainerView> {
    if (p.kind !== 'user') throw new AccessError('FORBIDDEN', 'terminals belong to signed-in users', 'sign in as a member of the class');
    const userId = p.user.id;
    const c = await this.classes.active(classId);
    const { maxPerUser } = await this.limitsOf(c);
    const cap = c.maxContainersPerStudent ?? maxPerUser;
    const mine = this.sessions.all().filter((s) => s.ownerId === userId);
    const inClass = mine.length === 0 ? [] : await this.db.container.findMany({ where: { id: { in: mine.map((s) => s.containerId) }, classId }, select: { id: true } });
    if (inClass.length >= cap || mine.length >= maxPerUser) {
      const n = inClass.length >= cap ? cap : maxPerUser;
      throw new RegError('LIMIT_EXCEEDED', `you already have ${n} terminal${n === 1 ? '' : 's'} open${inClass.length >= cap ? ' in this class' : ''}: the limit is ${n}`, {
        field: 'maxContainersPerStudent',
        hint: 'end a terminal you no longer use (or go back to it), then open a new one',
      });
    }
    return this.admission.run(async () => {
      const env = await this.environment(c);
      let state = this.takePooled(classId, userId, env.ref);
      if (!state) state = await this.generate(c, userId);
      else await this.workspaces.ensureQuick(c, userId); // remounts if needed, recreates a removed home
      // The member Start class held for this student is the one this open takes (the pool's floor
      // drops before the take, so the take does not trigger a refill).
      this.sessions.pool?.opened(classId, userId);
      try {
        await this.sessions.open(state, userId);
      } catch (e) {
        await this.engine.remove(state.id, { force: true }).catch(() => {});
        await this.db.container.update({ where: { id: state.id }, data: { status: 'removed', endReason: 'exited', endedAt: new Date() } }).catch(() => {});
        throw e;
      }
      if (signal?.aborted) {
        // The client gave up while we worked: nobody will attach, so nothing is left running.
        await this.sessions.end(state.id, 'ended');
        throw new RegError('USAGE', 'the client went away', { hint: 'nothing was left running' });
      }
      this.events.emit({ type: 'student', classId, userId, state: 'connected', containerId: state.id, at: new Date().toISOString() });
      // The roster shows each workspace's size as of its last open (statfs of its volume).
      void this.workspaces.recordUsage(classId, userId);
      return this.containers.get(p, state.id);
    }, signal);
  }

  private takePooled(classId: string, userId: string, ref: string): ContainerState | undefined {
    const key = `${classId}/${userId}`;
    const s = this.pool.get(key);
    if (!s) return undefined;
    this.pool.delete(key);
    if (s.ret === ref) return s;
    // The environment changed since Start class: this one is stale.
    void this.discard(s.id);
    return undefined;
  }

  /** Removes the container Start class prepared for a student, if any. */
  private async dropPooled(classId: string, userId: string): Promise<void> {
    const key = `${classId}/${userId}`;
    const pooled = this.pool.get(key);
    if (!pooled) return;
    this.pool.delete(key);
    await this.discard(pooled.id);
  }

  private async discard(id: string): Promise<void> {
    await this.engine.remove(id, { force: true }).catch(() => {});
    await this.db.container.updateMany({ where: { id }, data: { status: 'removed', endReason: 'removed', endedAt: new Date() } }).catch(() => {});
  }

  async current(classId: string): Promise<ClassRunView | null> {
    const r = await this.db.classRun.findFirst({ where: { classId }, orderBy: { startedAt: 'desc' } });
    return runView(r, r?.startedById ? ((await this.db.user.findUnique({ where: { id: r.startedById }, select: { username: true } }))?.username ?? null) : null);
  }

  /** Start class. Idempotent: a run in progress (or started) is answered with `already: true`. */
  async start(p: Principal, classId: string): Promise<{ already: boolean; run: ClassRunView }> {
    const c = await this.classes.active(classId);
    const live = await this.db.classRun.findFirst({ where: { classId, status: { in: ['starting', 'started', 'stopping'] } }, orderBy: { startedAt: 'desc' } });
    if (live) {
      if (live.status === 'stopping') throw new RegError('ILLEGAL_TRANSITION', 'the class is stopping', { hint: 'wait until it has stopped, then start it again' });
      return { already: true, run: (await this.current(classId))! };
    }
    const students = await this.classes.students(classId);
    const id = randomUUID();
    await this.db.classRun.create({ data: { id, classId, startedById: p.kind === 'user' ? p.user.id : null, status: 'starting', total: students.length, hostId: this.cluster?.id ?? null } });
    const run: ActiveRun = { id, role: 'coordinator', cancelled: false, done: Promise.resolve() };
    this.runs.set(classId, run);
    run.done = this.prepare(c, run, students, p).catch((e) => this.log.error(`class ${classId}: start failed`, e));
    await audit(this.db, p, { action: 'class.start', targetType: 'class', targetId: classId, classId, details: { students: students.length } });
    return { already: false, run: (await this.current(classId))! };
  }

  /** The coordinator's side of a run: progress counted here, written to ClassRun and ClassEvents. */
  private async prepare(c: ClassRow, run: ActiveRun, students: Student[], who: Principal): Promise<void> {
    const classId = c.id;
    let ready = 0;
    const failures: Failure[] = [];
    let lastWrite = 0;
    // Writes go one after another, each with the counts as they are when it runs, so a slow
    // earlier write never lands after the final one.
    let writes = Promise.resolve();
    const report = (status: 'starting' | 'started' | 'failed' | 'stopped', final = false): Promise<void> => {
      this.events.emit({ type: 'run', classId, runId: run.id, status, total: students.length, ready, failed: failures.length, failures });
      const now = Date.now();
      if (!final && now - lastWrite < 250) return writes;
      lastWrite = now;
      writes = writes
        .catch(() => {})
        .then(async () => {
          await this.db.classRun.update({ where: { id: run.id }, data: { ready, failed: failures.length, failures: JSON.stringify(failures), ...(final && status === 'started' && { status, readyAt: new Date() }), ...(final && status === 'failed' && { status }) } });
        });
      return writes;
    };
    const byId = new Map(students.map((s) => [s.userId, s]));
    const counted = new Set<string>();
    const onResult = (r: PrepareResult) => {
      const s = byId.get(r.userId);
      if (!s || counted.has(r.userId)) return;
      counted.add(r.userId);
      if (r.ok) ready++;
      else failures.push({ ...s, code: r.code, message: r.message });
      void report('starting').catch((e) => this.log.error(`class ${classId}: writing the start's progress`, e));
    };
    await report('starting', true);
    if (!this.cluster) {
      await this.prepareHere(c, run, students, onResult);
    } else {
      const cluster = this.cluster;
      // Stop class aborts whatever waits on other hosts (placement, pre-pull, their shares).
      run.abort = new AbortController();
      const signal = run.abort.signal;
      const share = await cluster.assign(classId, students.map((s) => s.userId), { signal });
      // The class's RETs onto the hosts chosen, before any of them prepares. Hosts that hold them
      // carry on whatever the registry does; the students placed on a host that could not get
      // them (the registry down) move to those that hold them, unless their workspace is leased
      // there; with no host holding them, each failure is named. A host that stopped meanwhile:
      // once its failover has freed its students' workspaces, they are placed again.
      const { ready: hostsReady } = await cluster.prepull(classId, [...share.keys()], who, signal);
      if (run.cancelled) return;
      const live = new Set(await cluster.liveHostIds());
      const notReady = [...share.keys()].filter((h) => !hostsReady.includes(h));
      const lost = notReady.filter((h) => !live.has(h));
      const moving = hostsReady.length > 0 ? notReady : lost;
      if (moving.length) {
        const moved = moving.flatMap((h) => share.get(h)!);
        for (const h of moving) share.delete(h);
        this.log.info(`class "${c.name}": host(s) ${moving.join(', ')} cannot prepare (${lost.length ? `${lost.join(', ')} stopped` : 'the RETs could not be pulled'}); their ${moved.length} students are placed again`);
        await Promise.all(lost.map((h) => cluster.settled(h, signal)));
        for (const [h, ids] of await cluster.assign(classId, moved, { signal, ...(hostsReady.length && { only: hostsReady }) })) share.set(h, [...(share.get(h) ?? []), ...ids]);
      }
      this.log.info(`class "${c.name}": preparing ${students.length} students on ${share.size} host(s): ${[...share].map(([h, ids]) => `${h} ${ids.length}`).join(', ')}`);
      const orphans: string[] = [];
      await Promise.all(
        [...share].map(async ([hostId, ids]) => {
          if (hostId === cluster.id) return this.prepareHere(c, run, ids.map((id) => byId.get(id)!), onResult);
          try {
            await cluster.prepareOn(hostId, classId, run.id, ids, onResult, signal);
          } catch (e) {
            if (run.cancelled) return;
            // A host gone took what it prepared with it: all its students are prepared here (those
            // it had answered for keep their count). A live host that failed: those it did not answer for.
            const gone = !(await cluster.liveHostIds()).includes(hostId);
            const left = gone ? ids : ids.filter((id) => !counted.has(id));
            this.log.error(`class ${classId}: host ${hostId} stopped preparing its ${ids.length} students (${(e as Error).message}); ${left.length} are prepared here instead`);
            if (gone) await cluster.settled(hostId, signal);
            orphans.push(...left);
          }
        }),
      );
      if (orphans.length && !run.cancelled) {
        this.sessions.pool?.holdFor(classId, orphans, { add: true });
        await this.prepareHere(c, run, orphans.map((id) => byId.get(id)!), onResult, { hold: false });
      }
    }
    if (!run.cancelled) await report(failures.length === students.length && students.length > 0 ? 'failed' : 'started', true);
  }

  /**
   * Prepares students on this host (a single host's whole class, or this host's share of a
   * cluster's): warm terminals held, the environment composed once, then each student's
   * workspace ensured and container generated. Never throws: every student gets one result.
   */
  private async prepareHere(c: ClassRow, run: ActiveRun, students: Student[], onResult: (r: PrepareResult) => void, o: { hold?: boolean } = {}): Promise<void> {
    const classId = c.id;
    // Warm terminals for every student who has none yet, parked while the rest is prepared (the
    // engine's pool spawns them in the background, one at a time). Beyond the pool's capacity the
    // others open the cold way, through the same admission queue.
    const pool = this.sessions.pool;
    if (pool && o.hold !== false) {
      const want = students.filter((s) => !this.hasLiveSession(s.userId)).map((s) => s.userId);
      const held = pool.holdFor(classId, want);
      this.log.info(`class "${c.name}": ${held} warm terminals held for ${want.length} students${held < want.length ? ` (the pool's capacity; ${want.length - held} will open the cold way)` : ''}`);
    }
    try {
      // Composing and materialising once, first: every student's generate then only links layers.
      await this.environment(c);
    } catch (e) {
      for (const s of students) onResult({ userId: s.userId, ok: false, code: codeOf(e), message: `the class environment could not be prepared: ${(e as Error).message}` });
      return;
    }
    let next = 0;
    const worker = async () => {
      while (!run.cancelled && next < students.length) {
        const s = students[next++]!;
        const key = `${classId}/${s.userId}`;
        try {
          if (!this.pool.has(key) && !this.hasLiveSession(s.userId)) this.pool.set(key, await this.generate(c, s.userId));
          else await this.workspaces.ensure(c, s.userId);
          this.events.emit({ type: 'student', classId, userId: s.userId, state: 'ready', at: new Date().toISOString() });
          onResult({ userId: s.userId, ok: true });
        } catch (e) {
          onResult({ userId: s.userId, ok: false, code: codeOf(e), message: (e as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PREPARE_CONCURRENCY, students.length) }, worker));
  }

  /**
   * Cluster: the coordinator of a run asks this host to prepare its share (the route streams each
   * result back). Only enrolled students are prepared; a Stop class here, or the coordinator
   * going away (`signal`), cancels what is left.
   */
  async prepareShare(classId: string, runId: string, userIds: string[], onResult: (r: PrepareResult) => void, signal: AbortSignal): Promise<void> {
    const c = await this.classes.active(classId);
    const enrolled = new Map((await this.classes.students(classId)).map((s) => [s.userId, s]));
    const students: Student[] = [];
    for (const id of new Set(userIds)) {
      const s = enrolled.get(id);
      if (s) students.push(s);
      else onResult({ userId: id, ok: false, code: 'NOT_FOUND', message: 'not a student of this class (removed since the start began?)' });
    }
    const previous = this.runs.get(classId);
    if (previous?.role === 'coordinator') throw new RegError('ILLEGAL_TRANSITION', `this host coordinates another start of the class (${previous.id})`, { hint: 'stop the class, then start it again' });
    if (previous) {
      previous.cancelled = true;
      await previous.done;
    }
    const run: ActiveRun = { id: runId, role: 'share', cancelled: false, done: Promise.resolve() };
    this.runs.set(classId, run);
    const cancel = () => (run.cancelled = true);
    signal.addEventListener('abort', cancel, { once: true });
    // Registered first, then checked: a Stop class that marked the run stopping before this request
    // arrived is seen here, and one that comes after cancels it through this.runs.
    const status = async () => (await this.db.classRun.findUnique({ where: { id: runId }, select: { status: true } }))?.status;
    const going = (s: string | undefined) => s === 'starting' || s === 'started';
    try {
      if (!going(await status())) throw new RegError('ILLEGAL_TRANSITION', 'this class start was stopped (or never began)', { hint: 'start the class again' });
      run.done = this.prepareHere(c, run, students, onResult);
      await run.done;
    } finally {
      signal.removeEventListener('abort', cancel);
      if (this.runs.get(classId) === run) this.runs.delete(classId);
    }
    // Stopped while this host prepared (its own stopHere may have run before this share began):
    // what it prepared goes, and its warm terminals are released.
    if (!going(await status())) {
      this.sessions.pool?.release(classId);
      for (const s of students) await this.dropPooled(classId, s.userId);
    }
  }

  private hasLiveSession(userId: string): boolean {
    return this.sessions.all().some((s) => s.ownerId === userId);
  }

  /** Stop class: cancels a start in progress, ends every session of the class, keeps workspaces. */
  async stop(p: Principal, classId: string): Promise<{ ended: number; run: ClassRunView | null }> {
    await this.classes.row(classId);
    const live = await this.db.classRun.findFirst({ where: { classId, status: { in: ['starting', 'started'] } }, orderBy: { startedAt: 'desc' } });
    if (live) await this.db.classRun.update({ where: { id: live.id }, data: { status: 'stopping' } });
    // Every host's part: this one's, then the others' (in a cluster the coordinator of the run
    // may be another host; it is cancelled there before the run is marked stopped).
    let ended = await this.stopHere(classId);
    if (this.cluster) ended += await this.cluster.stopElsewhere(classId);
    if (live) {
      const r = await this.db.classRun.update({ where: { id: live.id }, data: { status: 'stopped', stoppedAt: new Date() } });
      this.events.emit({ type: 'run', classId, runId: r.id, status: 'stopped', total: r.total, ready: r.ready, failed: r.failed, failures: JSON.parse(r.failures) as Failure[] });
    }
    await audit(this.db, p, { action: 'class.stop', targetType: 'class', targetId: classId, classId, details: { ended } });
    return { ended, run: await this.current(classId) };
  }

  /**
   * This host's part of Stop class: its start cancelled (a coordinator's requests to other hosts
   * aborted), its warm terminals released, its prepared containers removed and its sessions of
   * the class ended (the students are told why). In a cluster, only the containers this host
   * runs: the others are their hosts' to end.
   */
  async stopHere(classId: string): Promise<number> {
    this.sessions.pool?.release(classId);
    const active = this.runs.get(classId);
    if (active) {
      active.cancelled = true;
      active.abort?.abort();
      await active.done;
      if (this.runs.get(classId) === active) this.runs.delete(classId);
    }
    for (const [key, s] of [...this.pool]) {
      if (!key.startsWith(`${classId}/`)) continue;
      this.pool.delete(key);
      await this.discard(s.id);
    }
    const rows = await this.db.container.findMany({ where: { classId, status: { not: 'removed' }, ...(this.cluster && { hostId: this.cluster.id }) }, select: { id: true, ownerId: true } });
    let ended = 0;
    await Promise.all(
      rows.map(async (r) => {
        await this.db.container.update({ where: { id: r.id }, data: { endMessage: CLASS_STOPPED_MESSAGE } }).catch(() => {});
        if (this.sessions.get(r.id)) {
          // The student's terminal shows this sentence, and so does their session's row.
          await this.sessions.end(r.id, 'ended', CLASS_STOPPED_MESSAGE);
          ended++;
        } else await this.discard(r.id);
        if (r.ownerId) this.events.emit({ type: 'student', classId, userId: r.ownerId, state: 'ended', containerId: r.id, at: new Date().toISOString() });
      }),
    );
    return ended;
  }

  /** Ends one user's terminals in a class (removed from it): they are told why. */
  async endUserSessions(classId: string, userId: string, message: string): Promise<number> {
    this.sessions.pool?.opened(classId, userId); // removed from the class: nothing is held for them
    const rows = await this.db.container.findMany({ where: { classId, ownerId: userId, status: { not: 'removed' } }, select: { id: true } });
    await this.dropPooled(classId, userId);
    let ended = 0;
    for (const r of rows) {
      if (!this.sessions.get(r.id)) continue;
      await this.db.container.update({ where: { id: r.id }, data: { endMessage: message } }).catch(() => {});
      await this.sessions.end(r.id, 'ended', message);
      ended++;
    }
    return ended;
  }

  /** Inserts a RET into every running container of the class (the environment is the caller's). */
  async insertEverywhere(classId: string, ret: string): Promise<{ inserted: number; failures: Failure[] }> {
    const rows = await this.db.container.findMany({ where: { classId, status: { not: 'removed' } }, include: { owner: { select: { username: true } } } });
    let inserted = 0;
    const failures: Failure[] = [];
    for (const r of rows) {
      if (!this.sessions.get(r.id)) continue;
      try {
        await this.engine.insert(r.id, ret);
        inserted++;
      } catch (e) {
        failures.push({ userId: r.ownerId ?? '', username: r.owner?.username ?? '?', code: codeOf(e), message: (e as Error).message });
      }
    }
    return { inserted, failures };
  }

  private scheduleTimer: ReturnType<typeof setInterval> | undefined;

  /** Checks the schedules every `everyMs`: a class due is started as its instructor would. */
  startScheduler(everyMs = 30_000): void {
    this.scheduleTimer = setInterval(() => void this.runSchedules().catch((e) => this.log.error('class schedules', e)), everyMs);
    this.scheduleTimer.unref();
  }

  async runSchedules(now = new Date()): Promise<string[]> {
    const rows = await this.db.class.findMany({ where: { scheduledStartAt: { not: null }, archivedAt: null }, include: { owner: true } });
    const started: string[] = [];
    for (const c of rows) {
      const last = await this.db.classRun.findFirst({ where: { classId: c.id }, orderBy: { startedAt: 'desc' }, select: { startedAt: true } });
      if (!isDue(c, last?.startedAt, now)) continue;
      this.log.info(`class "${c.name}" is scheduled for ${c.scheduledStartAt!.toISOString()}: preparing it now`);
      await this.start({ kind: 'user', user: { id: c.owner.id, username: c.owner.username, role: c.owner.role as 'instructor' } }, c.id);
      started.push(c.id);
    }
    return started;
  }

  /** Host shutdown: the pool's containers go (sessions are ended by the registry). */
  async close(): Promise<void> {
    if (this.scheduleTimer) clearInterval(this.scheduleTimer);
    for (const [classId, r] of this.runs) {
      r.cancelled = true;
      this.sessions.pool?.release(classId);
    }
    await Promise.all([...this.runs.values()].map((r) => r.done));
    for (const s of this.pool.values()) await this.discard(s.id);
    this.pool.clear();
  }
}

type ClassRow = Awaited<ReturnType<ClassService['row']>>;

/** Runs restarted by the host itself (after a restart or a failover) act as the administrator. */
const ADMIN: Principal = { kind: 'admin' };

function codeOf(e: unknown): string {
  return isRegError(e) ? e.code : e instanceof AccessError ? e.code : 'INTERNAL';
}
