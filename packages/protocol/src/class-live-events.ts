// The socket.io contract of the /classes namespace: the live class view of instructors and TAs.
// `subscribe` answers with a snapshot of the roster (each student's state, last activity, memory),
// then `student` and `run` events keep it current; `stopSession` ends a student's terminals with
// the reason "stopped by your instructor". The host re-checks every payload and the caller's
// role in the class (scope class:assist) on every event.

import { z } from 'zod';

export const CLASSES_NAMESPACE = '/classes';

export const STUDENT_STATES = ['not-started', 'ready', 'connected', 'idle', 'ended'] as const;
export type StudentState = (typeof STUDENT_STATES)[number];

const classId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'a class id is letters, digits, - and _');
export const subscribeSchema = z.object({ classId });
export const stopSessionSchema = z.object({ classId, userId: z.string().min(1).max(64) });

export interface LiveStudent {
  userId: string;
  username: string;
  displayName: string | null;
  state: StudentState;
  /** ISO time of the last input, output or state change we know of. */
  lastActivityAt: string | null;
  /** Resident memory of the student's containers from the latest sample, bytes (null: none). */
  memoryBytes: number | null;
  /** The student's live terminals (observe opens one of these). */
  containerIds: string[];
  /** Why their last session ended, in the student's words. */
  endMessage: string | null;
}

export interface LiveRun {
  runId: string;
  status: 'starting' | 'started' | 'stopping' | 'stopped' | 'failed';
  total: number;
  ready: number;
  failed: number;
  failures: Array<{ userId: string; username: string; code: string; message: string }>;
}

export interface LiveSnapshot {
  classId: string;
  className: string;
  students: LiveStudent[];
  run: LiveRun | null;
  /** The container the instructor shares with the class (follow along), if any. */
  sharing: string | null;
}

export interface LiveError {
  code: 'BAD_PAYLOAD' | 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'INTERNAL';
  message: string;
}

export type SubscribeReply = { ok: true; snapshot: LiveSnapshot } | { ok: false; error: LiveError };
export type StopSessionReply = { ok: true; ended: number } | { ok: false; error: LiveError };

export interface ClassLiveClientEvents {
  subscribe: (req: { classId: string }, reply: (r: SubscribeReply) => void) => void;
  unsubscribe: (req: { classId: string }) => void;
  stopSession: (req: { classId: string; userId: string }, reply: (r: StopSessionReply) => void) => void;
}

export interface ClassLiveServerEvents {
  /** One student's state changed. */
  student: (s: { classId: string; userId: string; state: StudentState; containerId?: string; at: string; memoryBytes?: number | null; endMessage?: string | null }) => void;
  /** "Start class" progress. */
  run: (r: LiveRun & { classId: string }) => void;
  /** The roster or environment changed: ask for a fresh snapshot. */
  changed: (c: { classId: string; what: string }) => void;
  error: (e: LiveError) => void;
}
