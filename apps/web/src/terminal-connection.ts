// One browser terminal's link to the host, through the web app's own origin (/socket.io/ is
// proxied to the host, websocket only): attach (with a fresh token every time, so reconnects work
// after the token expired) or observe / follow someone else's terminal, the screen on
// (re-)attach, output written to xterm and acknowledged from xterm's write callback (the host
// pauses the program when we fall behind), and input sent in order, one chunk in flight at a time.
//
// The status a person sees: "connecting" until the first attach, "connected", "reconnecting"
// only after a link that worked dropped, and "offline" with the reason once MAX_ATTEMPTS tries
// failed (no endless spinner); retry() starts over.

import { io, type Socket } from 'socket.io-client';
import type { Terminal } from '@xterm/xterm';
import {
  describeSessionEnd,
  TERMINALS_NAMESPACE,
  type AttachReply,
  type ClientToServerEvents,
  type InputReply,
  type Outcome,
  type ServerToClientEvents,
  type SessionEndReason,
  type TerminalError,
  type TerminalInfo,
  type Watcher,
  type WhyEndedReply,
} from '@reg/protocol';
import { api, ApiFailure } from './api-client';
import { inputChunks } from './input-chunks';

export type LinkStatus = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'ended';

/** What this tab is to the terminal: its owner, a helper looking over the shoulder, or a follower. */
export type TerminalTarget = { mode: 'own'; containerId: string } | { mode: 'observe'; containerId: string } | { mode: 'follow'; classId: string };

export interface ConnectionEvents {
  status(s: LinkStatus, detail?: string): void;
  info?(i: TerminalInfo): void;
  /** (observe, follow) The owner's terminal size changed. */
  resized?(size: { cols: number; rows: number }): void;
  error(e: TerminalError): void;
  ended(message: string, reason: SessionEndReason | 'gone', outcome: Outcome | null): void;
  signedOut(): void;
  watchers?(list: Watcher[]): void;
  consent?(req: { helperId: string; name: string }): void;
  control?(c: { canType: boolean }): void;
  notice?(n: { kind: string; message: string; seconds?: number }): void;
}

/** Tries (connection or attach) before the tab stops and offers "Retry". */
const MAX_ATTEMPTS = 6;

export class TerminalConnection {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private readonly pending: string[] = [];
  private sending = false;
  private ended = false;
  private attached = false;
  private everAttached = false;
  private failures = 0;
  private lastFailure = '';

  constructor(
    private readonly target: TerminalTarget,
    private readonly term: Terminal,
    private readonly on: ConnectionEvents,
  ) {
    // Same origin: the web server forwards /socket.io/ to the host, so the LAN address works. With
    // several sandbox hosts the origin routes this socket by the terminal it names (its own
    // connection, not shared with the page's other sockets, so the name is in its handshake).
    const route = target.mode === 'follow' ? { follow: target.classId } : { container: target.containerId };
    this.socket = io(TERMINALS_NAMESPACE, { transports: ['websocket'], forceNew: true, query: route, reconnectionDelayMax: 4000, reconnectionAttempts: MAX_ATTEMPTS });
    on.status('connecting');
    this.socket.on('connect', () => void this.attach());
    this.socket.on('connect_error', () => this.failed('the host does not answer'));
    this.socket.io.on('reconnect_failed', () => this.giveUp());
    this.socket.on('disconnect', (why) => {
      this.attached = false;
      if (this.ended) return;
      if (why === 'io server disconnect') return this.giveUp('the host closed the connection');
      on.status(this.everAttached ? 'reconnecting' : 'connecting', 'the connection dropped');
    });
    this.socket.on('screen', (data) => {
      this.term.reset();
      this.write(data);
    });
    this.socket.on('output', (data) => this.write(data));
    this.socket.on('exit', ({ outcome, reason, message }) => this.finish(reason, message ?? describeSessionEnd(reason, outcome), outcome));
    this.socket.on('watchers', (l) => on.watchers?.(l));
    this.socket.on('consent', (r) => on.consent?.(r));
    this.socket.on('control', (c) => on.control?.(c));
    this.socket.on('resized', (size) => on.resized?.(size));
    this.socket.on('notice', (n) => on.notice?.(n));
    this.socket.on('error', (e) => {
      if (e.code === 'TAKEN_OVER') {
        this.ended = true;
        this.attached = false;
        this.socket.close();
        on.status('ended', 'this terminal is open in another tab');
      }
      on.error(e);
    });
  }

  /** Sends keystrokes or a paste, in order, chunked to what the host accepts. */
  input(data: string): void {
    if (this.ended) return;
    this.pending.push(...inputChunks(data));
    void this.pump();
  }

  resize(cols: number, rows: number): void {
    if (this.attached && this.target.mode === 'own') this.socket.emit('resize', { cols, rows });
  }

  /** Ends the session (the host stops and removes the container). */
  async end(): Promise<void> {
    if (this.ended || this.target.mode !== 'own') return;
    if (this.attached) this.socket.emit('end');
    else await api.remove(this.target.containerId).catch(() => {});
  }

  /** (student) Answer or revoke a helper's request to type. */
  grant(helperId: string, allow: boolean): void {
    this.socket.emit('grant', { helperId, allow });
  }

