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
  'INTERNAL', // the host failed; the message says what
] as const;
export type TerminalErrorCode = (typeof TERMINAL_ERROR_CODES)[number];

export interface TerminalError {
  code: TerminalErrorCode;
  message: string;
}

export type AttachReply = { ok: true; containerId: string; ret: string } | { ok: false; error: TerminalError };
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
}

export interface ServerToClientEvents {
  /** The serialized screen (with scrollback), sent first on every attach: reset, then write it. */
  screen: (data: string) => void;
  /** Program output, batched. */
  output: (data: string) => void;
  /** The program ended (or the session was ended); its container has been removed. */
  exit: (info: { outcome: Outcome; reason: SessionEndReason }) => void;
  error: (err: TerminalError) => void;
}

export const SESSION_END_REASONS = ['exited', 'ended', 'idle', 'grace', 'shutdown', 'host-restart', 'removed'] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];
export const sessionEndReasonSchema = z.enum(SESSION_END_REASONS);

export { outcomeSchema };
