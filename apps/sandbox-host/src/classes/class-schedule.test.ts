import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDue, SCHEDULE_GRACE_MS, SCHEDULE_LEAD_MS } from './class-schedule.js';

const at = new Date('2026-12-01T09:00:00Z');
const min = 60_000;
const plus = (ms: number) => new Date(at.getTime() + ms);

test('a scheduled class is due from the lead time until a while after, once', () => {
  const c = { scheduledStartAt: at, archivedAt: null };
  assert.equal(isDue(c, undefined, plus(-SCHEDULE_LEAD_MS - min)), false, 'too early');
  assert.equal(isDue(c, undefined, plus(-SCHEDULE_LEAD_MS + min)), true, 'within the lead');
  assert.equal(isDue(c, undefined, plus(10 * min)), true, 'late but within the grace');
  assert.equal(isDue(c, undefined, plus(SCHEDULE_GRACE_MS + min)), false, 'missed long ago: not started late');
  assert.equal(isDue(c, plus(-2 * min), plus(-min)), false, 'already started in this window (by the schedule or by hand)');
  assert.equal(isDue(c, plus(-24 * 60 * min), plus(-min)), true, 'yesterday\'s run does not count');
});

test('no schedule, or an archived class, is never due', () => {
  assert.equal(isDue({ scheduledStartAt: null, archivedAt: null }, undefined, at), false);
  assert.equal(isDue({ scheduledStartAt: at, archivedAt: new Date() }, undefined, at), false);
});
