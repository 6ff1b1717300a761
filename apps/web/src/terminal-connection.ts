// One browser terminal's link to the host: attach (with a fresh token every time, so reconnects
// work after the token expired), the screen on (re-)attach, output written to xterm and
// acknowledged from xterm's write callback (the host pauses the program when we fall behind),
// and input sent in order, one chunk in flight at a time.

import { io, type Socket } from 'socket.io-client';
import type { Terminal } from '@xterm/xterm';
import { TERMINALS_NAMESPACE, type ClientToServerEvents, type InputReply, type ServerToClientEvents, type Outcome, type SessionEndReason, type TerminalError } from '@reg/protocol';
import { api, ApiFailure } from './api-client';
import { inputChunks } from './input-chunks';

export type LinkStatus = 'connecting' | 'connected' | 'reconnecting' | 'ended';

export interface ConnectionEvents {
  status(s: LinkStatus, detail?: string): void;
  error(e: TerminalError): void;
  ended(outcome: Outcome | null, reason: SessionEndReason | 'gone'): void;
  signedOut(): void;
}

export class TerminalConnection {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private readonly pending: string[] = [];
  private sending = false;
  private ended = false;
  private attached = false;

  constructor(
    private readonly containerId: string,
    private readonly term: Terminal,
    hostUrl: string,
    private readonly on: ConnectionEvents,
  ) {
    this.socket = io(`${hostUrl}${TERMINALS_NAMESPACE}`, { transports: ['websocket', 'polling'], reconnectionDelayMax: 3000 });
    this.socket.on('connect', () => void this.attach());
    this.socket.on('disconnect', () => {
      this.attached = false;
      if (!this.ended) on.status('reconnecting');
    });
    this.socket.io.on('reconnect_attempt', () => !this.ended && on.status('reconnecting'));
    this.socket.on('screen', (data) => {
      this.term.reset();
      this.write(data);
    });
    this.socket.on('output', (data) => this.write(data));
    this.socket.on('exit', ({ outcome, reason }) => this.finish(outcome, reason));
    this.socket.on('error', (e) => {
      if (e.code === 'TAKEN_OVER') {
        this.ended = true;
        this.socket.close();
        on.status('ended', 'opened in another tab');
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
    if (this.attached) this.socket.emit('resize', { cols, rows });
  }

  /** Ends the session (the host stops and removes the container). */
  async end(): Promise<void> {
    if (this.ended) return;
    if (this.attached) this.socket.emit('end');
    else await api.remove(this.containerId).catch(() => {});
  }

  dispose(): void {
    this.ended = true;
    this.socket.close();
  }

  private async attach(): Promise<void> {
    this.on.status(this.term.buffer.active.length > 1 ? 'reconnecting' : 'connecting');
    let token: string;
    try {
      token = (await api.terminalToken(this.containerId)).token;
    } catch (e) {
      if (e instanceof ApiFailure && e.status === 401) return this.on.signedOut();
      if (e instanceof ApiFailure && (e.status === 404 || e.status === 403)) return this.finish(null, 'gone', e.message);
      this.on.status('reconnecting', 'the host does not answer');
      return;
    }
    const reply = await this.socket.emitWithAck('attach', { containerId: this.containerId, token, cols: this.term.cols, rows: this.term.rows });
    if (!reply.ok) {
      if (reply.error.code === 'NOT_FOUND' || reply.error.code === 'FORBIDDEN') return this.finish(null, 'gone', reply.error.message);
      this.on.error(reply.error);
      return;
    }
    this.attached = true;
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
          this.pending.shift();
          this.on.error(r.error);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  private finish(outcome: Outcome | null, reason: SessionEndReason | 'gone', detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.attached = false;
    this.pending.length = 0;
    this.socket.close();
    this.on.ended(outcome, reason);
    this.on.status('ended', detail);
  }
}
