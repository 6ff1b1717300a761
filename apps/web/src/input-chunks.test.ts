import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INPUT_CHUNK_MAX } from '@reg/protocol';
import { inputChunks } from './input-chunks.js';

test('a 10 MB paste becomes chunks the host accepts, in order, losing nothing', () => {
  const paste = 'x'.repeat(10 * 1024 * 1024);
  const chunks = inputChunks(paste);
  assert.ok(chunks.every((c) => c.length > 0 && c.length <= INPUT_CHUNK_MAX));
  assert.equal(chunks.join(''), paste);
  assert.equal(chunks.length, Math.ceil(paste.length / INPUT_CHUNK_MAX));
});

test('chunks never split a surrogate pair', () => {
  const paste = `${'a'.repeat(9)}😀${'b'.repeat(5)}`;
  const chunks = inputChunks(paste, 10);
  assert.deepEqual(chunks, ['a'.repeat(9), `😀${'b'.repeat(5)}`]);
  assert.deepEqual(inputChunks('keystroke'), ['keystroke']);
  assert.deepEqual(inputChunks(''), []);
});
