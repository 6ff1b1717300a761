// The socket.io contract of the /terminals namespace: one pair of event maps used by the host and
// the browser, and the zod schemas the host re-checks every incoming payload with (a browser is
// never trusted to send what its types say).

import { z } from 'zod';
import { outcomeSchema, type Outcome } from './api-schemas.js';

export const TERMINALS_NAMESPACE = '/terminals';

/** The largest single `input` payload (UTF-16 code units); bigger pastes are chunked by the client. */
export const INPUT_CHUNK_MAX = 64 * 1024;

/**
 * Flow control, counted in UTF-16 code units of `output`/`screen` payloads: the host stops reading
 * the pty when more than HIGH are unacknowledged and resumes when the browser has caught up to LOW.
 */
export const FLOW_HIGH_WATERMARK = 128 * 1024;
export const FLOW_LOW_WATERMARK = 16 * 1024;

const containerId = z.string().regex(/^[0-9a-f]{12}$/, 'a container id is 12 hex digits');
const cols = z.number().int().min(2).max(1000);
const rows = z.number().int().min(1).max(500);

export const attachRequestSchema = z.object({
  containerId,
  token: z.string().min(1).max(4096),
  cols,
  rows,
});
export type AttachRequest = z.infer<typeof attachRequestSchema>;

/**
 * Look over a student's shoulder (TAs and instructors of the container's class, checked with the
 * signed-in cookie): the observer gets the screen and the output; its input is refused until the
 * student allows it (`requestControl` → the student's `consent` prompt → `grant`).
 */
export const observeRequestSchema = z.object({ containerId, cols, rows });
export type ObserveRequest = z.infer<typeof observeRequestSchema>;

const classId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'a class id is letters, digits, - and _');
/** Follow along: a student of the class watches the terminal their instructor shares (read-only). */
export const followRequestSchema = z.object({ classId, cols, rows });
export type FollowRequest = z.infer<typeof followRequestSchema>;
/** The instructor shares (classId) or stops sharing (null) the terminal they are attached to. */
export const shareRequestSchema = z.object({ classId: classId.nullable() });
export type ShareRequest = z.infer<typeof shareRequestSchema>;
/** The student's answer to a helper's request to type (or, later, taking the keyboard back). */
export const grantSchema = z.object({ helperId: z.string().min(1).max(64), allow: z.boolean() });
export type Grant = z.infer<typeof grantSchema>;

export const inputSchema = z.string().min(1).max(INPUT_CHUNK_MAX, `input is limited to ${INPUT_CHUNK_MAX} characters per message; send pastes in chunks`);
export const resizeSchema = z.object({ cols, rows });
export type TerminalSize = z.infer<typeof resizeSchema>;
/** How many more output characters the browser has rendered since its last ack. */
export const ackSchema = z.number().int().positive().max(64 * 1024 * 1024);

export const TERMINAL_ERROR_CODES = [
  'BAD_PAYLOAD', // an event's payload failed validation
  'UNAUTHENTICATED', // the attach token is missing, forged or expired
  'FORBIDDEN', // the token does not name this container, or the user does not own it
  'NOT_FOUND', // no live terminal for that container
  'NOT_ATTACHED', // input/resize/ack/end before a successful attach
  'INPUT_TOO_LARGE', // one input payload exceeded INPUT_CHUNK_MAX
  'INPUT_BUSY', // the program is not reading its input; the chunk was dropped
  'TAKEN_OVER', // another tab attached to the same terminal
  'READ_ONLY', // an observer typed without the student's consent
  'HOST_UNREACHABLE', // (browser side) the host does not answer
  'INTERNAL', // the host failed; the message says what
] as const;
export type TerminalErrorCode = (typeof TERMINAL_ERROR_CODES)[number];

export interface TerminalError {
  code: TerminalErrorCode;
  message: string;
}

/** What a terminal runs, for its bar: "Python 3.11 · Intro to CS". */
export interface TerminalInfo {
  containerId: string;
  ret: string;
  /** Python, Node or Shell (from the RET and the command). */
  kind: string;
  classId: string | null;
  className: string | null;
  /** The owner's display name (observers and followers see whose terminal it is). */
  owner: string | null;
  /** The terminal's size (set by its owner's tab): observers and followers show it at this size. */
  cols: number;
  rows: number;
}

export type AttachReply = ({ ok: true } & TerminalInfo) | { ok: false; error: TerminalError };

/** Why a terminal of yours is over (after a reload finds it gone, e.g. the host restarted). */
export const whyEndedSchema = z.object({ containerId });
export type WhyEndedReply = { ok: true; ended: boolean; reason: SessionEndReason | null; message: string | null } | { ok: false; error: TerminalError };

/** Someone is watching or helping: shown in the student's terminal bar. */
export interface Watcher {
  id: string;
  name: string;
  /** Allowed to type (the student said yes). */
  canType: boolean;
}

