// Admission for expensive work (opening a terminal: generate, mount, start under a pty): at most
// `concurrency` at once, the rest wait in order instead of piling onto the event loop and timing
// out. A waiter whose client went away (its AbortSignal fired) leaves the queue without running,
// so a rush of impatient clients leaves no orphaned work behind.

import { RegError } from '@reg/core';

export class Admission {
  private running = 0;
  private readonly queue: Array<{ go: () => void; signal?: AbortSignal | undefined }> = [];

  constructor(
    readonly concurrency: number,
    /** Waiting beyond this many is refused at once (LIMIT_EXCEEDED, 429). */
    readonly maxQueue = 10_000,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  get active(): number {
    return this.running;
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw gone();
    if (this.running >= this.concurrency) {
      if (this.queue.length >= this.maxQueue) throw new RegError('LIMIT_EXCEEDED', `the host is busy: ${this.queue.length} terminals are waiting to open`, { hint: 'try again in a few seconds' });
      await new Promise<void>((resolve, reject) => {
        const entry = { go: resolve, signal };
        this.queue.push(entry);
        signal?.addEventListener(
          'abort',
          () => {
            const i = this.queue.indexOf(entry);
            if (i >= 0) {
              this.queue.splice(i, 1);
              reject(gone());
            }
          },
          { once: true },
        );
      });
    } else {
      this.running++;
    }
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next.go();
      else this.running--;
    }
  }
}

const gone = () => new RegError('USAGE', 'the client went away before its turn', { hint: 'nothing was started' });
