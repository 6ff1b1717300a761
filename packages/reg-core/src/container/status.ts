// The container lifecycle of the paper, exactly: Generating → Generated → Running ⇄ Inserting →
// Stopped → Removed. Each verb has a guard; an illegal transition is an ILLEGAL_TRANSITION error
// naming the container, its status and the verb. Status is observed (refresh.ts), this file only
// says what may follow what.

import { RegError } from '../errors.js';

export const STATUSES = ['generating', 'generated', 'running', 'inserting', 'stopped', 'removed'] as const;
export type ContainerStatus = (typeof STATUSES)[number];

export type Verb = 'generate' | 'start' | 'insert' | 'stop' | 'remove';

/** Which statuses each verb may start from. */
const ALLOWED: Record<Verb, readonly ContainerStatus[]> = {
  generate: [], // only a new container is generated
  start: ['generated', 'stopped'],
  insert: ['running'],
  stop: ['running', 'inserting'],
  remove: ['generated', 'stopped'],
};

export const canStart = (s: ContainerStatus) => ALLOWED.start.includes(s);
export const canInsert = (s: ContainerStatus) => ALLOWED.insert.includes(s);
export const canStop = (s: ContainerStatus) => ALLOWED.stop.includes(s);
export const canRemove = (s: ContainerStatus) => ALLOWED.remove.includes(s);

export function assertTransition(id: string, status: ContainerStatus, verb: Verb): void {
  if (ALLOWED[verb].includes(status)) return;
  const hints: Partial<Record<Verb, string>> = {
    start: status === 'running' ? 'it is already running' : undefined,
    stop: status === 'stopped' || status === 'generated' ? 'it is not running' : undefined,
    remove: status === 'running' ? 'stop it first, or use `reg rm --force`' : undefined,
    insert: 'start it first: RETs are inserted into running containers',
  };
  throw new RegError('ILLEGAL_TRANSITION', `cannot ${verb} container ${id}: it is ${status}`, {
    field: 'status',
    hint: hints[verb] ?? `allowed from: ${ALLOWED[verb].join(', ') || 'a new container only'}`,
  });
}

/** What a finished run ended as: a student's failure is a result, not an error. */
export interface Outcome {
  outcome: 'exited' | 'signaled' | 'oom' | 'timeout' | 'exec-failed' | 'setup-failed';
  code?: number;
  signal?: number;
  error?: string;
}