export type InputReply = { ok: true } | { ok: false; error: TerminalError };

export interface ClientToServerEvents {
  /** Attach to a container's terminal; the host answers through `reply`, then sends `screen`. */
  attach: (req: AttachRequest, reply: (r: AttachReply) => void) => void;
  /** Keystrokes or a chunk of a paste; `reply` (optional) paces chunked pastes. */
  input: (data: string, reply?: (r: InputReply) => void) => void;
  resize: (size: TerminalSize) => void;
  /** Acknowledges rendered output (see FLOW_HIGH_WATERMARK). */
  ack: (chars: number) => void;
  /** Ends the session: the container is stopped and removed. */
  end: () => void;
  /** Attach read-only to a student's terminal (TAs and instructors of its class). */
  observe: (req: ObserveRequest, reply: (r: AttachReply) => void) => void;
  /** Watch the terminal the instructor of `classId` shares. */
  follow: (req: FollowRequest, reply: (r: AttachReply) => void) => void;
  /** (observer) Ask the student to allow typing. */
  requestControl: (reply?: (r: InputReply) => void) => void;
  /** (student) Answer a request to type, or revoke it later with allow=false. */
  grant: (g: Grant) => void;
  /** Why one of your terminals ended (signed-in cookie); for a page that finds it gone. */
  whyEnded: (req: { containerId: string }, reply: (r: WhyEndedReply) => void) => void;
  /** (instructor) Share the attached terminal with a class read-only, or stop (classId null). */
  share: (req: ShareRequest, reply?: (r: InputReply) => void) => void;
}

export interface ServerToClientEvents {
  /** The serialized screen (with scrollback), sent first on every attach: reset, then write it. */
  screen: (data: string) => void;
  /** Program output, batched. */
  output: (data: string) => void;
  /** The program ended (or the session was ended); its container has been removed. */
  exit: (info: { outcome: Outcome; reason: SessionEndReason; message: string }) => void;
  error: (err: TerminalError) => void;
  /** (student) Who is watching or helping right now. */
  watchers: (list: Watcher[]) => void;
  /** (student) A helper asks to type: answer with `grant`. */
  consent: (req: { helperId: string; name: string }) => void;
  /** (observer, follower) The owner resized the terminal. */
  resized: (size: TerminalSize) => void;
  /** (observer) Whether the student lets you type now. */
  control: (c: { canType: boolean }) => void;
  /** A message for the person at this terminal, e.g. the idle warning; not program output. */
  notice: (n: { kind: 'idle-warning' | 'idle-cleared' | 'sharing'; message: string; seconds?: number }) => void;
}

export const SESSION_END_REASONS = ['exited', 'ended', 'idle', 'grace', 'shutdown', 'host-restart', 'removed', 'stopped', 'host-down'] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];
export const sessionEndReasonSchema = z.enum(SESSION_END_REASONS);

export { outcomeSchema };

/**
 * The sentence a student reads when a session is over, e.g. "the program exited (code 0)" or
 * "stopped by your instructor". The same words for the terminal, the status bar and the lists.
 */
export function describeSessionEnd(reason: SessionEndReason | 'gone', outcome?: Outcome | null, opts: { idleSeconds?: number } = {}): string {
  switch (reason) {
    case 'exited':
      if (!outcome) return 'the program exited';
      if (outcome.outcome === 'exited') return `the program exited (code ${outcome.code ?? 0})`;
      if (outcome.outcome === 'oom') return 'the program ran out of memory and was stopped';
      if (outcome.outcome === 'timeout') return 'the program ran out of time and was stopped';
      if (outcome.outcome === 'exec-failed' || outcome.outcome === 'setup-failed') return 'the program could not be started';
      return `the program was stopped by a signal${outcome.signal ? ` (${signalName(outcome.signal)})` : ''}`;
    case 'ended':
      return 'you ended the session';
    case 'idle':
      return opts.idleSeconds ? `idle for ${humanDuration(opts.idleSeconds)}` : 'it was idle for too long';
    case 'grace':
      return 'nobody was connected to it for a while';
    case 'shutdown':
      return 'the host shut down';
    case 'host-restart':
      return 'the host restarted';
    case 'host-down':
      return 'your sandbox host stopped; reopen the terminal to continue (your files are kept)';
    case 'removed':
      return 'its container was removed';
    case 'stopped':
      return 'stopped by your instructor';
    case 'gone':
      return 'this terminal no longer exists';
  }
}

function signalName(n: number): string {
  return ({ 1: 'SIGHUP', 2: 'SIGINT', 9: 'SIGKILL', 15: 'SIGTERM' } as Record<number, string>)[n] ?? `signal ${n}`;
}

export function humanDuration(seconds: number): string {
  if (seconds % 3600 === 0 && seconds >= 3600) return `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} minute${seconds === 60 ? '' : 's'}`;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}
