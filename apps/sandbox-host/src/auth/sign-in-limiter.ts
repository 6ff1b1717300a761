// Sign-in rate limit: failures are counted per account and per client address; once a key has
// `maxFailures` failures inside `windowMs` it is blocked, for baseBlockMs the first time and twice
// as long each time again (up to maxBlockMs). A success clears the account's count. Addresses get
// a larger allowance than accounts, because a classroom often shares one NAT address.
//
// A flood of distinct usernames or addresses must not grow memory without bound: the table holds
// at most `maxKeys` entries (a Map in insertion order, refreshed on use, oldest evicted first).

export interface SignInLimiterOptions {
  maxFailuresPerAccount?: number;
  maxFailuresPerAddress?: number;
  windowMs?: number;
  baseBlockMs?: number;
  maxBlockMs?: number;
  maxKeys?: number;
}

interface Entry {
  /** Failure times inside the window, oldest first (at most maxFailures of them). */
  failures: number[];
  blockedUntil: number;
  /** How many times this key has been blocked (the backoff exponent); decays after a quiet window. */
  strikes: number;
  lastAt: number;
}

export class SignInLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<SignInLimiterOptions>;

  constructor(opts: SignInLimiterOptions = {}) {
    this.o = {
      maxFailuresPerAccount: opts.maxFailuresPerAccount ?? 5,
      maxFailuresPerAddress: opts.maxFailuresPerAddress ?? 30,
      windowMs: opts.windowMs ?? 60_000,
      baseBlockMs: opts.baseBlockMs ?? 60_000,
      maxBlockMs: opts.maxBlockMs ?? 15 * 60_000,
      maxKeys: opts.maxKeys ?? 20_000,
    };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds until `account` from `address` may try again (0: now). */
  retryAfterMs(account: string, address: string, now = Date.now()): number {
    let wait = 0;
    for (const key of keysOf(account, address)) {
      const e = this.entries.get(key);
      if (e && e.blockedUntil > now) wait = Math.max(wait, e.blockedUntil - now);
    }
    return wait;
  }

  failed(account: string, address: string, now = Date.now()): void {
    const [acc, addr] = keysOf(account, address);
    this.count(acc, this.o.maxFailuresPerAccount, now);
    this.count(addr, this.o.maxFailuresPerAddress, now);
  }

  succeeded(account: string): void {
    this.entries.delete(keysOf(account, '')[0]);
  }

  private count(key: string, max: number, now: number): void {
    let e = this.entries.get(key);
    if (e) this.entries.delete(key); // re-inserted below: most recently used goes last
    else e = { failures: [], blockedUntil: 0, strikes: 0, lastAt: now };
    // A key quiet for a whole block period starts over.
    if (now - e.lastAt > this.o.maxBlockMs) e.strikes = 0;
    e.lastAt = now;
    e.failures = e.failures.filter((t) => now - t < this.o.windowMs);
    e.failures.push(now);
    if (e.failures.length >= max) {
      e.blockedUntil = now + Math.min(this.o.baseBlockMs * 2 ** e.strikes, this.o.maxBlockMs);
      e.strikes += 1;
      e.failures = [];
    }
    while (this.entries.size >= this.o.maxKeys) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, e);
  }
}

const keysOf = (account: string, address: string): [string, string] => [`a:${account.toLowerCase().slice(0, 64)}`, `ip:${address}`];