  /** (observer) Ask the student to allow typing. */
  async requestControl(): Promise<InputReply> {
    return this.socket.timeout(10_000).emitWithAck('requestControl').catch(() => ({ ok: false, error: { code: 'INTERNAL', message: 'no answer' } }) as InputReply);
  }

  /** (instructor) Share this terminal with a class read-only, or stop sharing (null). */
  async share(classId: string | null): Promise<InputReply> {
    return this.socket.timeout(10_000).emitWithAck('share', { classId }).catch(() => ({ ok: false, error: { code: 'INTERNAL', message: 'no answer' } }) as InputReply);
  }

  /** After "offline": try again from the start. */
  retry(): void {
    if (this.ended) return;
    this.failures = 0;
    this.on.status(this.everAttached ? 'reconnecting' : 'connecting');
    this.socket.connect();
  }

  dispose(): void {
    this.ended = true;
    this.socket.close();
  }

  private failed(why: string): void {
    if (this.ended) return;
    this.lastFailure = why;
    this.failures++;
    if (this.failures >= MAX_ATTEMPTS) return this.giveUp();
    this.on.status(this.everAttached ? 'reconnecting' : 'connecting', why);
    // Connected but the attach failed (the API or the host hiccuped): try again, backing off.
    if (this.socket.connected) setTimeout(() => !this.ended && this.socket.connected && !this.attached && void this.attach(), 500 * 2 ** this.failures);
  }

  private giveUp(why = this.lastFailure || 'the host does not answer'): void {
    if (this.ended) return;
    this.attached = false;
    this.socket.disconnect();
    this.on.status('offline', why);
  }

  private async attach(): Promise<void> {
    let reply: AttachReply;
    try {
      if (this.target.mode === 'own') {
        const { token } = await api.terminalToken(this.target.containerId);
        reply = await this.socket.timeout(15_000).emitWithAck('attach', { containerId: this.target.containerId, token, cols: this.term.cols, rows: this.term.rows });
      } else if (this.target.mode === 'observe') {
        reply = await this.socket.timeout(15_000).emitWithAck('observe', { containerId: this.target.containerId, cols: this.term.cols, rows: this.term.rows });
      } else {
        reply = await this.socket.timeout(15_000).emitWithAck('follow', { classId: this.target.classId, cols: this.term.cols, rows: this.term.rows });
      }
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 401) return this.on.signedOut();
      if (e instanceof ApiFailure && (e.status === 404 || e.status === 403)) return this.finishGone();
      return this.failed(e instanceof ApiFailure && e.status >= 500 ? 'the host does not answer' : 'the host did not answer in time');
    }
    if (!reply.ok) {
      const code = reply.error.code;
      if (code === 'UNAUTHENTICATED') return this.on.signedOut();
      if (this.target.mode === 'follow' && code === 'NOT_FOUND') {
        // Nothing shared yet: wait for it, asking again every few seconds.
        this.on.status('connecting', `waiting: ${reply.error.message}`);
        setTimeout(() => !this.ended && this.socket.connected && !this.attached && void this.attach(), 5000);
        return;
      }
      if (code === 'NOT_FOUND' || code === 'FORBIDDEN') return this.target.mode === 'own' ? this.finishGone() : this.finish('gone', reply.error.message);
      this.on.error(reply.error);
      return this.failed(reply.error.message);
    }
    const { ok: _ok, ...info } = reply;
    this.on.info?.(info);
    this.failures = 0;
    this.attached = true;
    this.everAttached = true;
    this.on.status('connected');
    void this.pump();
  }

  private write(data: string): void {
    this.term.write(data, () => this.socket.emit('ack', data.length || 1));
  }

  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.pending.length && this.attached && !this.ended) {
        const chunk = this.pending[0]!;
        const r: InputReply = await this.socket.timeout(30_000).emitWithAck('input', chunk).catch(() => ({ ok: false, error: { code: 'INTERNAL', message: 'no answer' } }) as InputReply);
        if (r.ok) {
          this.pending.shift();
        } else if (r.error.code === 'INPUT_BUSY') {
          await new Promise((res) => setTimeout(res, 50)); // the program is not reading yet: retry
        } else {
          // READ_ONLY and the rest: the keystrokes are dropped, the page says why.
          this.pending.length = 0;
          this.on.error(r.error);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** The terminal is gone (e.g. after a reload): say why when the host remembers. */
  private async finishGone(): Promise<void> {
    if (this.target.mode === 'own') {
      const r: WhyEndedReply = await this.socket.timeout(5000).emitWithAck('whyEnded', { containerId: this.target.containerId }).catch(() => ({ ok: false, error: { code: 'INTERNAL', message: '' } }) as WhyEndedReply);
      if (r.ok && r.ended && r.message) return this.finish(r.reason ?? 'gone', r.message);
    }
    this.finish('gone', 'this terminal has ended or is not yours');
  }

  private finish(reason: SessionEndReason | 'gone', message: string, outcome: Outcome | null = null): void {
    if (this.ended) return;
    this.ended = true;
    this.attached = false;
    this.pending.length = 0;
    this.socket.close();
    this.on.ended(message, reason, outcome);
    this.on.status('ended', message);
  }
}
