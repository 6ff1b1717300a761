// Sign-in rate limit. Failures are counted under three keys, each with its own allowance inside
// `windowMs` (default one minute):
//   - (account, client address): 5 — the guesser at one address is stopped quickly;
//   - client address, any account: 30 — a larger allowance, because a classroom often shares one
//     NAT address, but one address spraying many accounts is still stopped;
//   - account, any address: 50 — a distributed guesser is still slowed, yet a handful of wrong
//     passwords typed at one address (or by someone else) never lock the owner out elsewhere.
// Once a key reaches its allowance it is blocked, for baseBlockMs the first time and twice as long
// each time again (up to maxBlockMs). A success clears the (account, address) count only: the
// account-wide count keeps bounding a distributed guesser. A one-time link's token names no account
// (and is too long to guess): its failures count against the address only.
//
// A flood of distinct usernames or addresses must not grow memory without bound: the table holds
// at most `maxKeys` entries (a Map in insertion order, refreshed on use, oldest evicted first).

export interface SignInLimiterOptions {
  /** Failures of one account from one address (default 5). */
  maxFailuresPerAccountAddress?: number;
  /** Failures of one account from all addresses together (default 50). */
  maxFailuresPerAccount?: number;
  /** Failures from one address, whatever the account (default 30). */
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
      maxFailuresPerAccountAddress: opts.maxFailuresPerAccountAddress ?? 5,
      maxFailuresPerAccount: opts.maxFailuresPerAccount ?? 50,
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

  /** Milliseconds until `account` from `address` may try again (0: now; account null: any account). */
  retryAfterMs(account: string | null, address: string, now = Date.now()): number {
    let wait = 0;
    for (const key of account === null ? [addressKey(address)] : keysOf(account, address)) {
      const e = this.entries.get(key);
      if (e && e.blockedUntil > now) wait = Math.max(wait, e.blockedUntil - now);
    }
    return wait;
  }

  /**
   * A failed attempt. `account` null: a try that names no account (a one-time link's token, too
   * long to guess): counted per address only, so nobody can block link sign-ins for everyone.
   */
  failed(account: string | null, address: string, now = Date.now()): void {
    if (account === null) return this.count(addressKey(address), this.o.maxFailuresPerAddress, now);
    const [pair, acc, addr] = keysOf(account, address);
    this.count(pair, this.o.maxFailuresPerAccountAddress, now);
    this.count(acc, this.o.maxFailuresPerAccount, now);
    this.count(addr, this.o.maxFailuresPerAddress, now);
  }

  /** The right password from `address`: that address's count for the account starts over. */
  succeeded(account: string, address: string): void {
    this.entries.delete(keysOf(account, address)[0]);
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

const keysOf = (account: string, address: string): [string, string, string] => {
  const a = account.toLowerCase().slice(0, 64);
  return [`aip:${a}\n${address}`, `a:${a}`, addressKey(address)];
};
const addressKey = (address: string): string => `ip:${address}`;
