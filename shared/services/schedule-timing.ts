import type { ScheduleTiming } from '../schemas/backup.ts';

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
