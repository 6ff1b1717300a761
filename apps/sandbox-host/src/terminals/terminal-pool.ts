// Warm terminals. Opening a terminal used to fork its pty (node-pty's forkpty: synchronous, on
// the event loop) and then start the launcher, which joined freshly made cgroups and unshared its
// namespaces: all of it between the student's click and the prompt. The engine's launcher pool
// (parked launchers, @reg/core launch/park.ts) does that work ahead of time; this module is the
// host's member spawner for it, so every parked launcher already sits under its own pty. Opening
// takes a member, sizes its pty for the browser, hands the pty to the session, and the engine
// sends the container's plan down the member's control socket.
//
// A pty is used by one container only: when the container ends, its launcher exits and the pty
// closes (what the engine recycles is the cgroup, reset, never the process or the pty). Output a
// member makes before its plan (none is expected; a launcher that failed to park says why) is
// logged and never reaches a student.
//
// Sizing: the pool keeps `min` members parked while the host is quiet, and a class being started
// holds one more per student who has not opened a terminal yet (holdFor/released), up to `max` in
// all; beyond that, students open terminals the cold way and wait in the admission queue as
// before. Members are spawned by the engine's pool, one per macrotask, so a refill never holds
// the event loop for more than one forkpty.

import { constants } from 'node:os';
import * as pty from 'node-pty';
import { poolKeyOf, type ContainerState, type LauncherPool, type PoolMember, type SpawnLauncher } from '@reg/core';
import type { Log } from '../log.js';

/** Output kept per member until its session binds (and, before a take, for the log). */
const KEPT_OUTPUT_MAX = 64 * 1024;

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

interface Parked {
  pty: pty.IPty;
  /** Output before the member was taken (logged, never shown), then output until the session binds. */
  chunks: string[];
  bytes: number;
  onData: { dispose(): void };
  exited: Promise<Exit>;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface TerminalPoolOptions {
  /** Members kept parked while no class is starting (a few: each costs a process, a pty and a cgroup). */
  min: number;
  /** Members parked at most, whatever classes hold. */
  max: number;
  log: Log;
}

/** A member taken for a terminal: its pty, sized; the container's output is kept until handOver. */
export interface WarmTerminal {
  member: PoolMember;
  pty: pty.IPty;
  /** Settles when the member's launcher (then the container's) exits. */
  exited: Promise<Exit>;
  /** Stops keeping output and returns what the container wrote so far (the session replays it). */
  handOver(): string;
  /** Ends the member (a start that failed): its pty closes. */
  kill(): void;
}

export class TerminalPool {
  private readonly parked = new Map<number, Parked>();
  /** classId → the students a member is held for (those who have not opened a terminal yet). */
  private readonly holds = new Map<string, Set<string>>();
  private pool: LauncherPool | undefined;
  private closed = false;
  taken = 0;
  missed = 0;

  constructor(private readonly opts: TerminalPoolOptions) {}

  /** The engine's launcher pool, once the engine is open (spawning through `spawn` below). */
  attach(pool: LauncherPool): void {
    this.pool = pool;
    this.applyMin();
  }

  /**
   * The member spawner the engine's pool calls: the launcher (`reg-launch park …`) under a fresh
   * pty of a default size; the real size is set when a terminal takes it.
   */
  readonly spawn: SpawnLauncher = (file, args) => {
    // The launcher builds the container's environment itself; it inherits nothing from the host.
    const p = pty.spawn(file, args, { name: 'xterm-256color', cols: 80, rows: 24, cwd: '/', env: {} });
    const exited = new Promise<Exit>((resolve) => {
      p.onExit(({ exitCode, signal }) => {
        const entry = this.parked.get(p.pid);
        if (entry?.pty === p) {
          this.parked.delete(p.pid);
          if (entry.bytes) this.opts.log.error(`a parked terminal launcher (pid ${p.pid}) exited before its plan: ${printable(entry.chunks.join(''))}`);
        }
        resolve({ code: signal ? null : exitCode, signal: signal ? (signalNames.get(signal) ?? 'SIGKILL') : null });
      });
    });
    const entry: Parked = { pty: p, chunks: [], bytes: 0, exited, onData: { dispose() {} } };
    entry.onData = p.onData((d) => {
      entry.chunks.push(d);
      entry.bytes += d.length;
      // Before the take this is diagnostics only; after it, the output of a container whose
      // session is about to bind (a few ms): either way bounded.
      while (entry.bytes > KEPT_OUTPUT_MAX && entry.chunks.length > 1) entry.bytes -= entry.chunks.shift()!.length;
    });
    this.parked.set(p.pid, entry);
    return { pid: p.pid, exited };
  };

