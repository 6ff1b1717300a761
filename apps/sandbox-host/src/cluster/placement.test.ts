import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeContainer, planClass, type PlacementHost, type PlacementRequest } from './placement.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const host = (id: string, freeGiB: number, rets: string[] = [], containers = 0): PlacementHost => ({ id, freeMemoryBytes: freeGiB * GiB, rets, containers });
const req = (o: Partial<PlacementRequest> = {}): PlacementRequest => ({ ret: 'python@3.11.2', needBytes: 64 * MiB, classCounts: new Map(), ...o });
const chosen = (p: ReturnType<typeof placeContainer>) => (p.ok ? p.hostId : `refused: ${p.reason}`);

test('more free memory wins when all else is equal', () => {
  assert.equal(chosen(placeContainer([host('a', 2), host('b', 6), host('c', 4)], req())), 'b');
});

test('a host with the class environment cached beats a slightly roomier one without it', () => {
  assert.equal(chosen(placeContainer([host('a', 6), host('b', 5, ['python@3.11.2'])], req())), 'b');
  // ...but not one with far more room (the RET is only a pull away)
  assert.equal(chosen(placeContainer([host('a', 16), host('b', 2, ['python@3.11.2'])], req())), 'a');
  // a bare RET name matches any version held
  assert.equal(chosen(placeContainer([host('a', 6), host('b', 5, ['python@3.11.2'])], req({ ret: 'python' }))), 'b');
  assert.equal(chosen(placeContainer([host('a', 6), host('b', 5, ['python@3.11.2'])], req({ ret: 'python@3.11' }))), 'b');
  assert.equal(chosen(placeContainer([host('a', 6), host('b', 5, ['python@3.12.1'])], req({ ret: 'python@3.1' }))), 'a', 'a version prefix matches whole components only');
});

test('a class is spread: the host with fewer of its students wins among equals', () => {
  const hosts = [host('a', 4, ['python@3.11.2']), host('b', 4, ['python@3.11.2']), host('c', 4, ['python@3.11.2'])];
  assert.equal(chosen(placeContainer(hosts, req({ classCounts: new Map([['a', 5], ['b', 4], ['c', 5]]) }))), 'b');
  // placing 30 students one by one ends 10/10/10
  const counts = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const p = placeContainer(hosts, req({ classCounts: counts }));
    assert.ok(p.ok);
    counts.set(p.hostId, (counts.get(p.hostId) ?? 0) + 1);
  }
  assert.deepEqual([...counts.entries()].sort(), [['a', 10], ['b', 10], ['c', 10]]);
});

test('hosts without the memory a container needs are never chosen; none at all is a clear refusal', () => {
  assert.equal(chosen(placeContainer([host('a', 0.01), host('b', 0.5)], req({ needBytes: 256 * MiB }))), 'b');
  const p = placeContainer([host('a', 0.01), host('b', 0.1)], req({ needBytes: 256 * MiB }));
  assert.equal(p.ok, false);
  assert.match(chosen(p), /no sandbox host has 256 MiB free \(the most is 102 MiB on 2 live hosts\)/);
  assert.match(chosen(placeContainer([], req())), /no sandbox host is up/);
});

test('the workspace lease holder keeps the student while it is live and has room', () => {
  const hosts = [host('a', 1), host('b', 8, ['python@3.11.2'])];
  const p = placeContainer(hosts, req({ leaseHolder: 'a' }));
  assert.ok(p.ok && p.hostId === 'a' && p.why === 'lease');
  // a holder that is not live (not in the list) or full: placed by score instead
  assert.equal(chosen(placeContainer(hosts, req({ leaseHolder: 'dead' }))), 'b');
  assert.equal(chosen(placeContainer([host('a', 0.01), host('b', 8)], req({ leaseHolder: 'a' }))), 'b');
});

test('ties are deterministic: fewer containers, then the smaller id', () => {
  assert.equal(chosen(placeContainer([host('b', 4, [], 3), host('a', 4, [], 5)], req())), 'b');
  assert.equal(chosen(placeContainer([host('b', 4), host('a', 4)], req())), 'a');
});

test('a class plan spreads 1000 students evenly over hosts that cannot each hold 1000 × the headroom', () => {
  // 15 GiB free each: 120 × 128 MiB headroom, but 1000 × 16 MiB expected use fits everywhere.
  const hosts = [host('h1', 15, ['python@3.11.2']), host('h2', 15), host('h3', 15)];
  const students = Array.from({ length: 1000 }, (_, i) => ({ userId: `u${i}` }));
  const plan = planClass(hosts, { ret: 'python@3.11.2', needBytes: 128 * MiB, expectedBytes: 16 * MiB, classCounts: new Map(), students });
  const sizes = ['h1', 'h2', 'h3'].map((h) => plan.get(h)?.length ?? 0);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 1000);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 2, `spread ${sizes.join('/')}`);
});

test('a class plan keeps leased students on their host and spreads what no host has room for', () => {
  const hosts = [host('a', 1), host('b', 1)];
  const students = [{ userId: 'x', leaseHolder: 'b' }, ...Array.from({ length: 200 }, (_, i) => ({ userId: `u${i}` }))];
  // 1 GiB free, 128 MiB headroom, 64 MiB expected: each host has room for 14, then none does.
  const plan = planClass(hosts, { ret: 'python@3.11.2', needBytes: 128 * MiB, expectedBytes: 64 * MiB, classCounts: new Map(), students });
  assert.equal(plan.get('b')![0], 'x');
  assert.equal(plan.get('a')!.length + plan.get('b')!.length, 201);
  assert.ok(Math.abs(plan.get('a')!.length - plan.get('b')!.length) <= 1);
  assert.equal(planClass([], { ret: 'r', needBytes: 1, expectedBytes: 1, classCounts: new Map(), students }).size, 0);
});
