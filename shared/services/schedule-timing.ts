import { type Schedule, type ScheduleTiming, ScheduleTimingSchema } from '../schemas/backup.ts';

/** A schedule's timing, as its request gave it. */
export const timingOf = (schedule: Schedule): ScheduleTiming =>
  ScheduleTimingSchema.parse({
    interval: schedule.interval,
    minutes: schedule.minutes,
    retentionDays: schedule.retentionDays,
    ...(schedule.interval !== 'hourly' ? { hours: schedule.hours } : {}),
    ...(schedule.interval === 'weekly' ? { days: schedule.days } : {}),
  });

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

const uniqueSorted = (values: readonly number[]) => [...new Set(values)].sort((a, b) => a - b);

/**
 * EventBridge Scheduler cron expression, UTC: `cron(minutes hours day-of-month month day-of-week year)`.
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based
 */
export const toCronExpression = (timing: ScheduleTiming): string => {
  const minutes = uniqueSorted(timing.minutes).join(',');
  switch (timing.interval) {
    case 'hourly':
      return `cron(${minutes} * * * ? *)`;
    case 'daily':
      return `cron(${minutes} ${uniqueSorted(timing.hours).join(',')} * * ? *)`;
    case 'weekly': {
      const days = WEEKDAYS.filter((day) => timing.days.includes(day)).map((day) => day.toUpperCase());
      return `cron(${minutes} ${uniqueSorted(timing.hours).join(',')} ? * ${days.join(',')} *)`;
    }
  }
};

const matches = (timing: ScheduleTiming, at: Date): boolean => {
  if (!timing.minutes.includes(at.getUTCMinutes())) return false;
  if (timing.interval === 'hourly') return true;
  if (!timing.hours.includes(at.getUTCHours())) return false;
  if (timing.interval === 'daily') return true;
  return timing.days.includes(WEEKDAYS[at.getUTCDay()] as (typeof WEEKDAYS)[number]);
};

/** The first whole minute strictly after `after` at which the schedule fires (the local cron). */
export const nextRun = (timing: ScheduleTiming, after: Date): Date => {
  const candidate = new Date(after.getTime());
  candidate.setUTCSeconds(0, 0);
  // At most a week of minutes: every valid timing fires at least once a week.
  for (let i = 0; i < 7 * 24 * 60 + 1; i++) {
    candidate.setUTCMinutes(candidate.getUTCMinutes() + 1);
    if (matches(timing, candidate)) return candidate;
  }
  throw new Error('The schedule never fires');
};

const MINUTES_PER_WEEK = 7 * 24 * 60;
const ALL_HOURS = Array.from({ length: 24 }, (_, hour) => hour);
const ALL_DAYS = WEEKDAYS.map((_, index) => index);

/**
 * The shortest time, in minutes, between two consecutive firings of these timings taken
 * together, across the week and around its end (a schedule that fires once a week is a week
 * apart from itself). Two timings firing at the same minute are 0 minutes apart.
 */
export const shortestGapMinutes = (timings: readonly ScheduleTiming[]): number => {
  const fires = new Uint8Array(MINUTES_PER_WEEK);
  let shortest = MINUTES_PER_WEEK;
  for (const timing of timings) {
    const hours = timing.interval === 'hourly' ? ALL_HOURS : uniqueSorted(timing.hours);
    const days =
      timing.interval === 'weekly'
        ? [...new Set(timing.days)].map((day) => WEEKDAYS.indexOf(day as (typeof WEEKDAYS)[number]))
        : ALL_DAYS;
    for (const day of days)
      for (const hour of hours)
        for (const minute of uniqueSorted(timing.minutes)) {
          const at = (day * 24 + hour) * 60 + minute;
          if (fires[at]) shortest = 0;
          fires[at] = 1;
        }
  }
  let first = -1;
  let previous = -1;
  for (let at = 0; at < MINUTES_PER_WEEK; at++) {
    if (!fires[at]) continue;
    if (previous >= 0) shortest = Math.min(shortest, at - previous);
    else first = at;
    previous = at;
  }
  if (first >= 0 && previous !== first) shortest = Math.min(shortest, first + MINUTES_PER_WEEK - previous);
  return shortest;
};
