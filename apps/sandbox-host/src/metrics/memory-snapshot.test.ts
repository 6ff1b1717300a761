import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMeminfo, parsePsi } from './host-memory.js';
import { memorySnapshot, type SnapshotInputs } from './memory-snapshot.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function inputs(over: Partial<SnapshotInputs> = {}): SnapshotInputs {
  const c = (id: string, ret: string, rss: number, pss: number, uss: number, cg: number) => ({ id, ret, pids: 2, rss, pss, uss, shared: rss - uss, cgroupMemoryBytes: cg, oomKills: 0 });
  return {
    at: new Date('2026-11-30T12:00:00Z'),
    sampleMs: 3.2,
    everyMs: 2000,
    meminfo: { total: 16 * GiB, free: 2 * GiB, available: 10 * GiB, pageCache: 5 * GiB, swapTotal: GiB, swapFree: GiB / 2 },
    psi: { some: { avg10: 1, avg60: 0.5, avg300: 0.1, totalUs: 5 }, full: null },
    engine: {
      containers: [c('aaaaaaaaaaaa', 'python@3.11', 30 * MiB, 12 * MiB, 8 * MiB, 40 * MiB), c('bbbbbbbbbbbb', 'python@3.11', 30 * MiB, 10 * MiB, 6 * MiB, 120 * MiB), c('cccccccccccc', 'node@20', 50 * MiB, 40 * MiB, 35 * MiB, 60 * MiB)],
      total: { rss: 110 * MiB, pss: 62 * MiB, uss: 49 * MiB, shared: 61 * MiB, swap: 0 },
      savedBySharing: 48 * MiB,
      hostUsedBytes: 6 * GiB,
    },
    meta: new Map([
      ['aaaaaaaaaaaa', { user: 'ann', userId: 'u1', class: 'CS1', classId: 'k1', limitBytes: 256 * MiB }],
      ['bbbbbbbbbbbb', { user: 'bob', userId: 'u2', class: 'CS1', classId: 'k1', limitBytes: 128 * MiB }],
      ['cccccccccccc', { user: 'ann', userId: 'u1', class: null, classId: null, limitBytes: null }],
    ]),
    regHostRss: 200 * MiB,
    store: null,
    failedClassRuns: [],
    ...over,
  };
}

test('the figures: reconcile, sharing, groups, capacity', () => {
  const s = memorySnapshot(inputs());
  assert.equal(s.host.used, 6 * GiB);
  assert.equal(s.host.swapUsed, GiB / 2);
  assert.deepEqual(s.reconcile, { hostUsed: 6 * GiB, containersPss: 62 * MiB, regHostRss: 200 * MiB, other: 6 * GiB - 62 * MiB - 200 * MiB });
  assert.deepEqual(s.sharing, { withoutSharing: 110 * MiB, withSharing: 62 * MiB, saved: 48 * MiB });
  assert.deepEqual(s.containers.map((c) => c.id), ['cccccccccccc', 'aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
  const ann = s.byUser.find((u) => u.label === 'ann')!;
  assert.equal(ann.containers, 2);
  assert.equal(ann.pss, 52 * MiB);
  assert.deepEqual(s.byClass.map((c) => [c.label, c.containers]), [['(no class)', 1], ['CS1', 2]]);
  const py = s.capacity.find((c) => c.ret === 'python@3.11')!;
  assert.equal(py.perContainerUss, 7 * MiB);
  assert.equal(py.fits, Math.floor((10 * GiB) / (7 * MiB)));
  assert.equal(s.containers.find((c) => c.id === 'bbbbbbbbbbbb')!.limitUse, 120 / 128);
});

test('alerts: near the limit, pressure, low memory, store disk, failed class start', () => {
  assert.deepEqual(memorySnapshot(inputs()).alerts.map((a) => a.kind), ['near-limit']);
  const s = memorySnapshot(
    inputs({
      meminfo: { total: 16 * GiB, free: 0, available: GiB, pageCache: 0, swapTotal: 0, swapFree: 0 },
      psi: { some: { avg10: 25, avg60: 5, avg300: 1, totalUs: 9 }, full: { avg10: 3, avg60: 1, avg300: 0, totalUs: 2 } },
      store: { rets: 2, blobs: 10, bytes: 100, closures: [], logicalBytes: 150, savedBytes: 50, shared: [], diskTotal: 100 * GiB, diskFree: 2 * GiB },
      failedClassRuns: [{ classId: 'k1', className: 'CS1', failed: 3, status: 'started' }],
    }),
  );
  assert.deepEqual(s.alerts.map((a) => a.kind).sort(), ['class-start-failed', 'host-low-memory', 'host-pressure', 'near-limit', 'store-disk']);
  assert.match(s.alerts.find((a) => a.kind === 'class-start-failed')!.message, /3 student/);
});

test('meminfo and PSI parsing (PSI absent: null)', () => {
  const m = parseMeminfo('MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:   8000 kB\nBuffers:  100 kB\nCached:  3000 kB\nShmem: 200 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n');
  assert.deepEqual(m, { total: 16000 * 1024, free: 1000 * 1024, available: 8000 * 1024, pageCache: 2900 * 1024, swapTotal: 0, swapFree: 0 });
  const p = parsePsi('some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=99\n');
  assert.deepEqual(p, { some: { avg10: 1.5, avg60: 0.2, avg300: 0, totalUs: 12345 }, full: { avg10: 0.1, avg60: 0, avg300: 0, totalUs: 99 } });
  assert.equal(parsePsi(''), null);
});
