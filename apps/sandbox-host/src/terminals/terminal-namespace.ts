// The socket.io namespace /terminals. Every payload is re-validated with @reg/protocol's schemas
// (the types say what a browser should send, not what it does); a bad one gets an `error` event
// and is dropped, the connection and the host carry on.
//
// Who may, per event:
// - attach (the student's own tab): a signed attach token naming this user and container, and
//   the user must still own it;
// - observe (look over the shoulder): the signed-in user (session cookie of the handshake) holds
//   class:assist in the container's class; typing needs the student's `grant`, checked on every
//   input; an observer never ends the session;
// - follow: class:read in the class whose instructor shares a terminal;
// - share: the controller of the terminal holds class:assist in that class.

import {
  ackSchema,
  attachRequestSchema,
  followRequestSchema,
  grantSchema,
  inputSchema,
  INPUT_CHUNK_MAX,
  observeRequestSchema,
  resizeSchema,
  shareRequestSchema,
  describeSessionEnd,
  sessionEndReasonSchema,
  TERMINALS_NAMESPACE,
  whyEndedSchema,
  type AttachReply,
  type ClientToServerEvents,
  type InputReply,
  type ServerToClientEvents,
  type TerminalError,
  type WhyEndedReply,
} from '@reg/protocol';
import type { Server, Socket } from 'socket.io';
import { audit } from '../admin/audit.js';
import { AccessError, type Principal } from '../auth/principal.js';
import { authorize, type ClassMembership, type Scope } from '../auth/scopes.js';
import type { TokenSigner } from '../auth/signed-token.js';
import type { Db } from '../db/client.js';
import type { Log } from '../log.js';
import type { SessionRegistry } from './session-registry.js';
import type { TerminalClient, TerminalSession } from './terminal-session.js';
import { principalOfHandshake } from './socket-principal.js';

type TerminalSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

const fail = (code: TerminalError['code'], message: string): { ok: false; error: TerminalError } => ({ ok: false, error: { code, message } });

export interface TerminalNamespaceDeps {
  signer: TokenSigner;
  db: Db;
  sessions: SessionRegistry;
  /** Resolves the handshake's session cookie (the same check as the HTTP API). */
  authenticate?: (token: string) => Promise<Principal | undefined>;
  membership?: ClassMembership;
  log?: Log;
}

