import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { isRegError } from '../errors.js';
import { cgroupLimitsOf, defaultPolicy, effectiveLimits, hostCeilings, validatePolicy, assertContainerCap, type LimitPolicy } from './policy.js';

const GiB = 1024 ** 3;
const policy: LimitPolicy = {
  defaults: { memoryBytes: 512 * 1024 ** 2, pids: 256, cpus: 1, diskBytes: GiB, diskInodes: 100_000, ptys: 16 },
  ceilings: { memoryBytes: 4 * GiB, pids: 1024, cpus: 2, diskBytes: 10 * GiB, diskInodes: 1_000_000, ptys: 64 },
  maxContainersPerUser: 3,
};

function refused(fn: () => unknown, field: string, re: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRegError(e, 'LIMIT_EXCEEDED'), String(e));
    assert.equal(e.field, field);
    assert.match(e.message, re);
    assert.ok(e.hint);
    return true;
  });
}

test('hostCeilings reads this machine', () => {
  const c = hostCeilings('/');
  assert.equal(c.cpus, availableParallelism());
  assert.ok(c.memoryBytes > 64 * 1024 ** 2);
  assert.ok(c.pids >= 300 && c.pids <= 4_194_304);
  assert.ok(c.diskBytes > 0 && c.diskInodes > 0 && c.ptys > 0);
});

test('the default policy never has a default above the host', () => {
  const p = defaultPolicy({ memoryBytes: 256 * 1024 ** 2, pids: 100, cpus: 1, diskBytes: GiB, diskInodes: 1000, ptys: 8 });
  assert.equal(p.defaults.memoryBytes, 256 * 1024 ** 2);
  assert.equal(p.defaults.pids, 100);
  assert.equal(p.defaults.ptys, 8);
  validatePolicy(p);
});

test('later layers override earlier ones; undefined leaves the layer below', () => {
  const l = effectiveLimits(policy, { memoryBytes: GiB, pids: 512 }, { pids: 128 }, undefined, { cpus: 0.5 });
  assert.deepEqual(l, { ...policy.defaults, memoryBytes: GiB, pids: 128, cpus: 0.5 });
  assert.deepEqual(effectiveLimits(policy), policy.defaults);
  assert.deepEqual(cgroupLimitsOf(l), { memoryBytes: GiB, swapBytes: 0, pids: 128, cpuMillicores: 500 });
});

test('a value above its ceiling is refused naming field, value and ceiling', () => {
  refused(() => effectiveLimits(policy, { memoryBytes: 64 * GiB }), 'memoryBytes', /64 GiB.*ceiling of 4 GiB/);
  refused(() => effectiveLimits(policy, { pids: 4_194_304 }), 'pids', /4194304.*1024/);
  refused(() => effectiveLimits(policy, { cpus: 1000 }), 'cpus', /1000 CPUs.*2 CPUs/);
  // an earlier layer above the ceiling is refused even if a later one lowers something else
  refused(() => effectiveLimits(policy, { ptys: 65 }, { pids: 1 }), 'ptys', /65/);
});

test('non-positive, fractional counts and non-numbers are refused', () => {
  refused(() => effectiveLimits(policy, { pids: 0 }), 'pids', /positive whole number/);
  refused(() => effectiveLimits(policy, { memoryBytes: -1 }), 'memoryBytes', /positive/);
  refused(() => effectiveLimits(policy, { diskInodes: 1.5 }), 'diskInodes', /whole number/);
  refused(() => effectiveLimits(policy, { cpus: Number.NaN }), 'cpus', /positive number/);
  refused(() => effectiveLimits(policy, { cpus: '1' as unknown as number }), 'cpus', /positive/);
  assert.throws(() => effectiveLimits(policy, { swap: 1 } as never), (e) => isRegError(e, 'USAGE') && e.field === 'swap');
});

test('validatePolicy refuses a default above its ceiling and malformed input', () => {
  assert.throws(() => validatePolicy({ ...policy, defaults: { ...policy.defaults, pids: 2048 } }), (e) => isRegError(e, 'LIMIT_EXCEEDED') && e.field === 'defaults.pids');
  assert.throws(() => validatePolicy({ ...policy, maxContainersPerUser: 0 }), (e) => isRegError(e, 'USAGE') && e.field === 'maxContainersPerUser');
  assert.deepEqual(validatePolicy(policy), policy);
});

test('the per-user container cap', () => {
  assertContainerCap(policy, 2);
  assert.throws(() => assertContainerCap(policy, 3), (e) => isRegError(e, 'LIMIT_EXCEEDED') && /3 containers running: the limit is 3/.test(e.message));
});
