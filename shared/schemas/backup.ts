import * as z from 'zod/mini';
import { ErrorCodeSchema, IdTextSchema, int32, int64, MessageSchema, Sha256Schema, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';
import {
  AddonIdSchema,
  BackupIdSchema,
  ProjectIdSchema,
  pageOf,
  ScheduleIdSchema,
  TimestampSchema,
} from './common.ts';
import { meta } from './meta.ts';
import { OperationSchema } from './operation.ts';

export const BackupTypeSchema = z.enum(['dump', 'snapshot']);
export type BackupType = z.infer<typeof BackupTypeSchema>;
export const CompressionSchema = z.enum(['gzip', 'zstd']);
export type Compression = z.infer<typeof CompressionSchema>;

export const BackupStatusSchema = z.enum(['pending', 'in-progress', 'completed', 'failed', 'aborted']);
export type BackupStatus = z.infer<typeof BackupStatusSchema>;

export const CreateBackupRequestSchema = meta(
  z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('dump'),
      compression: meta(z._default(CompressionSchema, 'zstd'), {
        description: 'Dump compression; zstd by default',
      }),
      pinned: z._default(z.boolean(), false),
    }),
    z.strictObject({ type: z.literal('snapshot'), pinned: z._default(z.boolean(), false) }),
  ]),
  { id: 'CreateBackupRequest' },
);
export type CreateBackupRequest = z.infer<typeof CreateBackupRequestSchema>;

export const UpdateBackupRequestSchema = meta(
  z.strictObject({
    pinned: meta(z.boolean(), { description: 'A pinned backup is never deleted by retention' }),
  }),
  { id: 'UpdateBackupRequest' },
);

export const BackupSchema = meta(
  z.object({
    id: IdTextSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    type: BackupTypeSchema,
    compression: z.nullable(CompressionSchema),
    status: BackupStatusSchema,
    source: meta(z.enum(['manual', 'schedule', 'final', 'upgrade']), {
      description:
        '`final`: taken by `DELETE .../addons/{addonId}?finalBackup=...` before the addon was deleted; `upgrade`: taken by `POST .../upgrade` before the engine was upgraded, pinned as the way back',
    }),
    scheduleId: z.nullable(IdTextSchema),
    engine: EngineSchema,
    engineVersion: meta(text(16), { description: 'Major version of the engine the backup was taken from' }),
    sizeBytes: z.nullable(int64(0)),
    sha256: meta(z.nullable(Sha256Schema), {
      description:
        'SHA-256 of the downloadable file (dumps, and snapshots whose engine offers snapshotDownload)',
    }),
    pinned: z.boolean(),
    expiresAt: meta(z.nullable(TimestampSchema), {
      description: 'When retention deletes it; null when kept',
    }),
    operationId: IdTextSchema,
    addonName: meta(z._default(z.nullable(text(63)), null), {
      description: 'Name of the addon the backup came from (it outlives the addon)',
    }),
    addonDeleted: meta(z._default(z.boolean(), false), {
      description: 'The addon it came from has been deleted',
    }),
    addonDeletedAt: meta(z._default(z.nullable(TimestampSchema), null), {
      description: 'When its addon was deleted; its grace period started then',
    }),
    error: z.nullable(z.object({ code: ErrorCodeSchema, message: MessageSchema })),
    createdAt: TimestampSchema,
    startedAt: z.nullable(TimestampSchema),
    completedAt: z.nullable(TimestampSchema),
  }),
  { id: 'Backup' },
);
export type Backup = z.infer<typeof BackupSchema>;

export const BackupPageSchema = pageOf(BackupSchema, 'BackupPage');

export const FinalBackupTypeSchema = meta(BackupTypeSchema, {
  description:
    'Take a backup of this type first (a dump is zstd-compressed); the addon is deleted only once it has completed. If it fails, the delete fails and the addon stays running.',
});
export const DeleteAddonQuerySchema = z.object({
  finalBackup: z.optional(FinalBackupTypeSchema),
  unlinkGroups: meta(z.optional(z.enum(['true', 'false'])), {
    description:
      'An addon linked into secret groups is deleted only with `true`: its links are removed from every group first (and the groups re-published). Without it, such a delete answers 409 naming the groups',
  }),
});
export type DeleteAddonQuery = z.infer<typeof DeleteAddonQuerySchema>;
export const BackupWithOperationSchema = meta(
  z.object({ backup: BackupSchema, operation: OperationSchema }),
  { id: 'BackupWithOperation' },
);

export const DownloadLinkSchema = meta(
  z.object({
    url: meta(z.url().check(z.maxLength(8192)), { description: 'Presigned GET URL' }),
    expiresAt: TimestampSchema,
    sizeBytes: int64(0),
    sha256: Sha256Schema,
  }),
  { id: 'DownloadLink' },
);

export const BackupPathSchema = z.object({
  projectId: ProjectIdSchema,
  addonId: AddonIdSchema,
  backupId: BackupIdSchema,
});

