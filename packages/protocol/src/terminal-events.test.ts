import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ackSchema, attachRequestSchema, createContainerSchema, INPUT_CHUNK_MAX, inputSchema, resizeSchema } from './index.js';

test('attach payloads are checked field by field', () => {
  assert.ok(attachRequestSchema.safeParse({ containerId: '0123456789ab', token: 't', cols: 80, rows: 24 }).success);
  for (const bad of [{}, null, 'x', { containerId: '../etc', token: 't', cols: 80, rows: 24 }, { containerId: '0123456789ab', token: '', cols: 80, rows: 24 }, { containerId: '0123456789ab', token: 't', cols: 1e6, rows: 24 }]) {
    assert.equal(attachRequestSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('input is capped per message; resize and ack are bounded numbers', () => {
  assert.ok(inputSchema.safeParse('a'.repeat(INPUT_CHUNK_MAX)).success);
  assert.equal(inputSchema.safeParse('a'.repeat(INPUT_CHUNK_MAX + 1)).success, false);
  assert.equal(inputSchema.safeParse(42).success, false);
  assert.equal(resizeSchema.safeParse({ cols: 0, rows: 10 }).success, false);
  assert.equal(ackSchema.safeParse(-1).success, false);
  assert.equal(ackSchema.safeParse(1.5).success, false);
});

test('create-container bodies default to a terminal and refuse unknown fields', () => {
  assert.deepEqual(createContainerSchema.parse({ ret: 'python@3.11' }), { ret: 'python@3.11', terminal: true });
  assert.equal(createContainerSchema.safeParse({ ret: 'python@3.11', projectDir: '/etc' }).success, false);
  assert.equal(createContainerSchema.safeParse({ ret: 'Python 3; rm -rf /' }).success, false);
});

test('a session end reads as a sentence a student understands, never a bare signal', async () => {
  const { describeSessionEnd } = await import('./index.js');
  assert.equal(describeSessionEnd('exited', { outcome: 'exited', code: 0 }), 'the program exited (code 0)');
  assert.equal(describeSessionEnd('ended', { outcome: 'signaled', signal: 15 }), 'you ended the session');
  assert.equal(describeSessionEnd('idle', { outcome: 'signaled', signal: 15 }, { idleSeconds: 1800 }), 'idle for 30 minutes');
  assert.equal(describeSessionEnd('stopped', null), 'stopped by your instructor');
  assert.equal(describeSessionEnd('host-restart', null), 'the host restarted');
  assert.equal(describeSessionEnd('exited', { outcome: 'oom' }), 'the program ran out of memory and was stopped');
  assert.doesNotMatch(describeSessionEnd('exited', { outcome: 'signaled', signal: 15 }), /^\(?signal 15\)?$/);
});

test('observe, follow, share and grant payloads are checked field by field', async () => {
  const { observeRequestSchema, followRequestSchema, shareRequestSchema, grantSchema, subscribeSchema, stopSessionSchema } = await import('./index.js');
  assert.ok(observeRequestSchema.safeParse({ containerId: '0123456789ab', cols: 80, rows: 24 }).success);
  assert.equal(observeRequestSchema.safeParse({ containerId: '../x', cols: 80, rows: 24 }).success, false);
  assert.ok(followRequestSchema.safeParse({ classId: 'c1', cols: 80, rows: 24 }).success);
  assert.equal(followRequestSchema.safeParse({ classId: 'a/b', cols: 80, rows: 24 }).success, false);
  assert.ok(shareRequestSchema.safeParse({ classId: null }).success);
  assert.equal(grantSchema.safeParse({ helperId: 'h', allow: 'yes' }).success, false);
  assert.equal(subscribeSchema.safeParse({ classId: '' }).success, false);
  assert.equal(stopSessionSchema.safeParse({ classId: 'c1' }).success, false);
});
