import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRegError } from '../errors.js';
import { assertCgroupName, cpuQuotaUs, isValidCgroupName, validateLimits } from './driver.js';

function rejectsField(limits: unknown, field: string): void {
  assert.throws(
    () => validateLimits(limits),
    (e) => isRegError(e, 'USAGE') && e.field === field && typeof e.hint === 'string',
  );
}

describe('validateLimits', () => {
  it('accepts and copies good limits, dropping nothing else', () => {
    const limits = { memoryBytes: 64 << 20, swapBytes: 0, pids: 32, cpuMillicores: 1500 };
    assert.deepEqual(validateLimits(limits), limits);
    assert.deepEqual(validateLimits({}), {});
    assert.deepEqual(validateLimits(undefined), {});
  });

  it('rejects bad values naming the field', () => {
    rejectsField({ memoryBytes: -1 }, 'memoryBytes');
    rejectsField({ memoryBytes: 1000 }, 'memoryBytes'); // bytes, not MiB
    rejectsField({ memoryBytes: '64M' }, 'memoryBytes');
    rejectsField({ swapBytes: -5 }, 'swapBytes');
    rejectsField({ pids: 0 }, 'pids');
    rejectsField({ pids: 1.5 }, 'pids');
    rejectsField({ cpuMillicores: 5 }, 'cpuMillicores');
    rejectsField({ cpuMillicores: Number.NaN }, 'cpuMillicores');
    rejectsField({ memory: 1 << 30 }, 'memory');
    rejectsField('lots', 'limits');
    rejectsField([], 'limits');
  });

  it('turns millicores into a quota over the 100 ms period', () => {
    assert.equal(cpuQuotaUs(1000), 100_000);
    assert.equal(cpuQuotaUs(250), 25_000);
  });
});

describe('cgroup names', () => {
  it('accepts container-like names and refuses paths and control-file shapes', () => {
    for (const ok of ['c1', 'abc-def_1.2', 'a'.repeat(64), '0']) assert.ok(isValidCgroupName(ok), ok);
    for (const bad of ['', 'A', '-x', '.x', 'a/b', '..', 'a'.repeat(65), 'memory.max', 'cgroup.procs', 'tasks', 'x y']) {
      assert.ok(!isValidCgroupName(bad), bad);
      assert.throws(() => assertCgroupName(bad), (e) => isRegError(e, 'USAGE') && e.field === 'name');
    }
  });
});