// Schedules ------------------------------------------------------------------------------

/** The most schedules an addon can have whatever the configured quota (the list is not paginated). */
export const MAX_SCHEDULES_LISTED = 100;

const minute = int32(0, 59);
const hour = int32(0, 23);
export const WeekdaySchema = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

const HourlyTiming = z.strictObject({
  interval: z.literal('hourly'),
  minutes: meta(z.array(minute).check(z.minLength(1), z.maxLength(60)), {
    description: 'Minutes past each hour',
  }),
  retentionDays: int32(1, 7),
});
const DailyTiming = z.strictObject({
  interval: z.literal('daily'),
  hours: z.array(hour).check(z.minLength(1), z.maxLength(24)),
  minutes: z.array(minute).check(z.minLength(1), z.maxLength(60)),
  retentionDays: int32(1, 60),
});
const WeeklyTiming = z.strictObject({
  interval: z.literal('weekly'),
  days: z.array(WeekdaySchema).check(z.minLength(1), z.maxLength(7)),
  hours: z.array(hour).check(z.minLength(1), z.maxLength(24)),
  minutes: z.array(minute).check(z.minLength(1), z.maxLength(60)),
  retentionDays: int32(1, 120),
});

/** When a schedule fires, in UTC. Retention limits follow the interval (features.md). */
export const ScheduleTimingSchema = z.discriminatedUnion('interval', [
  HourlyTiming,
  DailyTiming,
  WeeklyTiming,
]);
export type ScheduleTiming = z.infer<typeof ScheduleTimingSchema>;

const ScheduleKindFields = {
  type: z._default(BackupTypeSchema, 'dump'),
  compression: z._default(CompressionSchema, 'zstd'),
  enabled: z._default(z.boolean(), true),
};

/**
 * One strict object per interval, each with the kind fields. Not an intersection of the timing
 * union with a strict object of the kind fields: zod merges the two sides' unknown keys, but JSON
 * Schema cannot (`allOf` of `additionalProperties: false` parts), so the document forbade `type`
 * in every timing variant and no client could send a body the API accepts (issue 12).
 */
export const CreateScheduleRequestSchema = meta(
  z.discriminatedUnion('interval', [
    meta(z.extend(HourlyTiming, ScheduleKindFields), { id: 'CreateHourlyBackupScheduleRequest' }),
    meta(z.extend(DailyTiming, ScheduleKindFields), { id: 'CreateDailyBackupScheduleRequest' }),
    meta(z.extend(WeeklyTiming, ScheduleKindFields), { id: 'CreateWeeklyBackupScheduleRequest' }),
  ]),
  { id: 'CreateBackupScheduleRequest' },
);
export type CreateScheduleRequest = z.infer<typeof CreateScheduleRequestSchema>;

export const ScheduleSchema = meta(
  z.object({
    id: IdTextSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    interval: z.enum(['hourly', 'daily', 'weekly']),
    days: z.nullable(z.array(WeekdaySchema).check(z.maxLength(7))),
    hours: z.nullable(z.array(hour).check(z.maxLength(24))),
    minutes: z.array(minute).check(z.maxLength(60)),
    retentionDays: int32(1, 120),
    type: BackupTypeSchema,
    compression: CompressionSchema,
    enabled: z.boolean(),
    lastRun: meta(
      z.nullable(
        z.object({
          at: TimestampSchema,
          outcome: z.enum(['started', 'skipped', 'failed-to-start']),
          backupId: z.nullable(IdTextSchema),
          reason: z.nullable(MessageSchema),
        }),
      ),
      { description: 'The last time the schedule fired and what came of it' },
    ),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  }),
  { id: 'BackupSchedule' },
);
export type Schedule = z.infer<typeof ScheduleSchema>;

export const SchedulePathSchema = z.object({
  projectId: ProjectIdSchema,
  addonId: AddonIdSchema,
  scheduleId: ScheduleIdSchema,
});

export const UpdateScheduleRequestSchema = meta(
  z.strictObject({
    interval: z.optional(z.enum(['hourly', 'daily', 'weekly'])),
    days: z.optional(z.array(WeekdaySchema).check(z.minLength(1), z.maxLength(7))),
    hours: z.optional(z.array(hour).check(z.minLength(1), z.maxLength(24))),
    minutes: z.optional(z.array(minute).check(z.minLength(1), z.maxLength(60))),
    retentionDays: z.optional(int32(1, 120)),
    type: z.optional(BackupTypeSchema),
    compression: z.optional(CompressionSchema),
    enabled: z.optional(z.boolean()),
  }),
  { id: 'UpdateBackupScheduleRequest', description: 'Any subset; the result is validated as a whole' },
);
export const ScheduleListSchema = meta(
  z.object({
    items: z.array(ScheduleSchema).check(z.maxLength(MAX_SCHEDULES_LISTED)),
  }),
  { id: 'BackupScheduleList' },
);
