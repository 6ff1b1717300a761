// One container's terminal: the pty the launcher runs on, a headless xterm that keeps the screen
// for re-attaches, and at most one attached browser. The session owns every listener and timer it
// creates and releases them in dispose().
//
// Flow control: output is counted when read from the pty; the pty is paused (the program then
// blocks on write) while more than FLOW_HIGH_WATERMARK characters are unacknowledged by the
// browser or still unparsed by the headless terminal, and resumed below FLOW_LOW_WATERMARK. So
// `yes` in a student's shell costs the host at most a few hundred KiB, attached or not.

import xtermHeadless from '@xterm/headless';
import serializeAddon from '@xterm/addon-serialize';
import type { IPty } from 'node-pty';
import { FLOW_HIGH_WATERMARK, FLOW_LOW_WATERMARK, type Outcome, type SessionEndReason, type TerminalError } from '@reg/protocol';

const { Terminal } = xtermHeadless;
const { SerializeAddon } = serializeAddon;

/** Output is sent at once after a quiet spell, then at most every BATCH_MS (or at BATCH_CHARS). */
const BATCH_CHARS = 16 * 1024;
const BATCH_MS = 5;
const EAGER_PER_WINDOW = 2;
const SCROLLBACK = 1000;

/** The attached browser, as the session sees it (a socket.io socket in production). */
export interface TerminalClient {
  readonly id: string;
  screen(data: string): void;
  output(data: string): void;
  exit(info: { outcome: Outcome; reason: SessionEndReason }): void;
  error(err: TerminalError): void;
}

interface Disposable {
  dispose(): void;
}

export interface SessionTimers {
  graceMs: number;
  idleMs: number;
  /** Called when the grace period or the idle timeout runs out. */
  onExpire(reason: 'grace' | 'idle'): void;
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
  private readonly subscriptions: Disposable[] = [];
  private disposed = false;
  /** Why the session is ending, once someone decided it should. */
  endReason: SessionEndReason | undefined;
  lastInputAt = new Date();

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
    this.armGrace();
    this.armIdle();
  }

  get attached(): boolean {
    return this.client !== undefined || this.attaching !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Wires the pty (called by the spawner, before the engine waits for the launcher's start). */
  bindPty(p: IPty, onExit: () => void): void {
    this.pty = p;
    this.subscriptions.push(
      p.onData((data) => this.onOutput(data)),
      p.onExit(() => {
        this.flush();
        onExit();
      }),
    );
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
      for (const q of attaching.queued) this.queue(q);
      this.updatePause();
    });
  }

  detach(client: TerminalClient): void {
    if (this.attaching?.client.id === client.id) this.attaching = undefined;
    if (this.client?.id !== client.id) return;
    this.client = undefined;
    this.batch = '';
    this.unacked = 0;
    this.updatePause();
    this.armGrace();
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
    this.armIdle();
    return true;
  }

  resize(cols: number, rows: number): void {
    if (cols === this.headless.cols && rows === this.headless.rows) return;
    this.headless.resize(cols, rows);
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

  /** Tells the attached browser the session is over. */
  notifyExit(outcome: Outcome, reason: SessionEndReason): void {
    this.flush();
    (this.client ?? this.attaching?.client)?.exit({ outcome, reason });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearGrace();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.client = undefined;
    this.attaching = undefined;
    this.headless.dispose();
  }

  private onOutput(data: string): void {
    this.unparsed += data.length;
    this.headless.write(data, () => {
      this.unparsed -= data.length;
      if (this.paused) this.updatePause();
    });
    if (this.attaching) this.attaching.queued.push(data);
    else if (this.client) this.queue(data);
    this.updatePause();
  }

  // Interactive output (a keystroke's echo) goes out at once; only when more than
  // EAGER_PER_WINDOW sends fall into one BATCH_MS window (a flood) is the rest of the window
  // batched, which bounds the event rate without delaying typing.
  private queue(data: string): void {
    this.batch += data;
    this.unacked += data.length;
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

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.disposed || this.timers.idleMs <= 0) return;
    this.idleTimer = setTimeout(() => this.timers.onExpire('idle'), this.timers.idleMs);
    this.idleTimer.unref();
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
