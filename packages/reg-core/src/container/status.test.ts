import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegError } from '../errors.js';
import { assertTransition, canInsert, canRemove, canStart, canStop, STATUSES } from './status.js';

test("the paper's transitions, and only those", () => {
  const allowed = (pred: (s: (typeof STATUSES)[number]) => boolean) => STATUSES.filter(pred);
  assert.deepEqual(allowed(canStart), ['generated', 'stopped']);
  assert.deepEqual(allowed(canInsert), ['running']);
  assert.deepEqual(allowed(canStop), ['running', 'inserting']);
  assert.deepEqual(allowed(canRemove), ['generated', 'stopped']);
});

test('an illegal transition is ILLEGAL_TRANSITION naming the container, status and verb', () => {
  assert.throws(
    () => assertTransition('abc', 'stopped', 'stop'),
    (e: RegError) => e.code === 'ILLEGAL_TRANSITION' && e.message === 'cannot stop container abc: it is stopped' && e.hint === 'it is not running',
  );
  assert.throws(() => assertTransition('abc', 'running', 'remove'), (e: RegError) => /stop it first/.test(e.hint ?? ''));
  assert.doesNotThrow(() => assertTransition('abc', 'running', 'insert'));
});
