import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignInLimiter } from './sign-in-limiter.js';

test('five failures in a minute block the account, with a doubling backoff', () => {
  const l = new SignInLimiter({ maxFailuresPerAccount: 5, baseBlockMs: 60_000, maxBlockMs: 600_000 });
  const t0 = 1_000_000;
  for (let i = 0; i < 4; i++) l.failed('Alice', '10.0.0.1', t0 + i);
  assert.equal(l.retryAfterMs('alice', '10.0.0.9', t0 + 10), 0);
  l.failed('alice', '10.0.0.2', t0 + 10);
  // Blocked whatever the address: the account is the key.
  assert.equal(l.retryAfterMs('alice', '10.0.0.3', t0 + 10), 60_000);
  assert.equal(l.retryAfterMs('bob', '10.0.0.3', t0 + 10), 0);
  const t1 = t0 + 60_011;
  assert.equal(l.retryAfterMs('alice', '10.0.0.3', t1), 0);
  for (let i = 0; i < 5; i++) l.failed('alice', '10.0.0.1', t1 + i);
  assert.equal(l.retryAfterMs('alice', '10.0.0.1', t1 + 4), 120_000);
});

test('failures spread over more than the window do not block; a success clears the account', () => {
  const l = new SignInLimiter({ maxFailuresPerAccount: 5, windowMs: 60_000 });
  for (let i = 0; i < 20; i++) l.failed('carol', `10.0.0.${i}`, i * 20_000);
  assert.equal(l.retryAfterMs('carol', '10.0.1.1', 20 * 20_000), 0);
  for (let i = 0; i < 4; i++) l.failed('dave', '10.0.0.1', i);
  l.succeeded('dave');
  l.failed('dave', '10.0.0.1', 5);
  assert.equal(l.retryAfterMs('dave', '10.0.0.1', 6), 0);
});

test('an address spraying many accounts is blocked for all of them', () => {
  const l = new SignInLimiter({ maxFailuresPerAddress: 30 });
  for (let i = 0; i < 30; i++) l.failed(`user${i}`, '192.0.2.7', 1000 + i);
  assert.ok(l.retryAfterMs('someone-else', '192.0.2.7', 1100) > 0);
  assert.equal(l.retryAfterMs('someone-else', '192.0.2.8', 1100), 0);
});

test('a flood of distinct names and addresses keeps the table bounded', () => {
  const l = new SignInLimiter({ maxKeys: 1000 });
  for (let i = 0; i < 100_000; i++) l.failed(`u${i}`, `ip${i}`, i);
  assert.ok(l.size <= 1000, `size ${l.size}`);
});
