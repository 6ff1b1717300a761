// The live terminal sessions of this host, by container id. A session is opened by starting its
// container under a pty and ends exactly one way, whatever the cause (the program exited, the
// user ended it, grace or idle expiry, the instructor stopped it, host shutdown): the container is
// stopped through the engine, the browser is told the outcome in words a student understands, the
// container is removed and its row is closed. A session that belongs to a class follows that
// class's idle policy and reports the student's state (connected, idle, ended) on ClassEvents.

import type { ContainerState, Engine, Outcome, Started } from '@reg/core';
import { describeSessionEnd, type SessionEndReason } from '@reg/protocol';
import type { ClassEvents } from '../classes/class-events.js';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import { ptySpawner } from './pty-spawner.js';
import type { TerminalPool } from './terminal-pool.js';
import { TerminalSession } from './terminal-session.js';

export interface SessionRegistryOptions {
  graceMs: number;
  idleMs: number;
  /** How long a stopped program gets between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  /** The idle warning's lead time (default 60 s; a class's idleWarnSeconds wins). */
  idleWarnMs?: number;
}

/** Python, Node or Shell: what the terminal bar says a terminal runs. */
export function terminalKind(ret: string, command: string[] = []): string {
  const cmd = command[0]?.split('/').pop() ?? '';
  if (/^python/.test(cmd)) return 'Python';
  if (cmd === 'node') return 'Node';
  if (/^(ba|da|z|fi)?sh$/.test(cmd)) return 'Shell';
  const name = ret.split('@')[0] ?? '';
  if (name.startsWith('python')) return 'Python';
  if (name.startsWith('node')) return 'Node';
  return 'Shell';
}

export class SessionRegistry {
  private readonly sessions = new Map<string, TerminalSession>();
  /** Settles when a session's container is gone and its row closed. */
  private readonly finished = new Map<string, Promise<void>>();
  private readonly stopping = new Map<string, Promise<unknown>>();
  /** Messages given to end(), shown to the student instead of the reason's default sentence. */
  private readonly endNotes = new Map<string, string>();
  /** classId → the container its instructor shares with the class (follow along). */
  private readonly shared = new Map<string, string>();

  constructor(
    private readonly engine: Engine,
    private readonly db: Db,
    private readonly opts: SessionRegistryOptions,
    private readonly log: Log,
    private readonly events?: ClassEvents,
    /** Warm terminals (parked launchers under ptys); without it every open is cold. */
    readonly pool?: TerminalPool,
  ) {}

  /** The live sessions of one class (optionally one student's). */
  ofClass(classId: string, userId?: string): TerminalSession[] {
    return this.all().filter((s) => s.info.classId === classId && (userId === undefined || s.ownerId === userId));
  }

  /** Ends every live session of a student in a class (the live view's "Stop session"). */
  async stopStudent(classId: string, userId: string): Promise<number> {
    const mine = this.ofClass(classId, userId);
    await Promise.all(mine.map((s) => this.end(s.containerId, 'stopped')));
    return mine.length;
  }

  /** Resident memory of running containers now (reg-core's smaps reading), by container id. */
  async rssNow(): Promise<Map<string, number>> {
    const stats = await this.engine.stats().catch(() => undefined);
    return new Map((stats?.containers ?? []).map((c) => [c.id, c.rss]));
  }

  share(classId: string, containerId: string | null): void {
    if (containerId) this.shared.set(classId, containerId);
    else this.shared.delete(classId);
  }

  sharedIn(classId: string): TerminalSession | undefined {
    const id = this.shared.get(classId);
    return id ? this.sessions.get(id) : undefined;
  }

  /** Reports a student's state to the live class view. */
  private report(session: TerminalSession, state: 'connected' | 'idle' | 'ended', extra: { endMessage?: string } = {}): void {
    if (!this.events || !session.info.classId || !session.ownerId) return;
    this.events.emit({ type: 'student', classId: session.info.classId, userId: session.ownerId, state, containerId: session.containerId, at: new Date().toISOString(), ...extra });
  }

  /** Connected (a tab is attached) or, when nobody is, still counted as connected until idle. */
  reportAttached(session: TerminalSession): void {
    this.report(session, session.idle ? 'idle' : 'connected');
  }

