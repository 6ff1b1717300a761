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
