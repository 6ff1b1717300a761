import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, maxSatisfying, parseRef, satisfies } from './version.js';

test('versions compare segment by segment, numerically', () => {
  assert.ok(compareVersions('3.11.10', '3.11.2') > 0);
  assert.ok(compareVersions('3.11', '3.11.0') < 0);
  assert.equal(compareVersions('6', '6'), 0);
  assert.ok(compareVersions('2025b', '2025a') > 0);
});

test('a bare range is a prefix: libc@6 matches 6, python@3.11 matches 3.11.x but not 3.1', () => {
  assert.ok(satisfies('6', '6'));
  assert.ok(satisfies('1.2.13', '1'));
  assert.ok(satisfies('3.11.2', '3.11'));
  assert.ok(!satisfies('3.1.2', '3.11'));
  assert.ok(!satisfies('3.12.0', '3.11'));
});

test('comparators, caret, tilde and exact ranges', () => {
  assert.ok(satisfies('20.20.2', '>=20 <21'));
  assert.ok(!satisfies('21.0.0', '>=20 <21'));
  assert.ok(satisfies('3.12.1', '^3.11'));
  assert.ok(!satisfies('4.0', '^3.11'));
  assert.ok(satisfies('3.11.9', '~3.11.2'));
  assert.ok(!satisfies('3.12.0', '~3.11.2'));
  assert.ok(satisfies('3.11.2', '=3.11.2'));
  assert.ok(!satisfies('3.11.20', '=3.11.2'));
  assert.equal(maxSatisfying(['3.9.1', '3.11.2', '3.11.10', '3.12.0'], '3.11'), '3.11.10');
  assert.equal(maxSatisfying(['1.0'], '2'), undefined);
});

test('references parse as name@range, and bad ones are usage errors naming the field', () => {
  assert.deepEqual(parseRef('python@3.11'), { name: 'python', range: '3.11' });
  assert.deepEqual(parseRef('libstdc++@6'), { name: 'libstdc++', range: '6' });
  assert.deepEqual(parseRef('node'), { name: 'node', range: '*' });
  assert.throws(() => parseRef('Python@3', 'requires[0]'), (e: any) => e.code === 'USAGE' && e.field === 'requires[0]');
  assert.throws(() => parseRef('python@>>3'), (e: any) => e.code === 'USAGE');
});
