// The socket.io namespace /terminals. Every payload is re-validated with @reg/protocol's schemas
// (the types say what a browser should send, not what it does); a bad one gets an `error` event
// and is dropped, the connection and the host carry on. Attach needs a signed token naming this
// user and this container, and the user must still own it.

import {
  ackSchema,
  attachRequestSchema,
  inputSchema,
  INPUT_CHUNK_MAX,
  resizeSchema,
  TERMINALS_NAMESPACE,
  type AttachReply,
  type ClientToServerEvents,
  type InputReply,
  type ServerToClientEvents,
  type TerminalError,
} from '@reg/protocol';
import type { Server, Socket } from 'socket.io';
import type { TokenSigner } from '../auth/signed-token.js';
import type { Db } from '../db/client.js';
import type { SessionRegistry } from './session-registry.js';
import type { TerminalClient, TerminalSession } from './terminal-session.js';

type TerminalSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

const fail = (code: TerminalError['code'], message: string): { ok: false; error: TerminalError } => ({ ok: false, error: { code, message } });

export function registerTerminalNamespace(io: Server, deps: { signer: TokenSigner; db: Db; sessions: SessionRegistry }): void {
  const nsp = io.of(TERMINALS_NAMESPACE);
  nsp.on('connection', (raw) => {
    const socket = raw as TerminalSocket;
    let session: TerminalSession | undefined;
    const client: TerminalClient = {
      id: socket.id,
      screen: (d) => void socket.emit('screen', d),
      output: (d) => void socket.emit('output', d),
      exit: (info) => {
        socket.emit('exit', info);
        session = undefined;
      },
      error: (err) => {
        socket.emit('error', err);
        if (err.code === 'TAKEN_OVER') session = undefined;
      },
    };
    const attachedSession = (): TerminalSession | undefined => (session?.isAttached(client) ? session : undefined);
    const replyOf = <R>(cb: unknown): ((r: R) => void) => (typeof cb === 'function' ? (cb as (r: R) => void) : (r: R) => {
      const failed = r as { ok?: boolean; error?: TerminalError };
      if (failed.ok === false && failed.error) socket.emit('error', failed.error);
    });

    socket.on('attach', async (payload, cb) => {
      const reply = replyOf<AttachReply>(cb);
      const req = attachRequestSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', `attach: ${req.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`));
      const check = deps.signer.verify(req.data.token);
      if (!check.ok) return reply(fail('UNAUTHENTICATED', check.reason === 'expired' ? 'the terminal token has expired; reload to get a fresh one' : 'the terminal token is not valid'));
      const t = check.payload;
      if (t.kind !== 'attach') return reply(fail('UNAUTHENTICATED', 'that is not a terminal token'));
      if (t.cid !== req.data.containerId) return reply(fail('FORBIDDEN', 'the token was issued for another container'));
      const row = await deps.db.container.findUnique({ where: { id: req.data.containerId }, select: { ownerId: true } }).catch(() => null);
      if (!row || row.ownerId !== t.sub) return reply(fail('FORBIDDEN', 'this terminal is not yours'));
      const target = deps.sessions.get(req.data.containerId);
      if (!target || target.endReason) return reply(fail('NOT_FOUND', 'this terminal has ended'));
      if (session && session !== target) session.detach(client);
      session = target;
      reply({ ok: true, containerId: target.containerId, ret: target.ret });
      target.attach(client, { cols: req.data.cols, rows: req.data.rows });
    });

    socket.on('input', (payload, cb) => {
      const reply = replyOf<InputReply>(cb);
      if (typeof payload === 'string' && payload.length > INPUT_CHUNK_MAX) {
        return reply(fail('INPUT_TOO_LARGE', `one input message may carry up to ${INPUT_CHUNK_MAX} characters (got ${payload.length}); paste in chunks`));
      }
      const data = inputSchema.safeParse(payload);
      if (!data.success) return reply(fail('BAD_PAYLOAD', 'input must be a non-empty string'));
      const s = attachedSession();
      if (!s) return reply(fail('NOT_ATTACHED', 'attach to a terminal first'));
      if (!s.input(data.data)) return reply(fail('INPUT_BUSY', 'the program is not reading its input; that chunk was dropped'));
      if (typeof cb === 'function') reply({ ok: true });
    });

    socket.on('resize', (payload) => {
      const size = resizeSchema.safeParse(payload);
      if (!size.success) return void socket.emit('error', { code: 'BAD_PAYLOAD', message: 'resize needs {cols, rows} within 2..1000 × 1..500' });
      attachedSession()?.resize(size.data.cols, size.data.rows);
    });

    socket.on('ack', (payload) => {
      const n = ackSchema.safeParse(payload);
      if (!n.success) return void socket.emit('error', { code: 'BAD_PAYLOAD', message: 'ack needs a positive character count' });
      attachedSession()?.ack(n.data);
    });

    socket.on('end', () => {
      const s = attachedSession();
      if (!s) return void socket.emit('error', { code: 'NOT_ATTACHED', message: 'attach to a terminal first' });
      void deps.sessions.end(s.containerId, 'ended');
    });

    socket.on('disconnect', () => {
      session?.detach(client);
      session = undefined;
    });
  });
}
