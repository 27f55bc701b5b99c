import { describe, expect, it } from 'vitest';
import {
  CreateScheduleRequestSchema,
  type ScheduleTiming,
  ScheduleTimingSchema,
} from '#shared/schemas/backup.ts';
import { nextRun, shortestGapMinutes, toCronExpression } from '#shared/services/schedule-timing.ts';

const at = (iso: string) => new Date(iso);

describe('schedule timing', () => {
  it('turns each interval into an EventBridge Scheduler cron expression (UTC)', () => {
    expect(toCronExpression({ interval: 'hourly', minutes: [30, 0], retentionDays: 7 })).toBe(
      'cron(0,30 * * * ? *)',
    );
    expect(toCronExpression({ interval: 'daily', hours: [3], minutes: [15], retentionDays: 30 })).toBe(
      'cron(15 3 * * ? *)',
    );
    expect(
      toCronExpression({
        interval: 'weekly',
        days: ['sun', 'mon'],
        hours: [1, 13],
        minutes: [5],
        retentionDays: 120,
      }),
    ).toBe('cron(5 1,13 ? * SUN,MON *)');
  });

  it('finds the next firing strictly after a time', () => {
    const hourly = { interval: 'hourly' as const, minutes: [0, 30], retentionDays: 1 };
    expect(nextRun(hourly, at('2026-11-25T10:00:00Z')).toISOString()).toBe('2026-11-25T10:30:00.000Z');
    expect(nextRun(hourly, at('2026-11-25T10:45:10Z')).toISOString()).toBe('2026-11-25T11:00:00.000Z');
    const weekly = {
      interval: 'weekly' as const,
      days: ['mon' as const],
      hours: [2],
      minutes: [0],
      retentionDays: 1,
    };
    // 2026-11-25 is a Wednesday: the next Monday is the 30th.
    expect(nextRun(weekly, at('2026-11-25T10:00:00Z')).toISOString()).toBe('2026-11-30T02:00:00.000Z');
  });

  it.each([
    ['hourly', { interval: 'hourly', minutes: [0], retentionDays: 8 }],
    ['daily', { interval: 'daily', hours: [1], minutes: [0], retentionDays: 61 }],
    ['weekly', { interval: 'weekly', days: ['mon'], hours: [1], minutes: [0], retentionDays: 121 }],
  ])('refuses retention beyond the %s limit, naming the field', (_interval, timing) => {
    const result = ScheduleTimingSchema.safeParse(timing);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['retentionDays']);
  });

  it('accepts the longest retention each interval allows, with kind and compression defaults', () => {
    const parsed = CreateScheduleRequestSchema.parse({
      interval: 'weekly',
      days: ['fri'],
      hours: [0],
      minutes: [0],
      retentionDays: 120,
    });
    expect(parsed).toMatchObject({ type: 'dump', compression: 'zstd', enabled: true, retentionDays: 120 });
  });
});

describe('shortestGapMinutes', () => {
  it.each([
    ['an hourly schedule at :00', [{ interval: 'hourly', minutes: [0], retentionDays: 1 }], 60],
    ['an hourly schedule at :00 and :15', [{ interval: 'hourly', minutes: [15, 0], retentionDays: 1 }], 15],
    [
      'a daily schedule at 00:00 and 12:00',
      [{ interval: 'daily', hours: [0, 12], minutes: [0], retentionDays: 1 }],
      720,
    ],
    [
      'a weekly schedule once a week',
      [{ interval: 'weekly', days: ['mon'], hours: [3], minutes: [0], retentionDays: 1 }],
      7 * 24 * 60,
    ],
    [
      'two daily schedules around midnight (23:50 and 00:10)',
      [
        { interval: 'daily', hours: [23], minutes: [50], retentionDays: 1 },
        { interval: 'daily', hours: [0], minutes: [10], retentionDays: 1 },
      ],
      20,
    ],
    [
      'two schedules firing at the same minute',
      [
        { interval: 'hourly', minutes: [0], retentionDays: 1 },
        { interval: 'daily', hours: [3], minutes: [0], retentionDays: 1 },
      ],
      0,
    ],
    [
      'weekly schedules on Saturday 23:50 and Sunday 00:10, across the end of the week',
      [
        { interval: 'weekly', days: ['sat'], hours: [23], minutes: [50], retentionDays: 1 },
        { interval: 'weekly', days: ['sun'], hours: [0], minutes: [10], retentionDays: 1 },
      ],
      20,
    ],
  ] as const)('%s', (_name, timings, expected) => {
    expect(shortestGapMinutes(timings as unknown as ScheduleTiming[])).toBe(expected);
  });
});
