// The schedule: a class with scheduledStartAt is prepared ("Start class") a few minutes before
// that time, once, so the first minute of the lab is not a cold start for everyone. The decision
// is a pure function (tested without a host); ClassRunner calls it on a timer.

/** How long before the scheduled time a class is prepared. */
export const SCHEDULE_LEAD_MS = 5 * 60_000;
/** A schedule missed by more than this (the host was down) is not started late. */
export const SCHEDULE_GRACE_MS = 30 * 60_000;

export interface Schedulable {
  scheduledStartAt: Date | null;
  archivedAt: Date | null;
}

/**
 * Whether the class should be started now: its time is within the lead, not long past, and no run
 * has begun since the lead window opened (a manual start, or this schedule's own, count).
 */
export function isDue(c: Schedulable, lastRunStartedAt: Date | undefined, now: Date, leadMs = SCHEDULE_LEAD_MS): boolean {
  if (!c.scheduledStartAt || c.archivedAt) return false;
  const at = c.scheduledStartAt.getTime();
  const t = now.getTime();
  if (t < at - leadMs || t > at + SCHEDULE_GRACE_MS) return false;
  return !lastRunStartedAt || lastRunStartedAt.getTime() < at - leadMs;
}
