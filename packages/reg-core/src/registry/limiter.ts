// Bounded concurrency for transfers: at most `n` tasks run at once, the rest wait in order.
// A limited task must not wait for another limited task, or the pool can deadlock; callers wait
// for dependencies before entering the pool.

/** Parallel transfers per push or pull unless the caller says otherwise. */
export const DEFAULT_CONCURRENCY = 8;

export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

export function createLimiter(n: number): Limiter {
  const max = Math.max(1, Math.floor(n));
  let running = 0;
  const waiting: Array<() => void> = [];
  // A finishing task hands its slot straight to the next waiter, so none can be overtaken.
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}
