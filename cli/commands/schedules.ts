import type { BackupSchedule, CreateBackupScheduleRequest } from '../../client/index.ts';
import type { CommandSpec } from '../command.ts';
import { choice, flag, int, list, type Values } from '../context.ts';
import { EXIT, usageError } from '../exit-codes.ts';
import { record, table } from '../output.ts';

const INTERVALS = ['hourly', 'daily', 'weekly'] as const;
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const when = (schedule: BackupSchedule) => {
  const minutes = schedule.minutes.map((m) => String(m).padStart(2, '0'));
  const times = schedule.hours
    ? schedule.hours.flatMap((h) => minutes.map((m) => `${String(h).padStart(2, '0')}:${m}`))
    : minutes.map((m) => `:${m}`);
  return `${schedule.days ? `${schedule.days.join(',')} ` : ''}${times.join(',')} UTC`;
};

const scheduleRow = (schedule: BackupSchedule) => ({
  id: schedule.id,
  interval: schedule.interval,
  when: when(schedule),
  retention: `${schedule.retentionDays}d`,
  type: schedule.type === 'dump' ? `dump (${schedule.compression})` : schedule.type,
  enabled: schedule.enabled ? 'yes' : 'no',
  'last run': schedule.lastRun ? `${schedule.lastRun.at} ${schedule.lastRun.outcome}` : null,
});

const numbers = (values: Values, name: string, max: number) =>
  list(values, name)?.map((item) => {
    const number = Number(item);
    if (!Number.isInteger(number) || number < 0 || number > max)
      throw usageError(`--${name} takes numbers from 0 to ${max}, comma-separated`);
    return number;
  });

const SCHEDULE_OPTIONS = {
  interval: { type: 'string', help: '<hourly|daily|weekly>' },
  days: { type: 'string', help: '<mon,thu> weekdays (weekly)' },
  hours: { type: 'string', help: '<3,15> hours, UTC (daily, weekly)' },
  minutes: { type: 'string', help: '<0,30> minutes past the hour' },
  'retention-days': { type: 'string', help: '<n> days each backup is kept' },
  type: { type: 'string', help: '<dump|snapshot> default dump' },
  compression: { type: 'string', help: '<zstd|gzip> of dumps, default zstd' },
  disabled: { type: 'boolean', help: 'create or set it disabled' },
  enabled: { type: 'boolean', help: 'set it enabled (update)' },
} as const;

/** The schedule fields the options give (absent ones left out). */
const scheduleFields = (values: Values) => {
  const days = list(values, 'days');
  for (const day of days ?? [])
    if (!(WEEKDAYS as readonly string[]).includes(day))
      throw usageError(`--days takes ${WEEKDAYS.join(',')}`);
  const hours = numbers(values, 'hours', 23);
  const minutes = numbers(values, 'minutes', 59);
  const retentionDays = int(values, 'retention-days', 1, 120);
  const type = choice(values, 'type', ['dump', 'snapshot'] as const);
  const compression = choice(values, 'compression', ['zstd', 'gzip'] as const);
  if (flag(values, 'enabled') && flag(values, 'disabled'))
    throw usageError('--enabled and --disabled exclude each other');
  return {
    ...(days ? { days: days as (typeof WEEKDAYS)[number][] } : {}),
    ...(hours ? { hours } : {}),
    ...(minutes ? { minutes } : {}),
    ...(retentionDays === undefined ? {} : { retentionDays }),
    ...(type ? { type } : {}),
    ...(compression ? { compression } : {}),
    ...(flag(values, 'disabled') ? { enabled: false } : flag(values, 'enabled') ? { enabled: true } : {}),
  };
};

export const scheduleCommands: CommandSpec[] = [
  {
    words: ['schedules', 'list'],
    args: '<addon>',
    summary: "An addon's backup schedules",
    async run(context, { positionals: [ref = ''] }) {
      const schedules = await context.api.GET('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
        params: { path: { projectId: context.project(), addonId: await context.resolveAddon(ref) } },
      });
      context.out.result(schedules, () =>
        table(schedules.items.map(scheduleRow), [
          'id',
          'interval',
          'when',
          'retention',
          'type',
          'enabled',
          'last run',
        ]),
      );
      return EXIT.ok;
    },
  },
  {
    words: ['schedules', 'create'],
    args: '<addon>',
    summary: 'Schedule backups, e.g. --interval daily --hours 3 --minutes 0 --retention-days 7',
    options: SCHEDULE_OPTIONS,
    async run(context, { positionals: [ref = ''], values }) {
      const interval = choice(values, 'interval', INTERVALS);
      if (!interval) throw usageError('--interval <hourly|daily|weekly> is required');
      const fields = scheduleFields(values);
      if (!fields.minutes || fields.retentionDays === undefined)
        throw usageError('--minutes and --retention-days are required');
      const body = { interval, ...fields } as CreateBackupScheduleRequest;
      const schedule = await context.api.POST('/v1/projects/{projectId}/addons/{addonId}/backup-schedules', {
        params: { path: { projectId: context.project(), addonId: await context.resolveAddon(ref) } },
        body,
      });
      context.out.result(schedule, () => record(scheduleRow(schedule)));
      return EXIT.ok;
    },
  },
  {
    words: ['schedules', 'update'],
    args: '<addon> <schedule>',
    summary: 'Change a schedule (only the options given)',
    options: SCHEDULE_OPTIONS,
    async run(context, { positionals: [ref = '', scheduleId = ''], values }) {
      const interval = choice(values, 'interval', INTERVALS);
      const schedule = await context.api.PATCH(
        '/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}',
        {
          params: {
            path: { projectId: context.project(), addonId: await context.resolveAddon(ref), scheduleId },
          },
          body: { ...(interval ? { interval } : {}), ...scheduleFields(values) },
        },
      );
      context.out.result(schedule, () => record(scheduleRow(schedule)));
      return EXIT.ok;
    },
  },
  {
    words: ['schedules', 'delete'],
    args: '<addon> <schedule>',
    summary: 'Delete a schedule (its backups stay until their retention ends)',
    async run(context, { positionals: [ref = '', scheduleId = ''] }) {
      await context.api.DELETE('/v1/projects/{projectId}/addons/{addonId}/backup-schedules/{scheduleId}', {
        params: {
          path: { projectId: context.project(), addonId: await context.resolveAddon(ref), scheduleId },
        },
      });
      context.out.result({ deleted: scheduleId }, () => `Deleted ${scheduleId}`);
      return EXIT.ok;
    },
  },
];
