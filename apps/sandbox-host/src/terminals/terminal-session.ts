// One container's terminal: the pty the launcher runs on, a headless xterm that keeps the screen
// (and SCROLLBACK lines of history) for re-attaches, at most one controlling browser (the
// student's tab) and any number of read-only viewers (a TA looking over the shoulder, a class
// following along). A viewer types only while the student allows it. The session owns every
// listener and timer it creates and releases them in dispose().
//
// Idle policy: activity is input, output, a program other than the shell in the foreground, or
// CPU time growing in the container's cgroup. After idleMs − warnMs without activity the student
// is warned in the terminal; after idleMs the session expires with reason 'idle'.
//
// Flow control: output is counted when read from the pty; the pty is paused (the program then
// blocks on write) while more than FLOW_HIGH_WATERMARK characters are unacknowledged by the
// browser or still unparsed by the headless terminal, and resumed below FLOW_LOW_WATERMARK. So
// `yes` in a student's shell costs the host at most a few hundred KiB, attached or not. Viewers
// never pause the student's program: one that falls behind is skipped and gets a fresh screen
// once it has caught up.

import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';
import type { IPty } from 'node-pty';
import { FLOW_HIGH_WATERMARK, FLOW_LOW_WATERMARK, humanDuration, type Outcome, type SessionEndReason, type TerminalError, type Watcher } from '@reg/protocol';
import { ContainerCpu } from './container-cpu.js';

const { Terminal } = xtermHeadless;
const { SerializeAddon } = serializeAddon;

/** Output is sent at once after a quiet spell, then at most every BATCH_MS (or at BATCH_CHARS). */
const BATCH_CHARS = 16 * 1024;
const BATCH_MS = 5;
const EAGER_PER_WINDOW = 2;
/** History kept for re-attaches (a reload restores all of it). */
export const SCROLLBACK = 10_000;
/** CPU time growing by more than this between two idle checks means a program is working. */
const BUSY_CPU_NS = 20_000_000;

/** The attached browser, as the session sees it (a socket.io socket in production). */
export interface TerminalClient {
  readonly id: string;
  screen(data: string): void;
  output(data: string): void;
  exit(info: { outcome: Outcome; reason: SessionEndReason; message: string }): void;
  error(err: TerminalError): void;
  /** Controller only: who watches, and requests to type. Viewers: whether they may type. */
  watchers?(list: Watcher[]): void;
  consent?(req: { helperId: string; name: string }): void;
  control?(c: { canType: boolean }): void;
  resized?(size: { cols: number; rows: number }): void;
  notice?(n: { kind: 'idle-warning' | 'idle-cleared' | 'sharing'; message: string; seconds?: number }): void;
}

/** A read-only attachment (observer or follower); `name` is shown to the student. */
export interface Viewer {
  client: TerminalClient;
  userId: string;
  name: string;
  /** Followers (a class watching its instructor) are not listed as watchers and never type. */
  follower: boolean;
  canType: boolean;
  queued: string[] | undefined;
  unacked: number;
  stale: boolean;
}

interface Disposable {
  dispose(): void;
}

export interface SessionTimers {
  graceMs: number;
  idleMs: number;
  /** Warn this long before the idle end (0: no warning). */
  idleWarnMs?: number;
  /** Called when the grace period or the idle timeout runs out. */
  onExpire(reason: 'grace' | 'idle'): void;
  /** Activity state changes, for the live class view: 'connected' (active again) or 'idle' (warned). */
  onActivity?(state: 'connected' | 'idle'): void;
}

export class TerminalSession {
  private pty: IPty | undefined;
  private readonly headless: InstanceType<typeof Terminal>;
  private readonly serializer: InstanceType<typeof SerializeAddon>;
  private client: TerminalClient | undefined;
  /** Set between attach() and the screen being sent: output meanwhile is queued, not lost. */
  private attaching: { client: TerminalClient; queued: string[] } | undefined;
  private batch = '';
  private batchTimer: NodeJS.Timeout | undefined;
  private windowStart = 0;
  private sendsInWindow = 0;
  private unacked = 0;
  private unparsed = 0;
  private paused = false;
  private graceTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly viewers = new Map<string, Viewer>();
  private lastActivity = Date.now();
  private idleWarned = false;
  private readonly cpu: ContainerCpu;
  private lastCpu: number | undefined;
  private shellName: string | undefined;
  private readonly subscriptions: Disposable[] = [];
  private disposed = false;
  /** Why the session is ending, once someone decided it should. */
  endReason: SessionEndReason | undefined;
  lastInputAt = new Date();
  /** Set by the registry: what the terminal bar shows and who may observe. */
  info: { kind: string; classId: string | null; className: string | null; owner: string | null } = { kind: 'Shell', classId: null, className: null, owner: null };

