// The live terminal sessions of this host, by container id. A session is opened by starting its
// container under a pty and ends exactly one way, whatever the cause (the program exited, the
// user ended it, grace or idle expiry, host shutdown): the container is stopped through the
// engine, the browser is told the outcome, the container is removed and its row is closed.

import type { ContainerState, Engine, Outcome } from '@reg/core';
import type { SessionEndReason } from '@reg/protocol';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import { ptySpawner } from './pty-spawner.js';
import { TerminalSession } from './terminal-session.js';

export interface SessionRegistryOptions {
  graceMs: number;
  idleMs: number;
  /** How long a stopped program gets between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, TerminalSession>();
  /** Settles when a session's container is gone and its row closed. */
  private readonly finished = new Map<string, Promise<void>>();
  private readonly stopping = new Map<string, Promise<unknown>>();

  constructor(
    private readonly engine: Engine,
    private readonly db: Db,
    private readonly opts: SessionRegistryOptions,
    private readonly log: Log,
  ) {}

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
  async open(state: ContainerState, ownerId: string | null, size = { cols: 80, rows: 24 }): Promise<ContainerState> {
    const id = state.id;
    const session = new TerminalSession(id, ownerId, state.ret, size, {
      graceMs: this.opts.graceMs,
      idleMs: this.opts.idleMs,
      onExpire: (reason) => void this.end(id, reason),
    });
    this.sessions.set(id, session);
    let ptyExited!: () => void;
    const exited = new Promise<void>((resolve) => (ptyExited = resolve));
    const started = this.engine.start(id, ptySpawner(size, (p) => session.bindPty(p, ptyExited)));
    this.finished.set(
      id,
      exited.then(async () => {
        await started.catch(() => {});
        await this.finish(session);
      }),
    );
    try {
      const s = (await started).state;
      if (s.status === 'running') await this.db.container.update({ where: { id }, data: { status: 'running', startedAt: new Date() } }).catch(() => {});
      return s;
    } catch (e) {
      // The launcher could not set the container up; the pty's exit finishes the session.
      session.endReason ??= 'exited';
      throw e;
    }
  }

  /** Ends a session: stop (SIGTERM, then the cgroup is killed) and wait until it is all gone. */
  async end(containerId: string, reason: SessionEndReason): Promise<void> {
    const session = this.sessions.get(containerId);
    if (!session) return;
    session.endReason ??= reason;
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

  private async finish(session: TerminalSession): Promise<void> {
    const id = session.containerId;
    await this.stopping.get(id);
    const state = await this.engine.inspect(id).catch(() => undefined);
    const outcome: Outcome = state?.outcome ?? { outcome: 'signaled', signal: 9 };
    const reason = session.endReason ?? 'exited';
    await this.engine.remove(id, { force: true }).catch((e) => this.log.error(`removing container ${id}`, e));
    // Told after the removal, so a browser that hears "exit" finds the container gone.
    session.notifyExit(outcome, reason);
    await this.db.container
      .update({
        where: { id },
        data: {
          status: 'removed',
          outcome: outcome.outcome,
          outcomeCode: outcome.code ?? null,
          outcomeSignal: outcome.signal ?? null,
          endReason: reason,
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
