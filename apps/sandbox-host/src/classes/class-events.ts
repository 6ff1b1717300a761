// The in-process bus between the classroom's domains: the class service (start/stop progress,
// roster and environment changes), the terminal sessions (connected, idle, ended) and the live
// class view that forwards them to instructors over socket.io. Emitters never wait for listeners.

import { EventEmitter } from 'node:events';

export type ClassEvent =
  /** "Start class" progress: ready/failed out of total, failures named with their reason. */
  | { type: 'run'; classId: string; runId: string; status: 'starting' | 'started' | 'stopping' | 'stopped' | 'failed'; total: number; ready: number; failed: number; failures: Array<{ userId: string; username: string; code: string; message: string }> }
  /** One student's state changed (their environment prepared, a terminal connected, idle, ended). */
  | { type: 'student'; classId: string; userId: string; state: 'not-started' | 'ready' | 'connected' | 'idle' | 'ended'; containerId?: string; at: string; endMessage?: string }
  /** Roster or environment changed: views reload. */
  | { type: 'changed'; classId: string; what: 'roster' | 'environment' | 'class' };

export class ClassEvents {
  private readonly bus = new EventEmitter();

  constructor() {
    this.bus.setMaxListeners(0);
  }

  emit(e: ClassEvent): void {
    this.bus.emit(e.classId, e);
    this.bus.emit('*', e);
  }

  /** Listens to one class ('*': every class); returns the unsubscribe function. */
  on(classId: string, fn: (e: ClassEvent) => void): () => void {
    this.bus.on(classId, fn);
    return () => this.bus.off(classId, fn);
  }
}
