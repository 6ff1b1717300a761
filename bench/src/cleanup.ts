// Whatever the bench sets up (containers, dockerd, mount namespaces, temp dirs) registers how to
// undo it here; undo runs in reverse order at the end, on an exception, and on SIGINT/SIGTERM/
// SIGHUP, so an interrupted bench leaves the shared machine as it found it.

type Undo = { what: string; fn: () => Promise<void> | void };

export class Cleanup {
  private readonly stack: Undo[] = [];
  private running: Promise<void> | undefined;

  /** Registers an undo step; returns a function that runs it early (and removes it). */
  add(what: string, fn: () => Promise<void> | void): () => Promise<void> {
    const entry: Undo = { what, fn };
    this.stack.push(entry);
    return async () => {
      const i = this.stack.indexOf(entry);
      if (i < 0) return;
      this.stack.splice(i, 1);
      await entry.fn();
    };
  }

  /** Runs every undo step, newest first; a failing step is reported and the rest still run. */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      while (this.stack.length) {
        const u = this.stack.pop()!;
        try {
          await u.fn();
        } catch (e) {
          console.error(`cleanup: ${u.what}: ${(e as Error).message}`);
        }
      }
    })();
    return this.running;
  }

  /** On a signal: clean up, then exit with 128+signal. A second signal exits at once. */
  installSignalHandlers(): void {
    const numbers: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
    for (const sig of Object.keys(numbers) as NodeJS.Signals[]) {
      process.on(sig, () => {
        if (this.running) process.exit(128 + numbers[sig]!);
        console.error(`\nbench: ${sig}, cleaning up (send it again to exit at once)`);
        void this.runAll().finally(() => process.exit(128 + numbers[sig]!));
      });
    }
    // A throw from an event handler would otherwise end the process without any cleanup.
    const fatal = (e: unknown) => {
      console.error(`bench: fatal: ${(e as Error)?.stack ?? String(e)}`);
      void this.runAll().finally(() => process.exit(70));
    };
    process.on('uncaughtException', fatal);
    process.on('unhandledRejection', fatal);
  }
}