  get(containerId: string): TerminalSession | undefined {
    return this.sessions.get(containerId);
  }

  get size(): number {
    return this.sessions.size;
  }

  all(): TerminalSession[] {
    return [...this.sessions.values()];
  }

  /** Starts a generated (or stopped) container under a pty; the session is attachable at once. */
  async open(state: ContainerState, ownerId: string | null, size = { cols: 80, rows: 24 }, ctx: { classId?: string | null } = {}): Promise<ContainerState> {
    const id = state.id;
    const session = new TerminalSession(id, ownerId, state.ret, size, {
      graceMs: this.opts.graceMs,
      idleMs: this.opts.idleMs,
      idleWarnMs: this.opts.idleWarnMs ?? 60_000,
      onExpire: (reason) => void this.end(id, reason),
      onActivity: (s) => this.report(session, s),
    });
    this.sessions.set(id, session);
    let ptyExited!: () => void;
    const exited = new Promise<void>((resolve) => (ptyExited = resolve));
    // The bar's description (two queries) is read while the container starts: neither needs the other.
    const described = this.describe(session, state, ctx.classId).catch((e) => this.log.error(`describing terminal ${id}`, e));
    const started = this.startUnderPty(session, state, size, ptyExited);
    // Handled now, awaited below: a start that fails while the description is still being read
    // (the container removed meanwhile) must not be an unhandled rejection, which ends the process.
    started.catch(() => {});
    this.finished.set(
      id,
      exited.then(async () => {
        await started.catch(() => {});
        await this.finish(session);
      }),
    );
    await described;
    try {
      const s = (await started).state;
      if (s.status === 'running') await this.db.container.update({ where: { id }, data: { status: 'running', startedAt: new Date() } }).catch(() => {});
      return s;
    } catch (e) {
      // The launcher could not set the container up; the pty's exit finishes the session. With no
      // pty at all (the container was gone before it started) nothing will exit: finish it now,
      // so no session is left to count against the owner's cap.
      session.endReason ??= 'exited';
      if (!session.hasPty) {
        ptyExited();
        await this.finished.get(id);
      }
      throw e;
    }
  }

  /**
   * Starts the container under a pty bound to the session: a warm member (a launcher parked under
   * its pty, in its cgroup, its namespaces made) when the pool has one; else the cold way (a pty
   * forked now and a launcher that does it all). A warm start that failed before its plan reached
   * the member (it died, its cgroup vanished) leaves the container as it was: opened cold instead.
   */
  private async startUnderPty(session: TerminalSession, state: ContainerState, size: { cols: number; rows: number }, ptyExited: () => void): Promise<Started> {
    const warm = await this.pool?.take(state, size);
    if (warm) {
      try {
        const started = await this.engine.startWithMember(state.id, warm.member);
        session.bindPty(warm.pty, ptyExited, { pending: warm.handOver(), exited: warm.exited });
        return started;
      } catch (e) {
        warm.kill();
        const now = await this.engine.inspect(state.id).catch(() => undefined);
        if (now?.status !== 'generated') {
          // The plan was taken and the container failed: as a cold start's failure, its end
          // (once the member's pty is gone) finishes the session.
          session.bindPty(warm.pty, ptyExited, { pending: warm.handOver(), exited: warm.exited });
          throw e;
        }
        this.log.error(`terminal ${state.id}: the warm member failed before its plan (${(e as Error).message}); starting it the cold way`);
      }
    }
    return this.engine.start(state.id, ptySpawner(size, (p) => session.bindPty(p, ptyExited)));
  }

  /** Ends a session: stop (SIGTERM, then the cgroup is killed) and wait until it is all gone. */
  async end(containerId: string, reason: SessionEndReason, message?: string): Promise<void> {
    const session = this.sessions.get(containerId);
    if (!session) return;
    session.endReason ??= reason;
    // An explicit sentence ("stopped by an administrator") wins over the one derived from the reason.
    if (message && !this.endNotes.has(containerId)) this.endNotes.set(containerId, message);
    if (!this.stopping.has(containerId)) {
      this.log.info(`ending terminal ${containerId} (${reason})`);
      this.stopping.set(
        containerId,
        this.engine.stop(containerId, { graceMs: this.opts.stopGraceMs ?? 500 }).catch(() => {
          // it exited on its own meanwhile (ILLEGAL_TRANSITION): the pty's exit finishes it
        }),
      );
    }
    await this.finished.get(containerId);
  }