  constructor(
    readonly containerId: string,
    readonly ownerId: string | null,
    readonly ret: string,
    size: { cols: number; rows: number },
    private readonly timers: SessionTimers,
  ) {
    this.headless = new Terminal({ cols: size.cols, rows: size.rows, scrollback: SCROLLBACK, allowProposedApi: true });
    this.serializer = new SerializeAddon();
    this.headless.loadAddon(this.serializer);
    this.cpu = new ContainerCpu(containerId);
    this.armGrace();
    this.armIdle();
  }

  /** Applies a class's idle policy (the host default until the class is known). */
  setIdlePolicy(idleMs: number, idleWarnMs: number): void {
    this.timers.idleMs = idleMs;
    this.timers.idleWarnMs = idleWarnMs;
    this.armIdle();
  }

  /** When input, output or a running program last showed the session is in use. */
  get lastActivityAt(): Date {
    return new Date(this.lastActivity);
  }

  get idleMs(): number {
    return this.timers.idleMs;
  }

  get idle(): boolean {
    return this.idleWarned;
  }

  get attached(): boolean {
    return this.client !== undefined || this.attaching !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Whether a pty was ever bound (a start that failed before spawning has none). */
  get hasPty(): boolean {
    return this.pty !== undefined;
  }

  /**
   * Wires the pty: called by the spawner, before the engine waits for the launcher's start; or,
   * for a warm terminal, once its plan is taken, with what the container wrote meanwhile
   * (`pending`) and its exit as a promise (it may have exited already).
   */
  bindPty(p: IPty, onExit: () => void, warm?: { pending: string; exited: Promise<unknown> }): void {
    this.pty = p;
    const exit = () => {
      this.flush();
      onExit();
    };
    this.subscriptions.push(p.onData((data) => this.onOutput(data)));
    if (warm) {
      if (warm.pending) this.onOutput(warm.pending);
      void warm.exited.then(exit);
    } else {
      this.subscriptions.push(p.onExit(exit));
    }
  }

  /** Attaches a browser (taking over from another tab), sends it the screen, then live output. */
  attach(client: TerminalClient, size: { cols: number; rows: number }): void {
    const previous = this.client ?? this.attaching?.client;
    if (previous && previous.id !== client.id) previous.error({ code: 'TAKEN_OVER', message: 'this terminal was opened in another tab' });
    this.flush();
    this.client = undefined;
    this.unacked = 0;
    this.clearGrace();
    this.resize(size.cols, size.rows);
    const attaching = { client, queued: [] as string[] };
    this.attaching = attaching;
    // Everything read before this point is in the headless terminal once this empty write's
    // callback runs (xterm parses writes in order and calls back right after each one), so the
    // screen serialized there plus what is queued from now on is exactly the stream, once.
    this.headless.write('', () => {
      if (this.attaching !== attaching || this.disposed) return;
      this.attaching = undefined;
      this.client = client;
      const screen = this.serializer.serialize({ scrollback: SCROLLBACK });
      this.unacked += screen.length;
      client.screen(screen);
      client.watchers?.(this.watcherList());
      if (this.idleWarned) client.notice?.(this.idleNotice());
      for (const q of attaching.queued) this.queue(q);
      this.updatePause();
    });
  }

  detach(client: TerminalClient): void {
    if (this.attaching?.client.id === client.id) this.attaching = undefined;
    if (this.client?.id !== client.id) return;
    this.client = undefined;
    this.flush(); // what is batched still goes to the viewers
    this.unacked = 0;
    this.updatePause();
    this.armGrace();
    // Consent lasts while the student is there to take it back.
    for (const v of this.viewers.values()) {
      if (!v.canType) continue;
      v.canType = false;
      v.client.control?.({ canType: false });
    }
  }

  isAttached(client: TerminalClient): boolean {
    return this.client?.id === client.id || this.attaching?.client.id === client.id;
  }

  /** Writes input to the program; false when it is not reading (its input queue is full). */
  input(data: string): boolean {
    if (!this.pty) return false;
    if (inputBacklog(this.pty) > 64) return false;
    this.pty.write(data);
    this.lastInputAt = new Date();
    this.active();
    return true;
  }

  // ---- viewers: look over the shoulder, follow along ----

  /** Attaches a read-only viewer: the screen now, then live output. */
  observe(client: TerminalClient, who: { userId: string; name: string; follower: boolean }): void {
    this.unobserve(client);
    const v: Viewer = { client, ...who, canType: false, queued: [], unacked: 0, stale: false };
    this.viewers.set(client.id, v);
    this.sendScreenTo(v);
    if (!who.follower) this.announceWatchers();
  }

  unobserve(client: TerminalClient): void {
    const v = this.viewers.get(client.id);
    if (!v) return;
    this.viewers.delete(client.id);
    if (!v.follower) this.announceWatchers();
  }

  viewer(client: TerminalClient): Viewer | undefined {
    return this.viewers.get(client.id);
  }

  /** A helper asks the student to let them type; false when no student is there to answer. */
  requestControl(client: TerminalClient): boolean {
    const v = this.viewers.get(client.id);
    const student = this.client;
    if (!v || v.follower || !student?.consent) return false;
    student.consent({ helperId: client.id, name: v.name });
    return true;
  }

  /** The student's answer (or revocation): only the controlling client may give it. */
  grant(from: TerminalClient, helperId: string, allow: boolean): void {
    if (this.client?.id !== from.id) return;
    const v = this.viewers.get(helperId);
    if (!v || v.follower) return;
    v.canType = allow;
    v.client.control?.({ canType: allow });
    this.announceWatchers();
  }

  /** Input from a viewer: only while the student allows it. */
  viewerInput(client: TerminalClient, data: string): 'ok' | 'read-only' | 'busy' {
    const v = this.viewers.get(client.id);
    if (!v?.canType) return 'read-only';
    return this.input(data) ? 'ok' : 'busy';
  }

  viewerAck(client: TerminalClient, chars: number): void {
    const v = this.viewers.get(client.id);
    if (!v) return;
    v.unacked = Math.max(0, v.unacked - chars);
    if (v.stale && v.unacked < FLOW_LOW_WATERMARK) {
      v.stale = false;
      v.queued = [];
      this.sendScreenTo(v);
    }
  }

  private sendScreenTo(v: Viewer): void {
    this.headless.write('', () => {
      if (this.disposed || this.viewers.get(v.client.id) !== v) return;
      const screen = this.serializer.serialize({ scrollback: SCROLLBACK });
      v.unacked += screen.length;
      v.client.screen(screen);
      const queued = v.queued ?? [];
      v.queued = undefined;
      for (const q of queued) this.sendToViewer(v, q);
      if (v.canType) v.client.control?.({ canType: true });
    });
  }

  private sendToViewer(v: Viewer, data: string): void {
    if (v.queued) return void v.queued.push(data);
    if (v.stale) return;
    if (v.unacked > FLOW_HIGH_WATERMARK) {
      v.stale = true; // caught up later with a fresh screen
      return;
    }
    v.unacked += data.length;
    v.client.output(data);
  }

  private watcherList(): Watcher[] {
    return [...this.viewers.values()].filter((v) => !v.follower).map((v) => ({ id: v.client.id, name: v.name, canType: v.canType }));
  }

  private announceWatchers(): void {
    this.client?.watchers?.(this.watcherList());
  }

  get watcherCount(): number {
    return this.watcherList().length;
  }

  /** Sends a notice to the student's tab and every viewer. */
  private noticeAll(n: Parameters<NonNullable<TerminalClient['notice']>>[0]): void {
    this.client?.notice?.(n);
    for (const v of this.viewers.values()) v.client.notice?.(n);
  }

  get size(): { cols: number; rows: number } {
    return { cols: this.headless.cols, rows: this.headless.rows };
  }

  resize(cols: number, rows: number): void {
    if (cols === this.headless.cols && rows === this.headless.rows) return;
    this.headless.resize(cols, rows);
    for (const v of this.viewers.values()) v.client.resized?.({ cols, rows });
    try {
      this.pty?.resize(cols, rows);
    } catch {
      // the pty is gone; exit handling follows
    }
  }

  ack(chars: number): void {
    this.unacked = Math.max(0, this.unacked - chars);
    this.updatePause();
  }

  /** The current screen as text lines (for tests and the teacher view later). */
  screenText(): string {
    const buf = this.headless.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i++) lines.push(buf.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  }

  /** Tells the attached browser and every viewer the session is over. */
  notifyExit(outcome: Outcome, reason: SessionEndReason, message: string): void {
    this.flush();
    (this.client ?? this.attaching?.client)?.exit({ outcome, reason, message });
    for (const v of this.viewers.values()) v.client.exit({ outcome, reason, message });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearGrace();
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.client = undefined;
    this.attaching = undefined;
    this.viewers.clear();
    this.headless.dispose();
  }

  private onOutput(data: string): void {
    this.unparsed += data.length;
    this.headless.write(data, () => {
      this.unparsed -= data.length;
      if (this.paused) this.updatePause();
    });
    if (this.attaching) this.attaching.queued.push(data);
    else if (this.client || this.viewers.size) this.queue(data);
    this.active();
    this.updatePause();
  }

  // Interactive output (a keystroke's echo) goes out at once; only when more than
  // EAGER_PER_WINDOW sends fall into one BATCH_MS window (a flood) is the rest of the window
  // batched, which bounds the event rate without delaying typing.
  private queue(data: string): void {
    this.batch += data;
    if (this.client) this.unacked += data.length;
    const now = performance.now();
    if (now - this.windowStart >= BATCH_MS) {
      this.windowStart = now;
      this.sendsInWindow = 0;
    }
    if (this.batch.length >= BATCH_CHARS || (this.sendsInWindow < EAGER_PER_WINDOW && !this.batchTimer)) {
      this.sendsInWindow++;
      this.flush();
    } else {
      this.batchTimer ??= setTimeout(() => this.flush(), Math.max(0, this.windowStart + BATCH_MS - now));
    }
  }

  private flush(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (!this.batch) return;
    const data = this.batch;
    this.batch = '';
    this.client?.output(data);
    for (const v of this.viewers.values()) this.sendToViewer(v, data);
  }

  private updatePause(): void {
    if (!this.pty || this.disposed) return;
    const behind = Math.max(this.unacked, this.unparsed);
    if (!this.paused && behind > FLOW_HIGH_WATERMARK) {
      this.paused = true;
      this.pty.pause();
    } else if (this.paused && behind < FLOW_LOW_WATERMARK) {
      this.paused = false;
      this.pty.resume();
    }
  }

  private armGrace(): void {
    this.clearGrace();
    if (this.disposed) return;
    this.graceTimer = setTimeout(() => this.timers.onExpire('grace'), this.timers.graceMs);
    this.graceTimer.unref();
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  /** Something happened: the idle clock restarts (and a pending warning is withdrawn). */
  private active(): void {
    this.lastActivity = Date.now();
    if (this.idleWarned) {
      this.idleWarned = false;
      this.noticeAll({ kind: 'idle-cleared', message: 'the session is active again' });
      this.timers.onActivity?.('connected');
    }
  }

  private get warnMs(): number {
    const idle = this.timers.idleMs;
    return Math.min(this.timers.idleWarnMs ?? 60_000, Math.floor(idle / 2));
  }

  private idleNotice() {
    const seconds = Math.max(1, Math.round((this.lastActivity + this.timers.idleMs - Date.now()) / 1000));
    return { kind: 'idle-warning' as const, seconds, message: `this session will end in ${humanDuration(seconds)} because it has been idle; press a key to keep it` };
  }

  // One timer checks the idle clock a few times per warning period: cheap (a cgroup file read and
  // the pty's foreground process name), and it notices programs that work without printing.
  private armIdle(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.disposed || this.timers.idleMs <= 0) return;
    const tick = Math.max(100, Math.min(15_000, Math.floor(Math.min(this.timers.idleMs, this.warnMs || this.timers.idleMs) / 4)));
    this.idleTimer = setInterval(() => this.checkIdle(), tick);
    this.idleTimer.unref();
  }

  private checkIdle(): void {
    if (this.disposed || this.endReason) return;
    if (this.programRunning()) this.active();
    const idleFor = Date.now() - this.lastActivity;
    if (idleFor >= this.timers.idleMs) {
      this.timers.onExpire('idle');
      return;
    }
    if (!this.idleWarned && this.warnMs > 0 && idleFor >= this.timers.idleMs - this.warnMs) {
      this.idleWarned = true;
      this.noticeAll(this.idleNotice());
      this.timers.onActivity?.('idle');
    }
  }

  /** A program other than the shell in the foreground, or CPU time growing. */
  private programRunning(): boolean {
    let busy = false;
    const cpu = this.cpu.read();
    if (cpu !== undefined && this.lastCpu !== undefined && cpu - this.lastCpu > BUSY_CPU_NS) busy = true;
    if (cpu !== undefined) this.lastCpu = cpu;
    try {
      const fg = this.pty?.process;
      if (fg) {
        this.shellName ??= fg;
        if (fg !== this.shellName) busy = true;
      }
    } catch {
      // the pty is gone
    }
    return busy;
  }
}

/**
 * How many writes node-pty still holds for the program (it queues on EAGAIN). Not public API, so
 * read defensively: an unknown shape counts as an empty queue.
 */
function inputBacklog(p: IPty): number {
  const q = (p as unknown as { _writeStream?: { _writeQueue?: unknown[] } })._writeStream?._writeQueue;
  return Array.isArray(q) ? q.length : 0;
}