  /** Parked members under a pty of ours, right now. */
  get size(): number {
    return this.parked.size;
  }

  /** Their launchers' pids. */
  pids(): number[] {
    return [...this.parked.keys()];
  }

  /**
   * A warm terminal for this container, sized for the browser, or undefined (no member ready:
   * the caller opens it the cold way). The member's pre-plan output is dropped here, so the
   * session's first byte is the container's.
   */
  async take(state: Pick<ContainerState, 'network'>, size: { cols: number; rows: number }): Promise<WarmTerminal | undefined> {
    if (!this.pool || this.closed) return undefined;
    for (;;) {
      const member = await this.pool.take(poolKeyOf(state)).catch((e) => {
        this.opts.log.error('taking a parked launcher', e);
        return undefined;
      });
      if (!member) {
        this.missed++;
        return undefined;
      }
      const entry = this.parked.get(member.pid);
      if (!entry) {
        // Not under one of our ptys (its pty closed meanwhile): useless for a terminal.
        await member.discard().catch(() => {});
        continue;
      }
      this.parked.delete(member.pid);
      if (entry.bytes) this.opts.log.error(`a parked terminal launcher (pid ${member.pid}) wrote before its plan (dropped): ${printable(entry.chunks.join(''))}`);
      entry.chunks = [];
      entry.bytes = 0;
      try {
        entry.pty.resize(size.cols, size.rows);
      } catch {
        await member.discard().catch(() => {});
        continue; // it died meanwhile; take the next one
      }
      this.taken++;
      return {
        member,
        pty: entry.pty,
        exited: entry.exited,
        handOver: () => {
          entry.onData.dispose();
          const out = entry.chunks.join('');
          entry.chunks = [];
          return out;
        },
        kill: () => {
          entry.onData.dispose();
          try {
            entry.pty.kill('SIGKILL');
          } catch {
            // already gone
          }
        },
      };
    }
  }

  /**
   * Start class: hold one member per student (within `max`), parked ahead of their clicks.
   * Returns how many are held; the other students open the cold way.
   */
  holdFor(classId: string, userIds: string[], o: { add?: boolean } = {}): number {
    // add: more students of the same run (a cluster's start moved them here from a host that stopped).
    const before = o.add ? [...(this.holds.get(classId) ?? [])] : [];
    this.holds.delete(classId);
    const room = Math.max(0, this.opts.max - this.opts.min - this.heldTotal());
    const held = new Set([...before, ...userIds].slice(0, room));
    if (held.size) this.holds.set(classId, held);
    this.applyMin();
    return held.size;
  }

  /** A student of the class is opening a terminal: their member is no longer kept for them. */
  opened(classId: string, userId: string): void {
    const held = this.holds.get(classId);
    if (!held?.delete(userId)) return;
    if (!held.size) this.holds.delete(classId);
    this.applyMin();
  }

  /** Stop class: its members are no longer held (idle ones shrink away). */
  release(classId: string): void {
    if (this.holds.delete(classId)) this.applyMin();
  }

  held(classId: string): number {
    return this.holds.get(classId)?.size ?? 0;
  }

  private heldTotal(): number {
    let n = 0;
    for (const h of this.holds.values()) n += h.size;
    return n;
  }

  /** The floor the engine's pool keeps parked for terminals. */
  get target(): number {
    return Math.min(this.opts.max, this.opts.min + this.heldTotal());
  }

  private applyMin(): void {
    if (!this.pool || this.closed) return;
    void this.pool.setMin('isolated', this.target).catch((e) => this.opts.log.error('parking warm terminals', e));
  }

  /** Host shutdown: holds end; the engine's pool drains its members (closing their ptys). */
  close(): void {
    if (this.closed) return;
    // No new floor: the engine's pool is closed next and kills every member it spawned for us.
    this.closed = true;
    this.holds.clear();
    for (const e of this.parked.values()) e.onData.dispose();
  }
}

function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trim().slice(0, 300));
}
