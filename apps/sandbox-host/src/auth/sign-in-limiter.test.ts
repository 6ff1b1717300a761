import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignInLimiter } from './sign-in-limiter.js';

test('five failures in a minute from one address block that account at that address, with a doubling backoff', () => {
  const l = new SignInLimiter({ baseBlockMs: 60_000, maxBlockMs: 600_000 });
  const t0 = 1_000_000;
  for (let i = 0; i < 4; i++) l.failed('Alice', '10.0.0.1', t0 + i);
  assert.equal(l.retryAfterMs('alice', '10.0.0.1', t0 + 10), 0);
  l.failed('alice', '10.0.0.1', t0 + 10);
  assert.equal(l.retryAfterMs('alice', '10.0.0.1', t0 + 10), 60_000);
  // The owner at another address is not locked out, nor is another account at the same address.
  assert.equal(l.retryAfterMs('alice', '10.0.0.3', t0 + 10), 0);
  assert.equal(l.retryAfterMs('bob', '10.0.0.1', t0 + 10), 0);
  const t1 = t0 + 60_011;
  assert.equal(l.retryAfterMs('alice', '10.0.0.1', t1), 0);
  for (let i = 0; i < 5; i++) l.failed('alice', '10.0.0.1', t1 + i);
  assert.equal(l.retryAfterMs('alice', '10.0.0.1', t1 + 4), 120_000);
});

test('wrong passwords for an account from many addresses do not lock out its owner until the account-wide bound', () => {
  const l = new SignInLimiter();
  const t0 = 5_000_000;
  // Four guessers, five wrong passwords each: every one of them is throttled.
  for (let g = 1; g <= 4; g++) for (let i = 0; i < 5; i++) l.failed('erin', `198.51.100.${g}`, t0 + g * 10 + i);
  for (let g = 1; g <= 4; g++) assert.ok(l.retryAfterMs('erin', `198.51.100.${g}`, t0 + 100) > 0, `guesser ${g}`);
  // The owner, at an address with no failures, may sign in.
  assert.equal(l.retryAfterMs('erin', '10.1.1.1', t0 + 100), 0);
  l.succeeded('erin', '10.1.1.1');
  // A distributed guesser (50 addresses, one try each within the minute) hits the account-wide bound.
  const l2 = new SignInLimiter();
  for (let i = 0; i < 49; i++) l2.failed('frank', `203.0.113.${i}`, t0 + i);
  assert.equal(l2.retryAfterMs('frank', '10.1.1.1', t0 + 100), 0);
  l2.failed('frank', '203.0.113.200', t0 + 100);
  assert.equal(l2.retryAfterMs('frank', '10.1.1.1', t0 + 100), 60_000);
});

test('failures spread over more than the window do not block; a success clears that address\'s count', () => {
  const l = new SignInLimiter({ windowMs: 60_000 });
  for (let i = 0; i < 20; i++) l.failed('carol', '10.0.0.1', i * 20_000);
  assert.equal(l.retryAfterMs('carol', '10.0.0.1', 20 * 20_000), 0);
  for (let i = 0; i < 4; i++) l.failed('dave', '10.0.0.1', i);
  l.succeeded('dave', '10.0.0.1');
  l.failed('dave', '10.0.0.1', 5);
  assert.equal(l.retryAfterMs('dave', '10.0.0.1', 6), 0);
});

test('an address spraying many accounts is blocked for all of them', () => {
  const l = new SignInLimiter({ maxFailuresPerAddress: 30 });
  for (let i = 0; i < 30; i++) l.failed(`user${i}`, '192.0.2.7', 1000 + i);
  assert.ok(l.retryAfterMs('someone-else', '192.0.2.7', 1100) > 0);
  assert.equal(l.retryAfterMs('someone-else', '192.0.2.8', 1100), 0);
});

test('tries that name no account (one-time link tokens) count per address only', () => {
  const l = new SignInLimiter();
  for (let i = 0; i < 200; i++) l.failed(null, `203.0.113.${i}`, 1000 + i);
  assert.equal(l.retryAfterMs(null, '10.9.9.9', 1300), 0);
  for (let i = 0; i < 30; i++) l.failed(null, '192.0.2.1', 2000 + i);
  assert.ok(l.retryAfterMs(null, '192.0.2.1', 2100) > 0);
  assert.ok(l.retryAfterMs('anyone', '192.0.2.1', 2100) > 0);
});

test('a flood of distinct names and addresses keeps the table bounded', () => {
  const l = new SignInLimiter({ maxKeys: 1000 });
  for (let i = 0; i < 100_000; i++) l.failed(`u${i}`, `ip${i}`, i);
  assert.ok(l.size <= 1000, `size ${l.size}`);
});