export function registerTerminalNamespace(io: Server, deps: TerminalNamespaceDeps): void {
  const nsp = io.of(TERMINALS_NAMESPACE);
  nsp.on('connection', (raw) => {
    const socket = raw as TerminalSocket;
    let session: TerminalSession | undefined;
    /** Set while this socket views someone else's terminal (observe or follow). */
    let viewing: TerminalSession | undefined;
    const client: TerminalClient = {
      id: socket.id,
      screen: (d) => void socket.emit('screen', d),
      output: (d) => void socket.emit('output', d),
      exit: (info) => {
        socket.emit('exit', info);
        session = undefined;
        viewing = undefined;
      },
      error: (err) => {
        socket.emit('error', err);
        if (err.code === 'TAKEN_OVER') session = undefined;
      },
      watchers: (list) => void socket.emit('watchers', list),
      consent: (req) => void socket.emit('consent', req),
      control: (c) => void socket.emit('control', c),
      resized: (size) => void socket.emit('resized', size),
      notice: (n) => void socket.emit('notice', n),
    };
    const attachedSession = (): TerminalSession | undefined => (session?.isAttached(client) ? session : undefined);
    const replyOf = <R>(cb: unknown): ((r: R) => void) => (typeof cb === 'function' ? (cb as (r: R) => void) : (r: R) => {
      const failed = r as { ok?: boolean; error?: TerminalError };
      if (failed.ok === false && failed.error) socket.emit('error', failed.error);
    });
    const infoOf = (s: TerminalSession) => ({ containerId: s.containerId, ret: s.ret, ...s.info, ...s.size });
    const detachAll = () => {
      session?.detach(client);
      session = undefined;
      viewing?.unobserve(client);
      viewing = undefined;
    };

    /** The signed-in user of this socket, checked for `scope` in `classId` (throws AccessError). */
    const who = async (scope: Scope, classId: string | null): Promise<{ userId: string; name: string; principal: Principal }> => {
      if (!deps.authenticate || !deps.membership) throw new AccessError('FORBIDDEN', 'this host does not allow observing');
      const p = await principalOfHandshake(socket.handshake.headers, deps.authenticate);
      if (!p) throw new AccessError('UNAUTHENTICATED', 'sign in first');
      if (!classId) throw new AccessError('NOT_FOUND', 'no such terminal in your classes');
      await authorize(p, scope, { classId, membership: deps.membership });
      if (!p || p.kind !== 'user') throw new AccessError('UNAUTHENTICATED', 'sign in first');
      const u = await deps.db.user.findUnique({ where: { id: p.user.id }, select: { username: true, displayName: true } }).catch(() => null);
      return { userId: p.user.id, name: u?.displayName ?? u?.username ?? p.user.username, principal: p };
    };
    const accessFail = (e: unknown) => {
      if (e instanceof AccessError) return fail(e.code === 'BAD_REQUEST' ? 'BAD_PAYLOAD' : e.code, e.message);
      deps.log?.error('terminal socket', e);
      return fail('INTERNAL', 'the host could not do that; try again');
    };

    socket.on('attach', async (payload, cb) => {
      const reply = replyOf<AttachReply>(cb);
      const req = attachRequestSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', `attach: ${req.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`));
      const check = deps.signer.verify(req.data.token);
      if (!check.ok) return reply(fail('UNAUTHENTICATED', check.reason === 'expired' ? 'the terminal token has expired; reload to get a fresh one' : 'the terminal token is not valid'));
      const t = check.payload;
      if (t.kind !== 'attach') return reply(fail('UNAUTHENTICATED', 'that is not a terminal token'));
      if (t.cid !== req.data.containerId) return reply(fail('FORBIDDEN', 'the token was issued for another container'));
      const target = deps.sessions.get(req.data.containerId);
      let ownerId: string | null | undefined;
      try {
        ownerId = (await deps.db.container.findUnique({ where: { id: req.data.containerId }, select: { ownerId: true } }))?.ownerId;
      } catch {
        // The database is unreachable: this host's live session knows its owner, so a reload of a
        // terminal that is already open keeps working during the outage (the token is signed).
        ownerId = target?.ownerId;
      }
      if (!ownerId || ownerId !== t.sub) return reply(fail('FORBIDDEN', 'this terminal is not yours'));
      if (!target || target.endReason) return reply(fail('NOT_FOUND', 'this terminal has ended'));
      if (session && session !== target) session.detach(client);
      viewing?.unobserve(client);
      viewing = undefined;
      session = target;
      reply({ ok: true, ...infoOf(target) });
      target.attach(client, { cols: req.data.cols, rows: req.data.rows });
      deps.sessions.reportAttached(target);
    });

    socket.on('observe', async (payload, cb) => {
      const reply = replyOf<AttachReply>(cb);
      const req = observeRequestSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', `observe: ${req.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`));
      const target = deps.sessions.get(req.data.containerId);
      // An unknown container and one outside the observer's classes answer the same.
      let me: { userId: string; name: string; principal: Principal };
      try {
        me = await who('class:assist', target ? await deps.sessions.classOf(target) : null);
      } catch (e) {
        return reply(accessFail(e));
      }
      if (!target || target.endReason) return reply(fail('NOT_FOUND', 'this terminal has ended'));
      if (target.ownerId === me.userId) return reply(fail('FORBIDDEN', 'this is your own terminal: open it normally'));
      detachAll();
      viewing = target;
      reply({ ok: true, ...infoOf(target) });
      target.observe(client, { userId: me.userId, name: me.name, follower: false });
      // Looking at a student's screen is recorded, like any instructor action on their work.
      void audit(deps.db, me.principal, { action: 'terminal.observe', targetType: 'container', targetId: target.containerId, ...(target.info.classId && { classId: target.info.classId }), details: { owner: target.info.owner }, ip: socket.handshake.address }, (m) => deps.log?.error(m));
    });

    socket.on('follow', async (payload, cb) => {
      const reply = replyOf<AttachReply>(cb);
      const req = followRequestSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', `follow: ${req.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`));
      let me: { userId: string; name: string; principal: Principal };
      try {
        me = await who('class:read', req.data.classId);
      } catch (e) {
        return reply(accessFail(e));
      }
      const target = deps.sessions.sharedIn(req.data.classId);
      if (!target || target.endReason) return reply(fail('NOT_FOUND', 'your instructor is not sharing a terminal right now'));
      detachAll();
      viewing = target;
      reply({ ok: true, ...infoOf(target) });
      target.observe(client, { userId: me.userId, name: me.name, follower: true });
    });

    socket.on('whyEnded', async (payload, cb) => {
      const reply = replyOf<WhyEndedReply>(cb);
      const req = whyEndedSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', 'whyEnded needs {containerId}'));
      const p = deps.authenticate ? await principalOfHandshake(socket.handshake.headers, deps.authenticate).catch(() => undefined) : undefined;
      if (!p || p.kind !== 'user') return reply(fail('UNAUTHENTICATED', 'sign in first'));
      const row = await deps.db.container.findUnique({ where: { id: req.data.containerId }, select: { ownerId: true, endReason: true, endMessage: true, endedAt: true } }).catch(() => null);
      // Someone else's terminal and no terminal answer the same.
      if (!row || row.ownerId !== p.user.id) return reply(fail('NOT_FOUND', 'no such terminal of yours'));
      const reason = sessionEndReasonSchema.safeParse(row.endReason);
      const ended = row.endedAt !== null || deps.sessions.get(req.data.containerId) === undefined;
      reply({ ok: true, ended, reason: reason.success ? reason.data : null, message: row.endMessage ?? (reason.success ? describeSessionEnd(reason.data) : null) });
    });

    socket.on('share', async (payload, cb) => {
      const reply = replyOf<InputReply>(cb);
      const req = shareRequestSchema.safeParse(payload);
      if (!req.success) return reply(fail('BAD_PAYLOAD', 'share needs {classId} (or null to stop sharing)'));
      const s = attachedSession();
      if (!s) return reply(fail('NOT_ATTACHED', 'attach to your terminal first'));
      if (req.data.classId === null) {
        for (const cid of [s.info.classId].filter((x): x is string => !!x)) if (deps.sessions.sharedIn(cid) === s) deps.sessions.share(cid, null);
        client.notice?.({ kind: 'sharing', message: 'you stopped sharing this terminal' });
        return reply({ ok: true });
      }
      try {
        await who('class:assist', req.data.classId);
      } catch (e) {
        return reply(accessFail(e));
      }
      deps.sessions.share(req.data.classId, s.containerId);
      s.info = { ...s.info, classId: s.info.classId ?? req.data.classId };
      client.notice?.({ kind: 'sharing', message: 'your class can follow this terminal (read-only)' });
      reply({ ok: true });
    });

    socket.on('requestControl', (cb) => {
      const reply = replyOf<InputReply>(cb);
      const v = viewing?.viewer(client);
      if (!viewing || !v || v.follower) return reply(fail('NOT_ATTACHED', 'observe a terminal first'));
      if (!viewing.requestControl(client)) return reply(fail('NOT_FOUND', 'the student is not at their terminal to answer'));
      reply({ ok: true });
    });

    socket.on('grant', (payload) => {
      const g = grantSchema.safeParse(payload);
      if (!g.success) return void socket.emit('error', { code: 'BAD_PAYLOAD', message: 'grant needs {helperId, allow}' });
      const s = attachedSession();
      if (!s) return void socket.emit('error', { code: 'NOT_ATTACHED', message: 'attach to a terminal first' });
      s.grant(client, g.data.helperId, g.data.allow);
    });

    socket.on('input', (payload, cb) => {
      const reply = replyOf<InputReply>(cb);
      if (typeof payload === 'string' && payload.length > INPUT_CHUNK_MAX) {
        return reply(fail('INPUT_TOO_LARGE', `one input message may carry up to ${INPUT_CHUNK_MAX} characters (got ${payload.length}); paste in chunks`));
      }
      const data = inputSchema.safeParse(payload);
      if (!data.success) return reply(fail('BAD_PAYLOAD', 'input must be a non-empty string'));
      if (viewing) {
        const r = viewing.viewerInput(client, data.data);
        if (r === 'read-only') return reply(fail('READ_ONLY', 'you are watching: the student has not allowed you to type'));
        if (r === 'busy') return reply(fail('INPUT_BUSY', 'the program is not reading its input; that chunk was dropped'));
        if (typeof cb === 'function') reply({ ok: true });
        return;
      }
      const s = attachedSession();
      if (!s) return reply(fail('NOT_ATTACHED', 'attach to a terminal first'));
      if (!s.input(data.data)) return reply(fail('INPUT_BUSY', 'the program is not reading its input; that chunk was dropped'));
      if (typeof cb === 'function') reply({ ok: true });
    });

    socket.on('resize', (payload) => {
      const size = resizeSchema.safeParse(payload);
      if (!size.success) return void socket.emit('error', { code: 'BAD_PAYLOAD', message: 'resize needs {cols, rows} within 2..1000 × 1..500' });
      // Only the student's own tab sizes the terminal; viewers see it at the student's size.
      attachedSession()?.resize(size.data.cols, size.data.rows);
    });

    socket.on('ack', (payload) => {
      const n = ackSchema.safeParse(payload);
      if (!n.success) return void socket.emit('error', { code: 'BAD_PAYLOAD', message: 'ack needs a positive character count' });
      if (viewing) viewing.viewerAck(client, n.data);
      else attachedSession()?.ack(n.data);
    });

    socket.on('end', () => {
      const s = attachedSession();
      if (!s) return void socket.emit('error', { code: 'NOT_ATTACHED', message: viewing ? 'an observer cannot end the session' : 'attach to a terminal first' });
      void deps.sessions.end(s.containerId, 'ended');
    });

    socket.on('disconnect', () => detachAll());
  });
}