  /** Ends every session (host shutdown). */
  async endAll(reason: SessionEndReason): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id, reason)));
  }

  /**
   * The class a live session belongs to. A container opened outside a class route and tied to a
   * class afterwards (its row's classId set) is adopted here: its bar, idle policy and live-view
   * reports follow the class from then on.
   */
  async classOf(session: TerminalSession): Promise<string | null> {
    if (session.info.classId) return session.info.classId;
    const row = await this.db.container.findUnique({ where: { id: session.containerId }, select: { classId: true } }).catch(() => null);
    if (!row?.classId) return null;
    const state = await this.engine.inspect(session.containerId).catch(() => undefined);
    if (state) await this.describe(session, state, row.classId);
    return session.info.classId;
  }

  /** What the bar shows (kind, class, owner) and the class's idle policy. */
  private async describe(session: TerminalSession, state: ContainerState, classId?: string | null): Promise<void> {
    const row = await this.db.container.findUnique({ where: { id: state.id }, select: { classId: true, owner: { select: { username: true, displayName: true } } } }).catch(() => null);
    const cid = classId ?? row?.classId ?? null;
    const cls = cid ? await this.db.class.findUnique({ where: { id: cid }, select: { name: true, idleTimeoutSeconds: true, idleWarnSeconds: true } }).catch(() => null) : null;
    session.info = {
      kind: terminalKind(state.ret, state.command),
      classId: cls ? cid : null,
      className: cls?.name ?? null,
      owner: row?.owner ? (row.owner.displayName ?? row.owner.username) : null,
    };
    if (cls && (cls.idleTimeoutSeconds != null || cls.idleWarnSeconds != null)) {
      const idleMs = cls.idleTimeoutSeconds != null ? cls.idleTimeoutSeconds * 1000 : this.opts.idleMs;
      session.setIdlePolicy(idleMs, cls.idleWarnSeconds != null ? cls.idleWarnSeconds * 1000 : (this.opts.idleWarnMs ?? 60_000));
    }
  }

  /** The sentence for a session's end, with the idle time the session actually had. */
  endMessage(session: TerminalSession, reason: SessionEndReason, outcome: Outcome): string {
    return describeSessionEnd(reason, outcome, { idleSeconds: Math.round(session.idleMs / 1000) });
  }

  private async finish(session: TerminalSession): Promise<void> {
    const id = session.containerId;
    await this.stopping.get(id);
    const state = await this.engine.inspect(id).catch(() => undefined);
    const outcome: Outcome = state?.outcome ?? { outcome: 'signaled', signal: 9 };
    const reason = session.endReason ?? 'exited';
    await this.engine.remove(id, { force: true }).catch((e) => this.log.error(`removing container ${id}`, e));
    // Told after the removal, so a browser that hears "exit" finds the container gone.
    const message = this.endNotes.get(id) ?? this.endMessage(session, reason, outcome);
    this.endNotes.delete(id);
    session.notifyExit(outcome, reason, message);
    this.report(session, 'ended', { endMessage: message });
    for (const [cid, shared] of this.shared) if (shared === id) this.shared.delete(cid);
    await this.db.container
      .update({
        where: { id },
        data: {
          status: 'removed',
          outcome: outcome.outcome,
          outcomeCode: outcome.code ?? null,
          outcomeSignal: outcome.signal ?? null,
          endReason: reason,
          endMessage: message,
          endedAt: new Date(),
          lastInputAt: session.lastInputAt,
        },
      })
      .catch(() => {});
    session.dispose();
    this.sessions.delete(id);
    this.stopping.delete(id);
    this.finished.delete(id);
    this.log.info(`terminal ${id} ended (${reason}, ${outcome.outcome}${outcome.code !== undefined ? ` ${outcome.code}` : ''})`);
  }
}
