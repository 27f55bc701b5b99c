import * as z from 'zod';
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
import { OperationSchema } from './operation.ts';

export const BackupTypeSchema = z.enum(['dump', 'snapshot']);
export type BackupType = z.infer<typeof BackupTypeSchema>;
export const CompressionSchema = z.enum(['gzip', 'zstd']);
export type Compression = z.infer<typeof CompressionSchema>;

export const BackupStatusSchema = z.enum(['pending', 'in-progress', 'completed', 'failed', 'aborted']);
export type BackupStatus = z.infer<typeof BackupStatusSchema>;

export const CreateBackupRequestSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('dump'),
      compression: CompressionSchema.default('zstd').meta({
        description: 'Dump compression; zstd by default',
      }),
      pinned: z.boolean().default(false),
    }),
    z.strictObject({ type: z.literal('snapshot'), pinned: z.boolean().default(false) }),
  ])
  .meta({ id: 'CreateBackupRequest' });
export type CreateBackupRequest = z.infer<typeof CreateBackupRequestSchema>;

export const UpdateBackupRequestSchema = z
  .strictObject({
    pinned: z.boolean().meta({ description: 'A pinned backup is never deleted by retention' }),
  })
  .meta({ id: 'UpdateBackupRequest' });

export const BackupSchema = z
  .object({
    id: IdTextSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    type: BackupTypeSchema,
    compression: CompressionSchema.nullable(),
    status: BackupStatusSchema,
    source: z.enum(['manual', 'schedule', 'final', 'upgrade']).meta({
      description:
        '`final`: taken by `DELETE .../addons/{addonId}?finalBackup=...` before the addon was deleted; `upgrade`: taken by `POST .../upgrade` before the engine was upgraded, pinned as the way back',
    }),
    scheduleId: IdTextSchema.nullable(),
    engine: EngineSchema,
    engineVersion: text(16).meta({ description: 'Major version of the engine the backup was taken from' }),
    sizeBytes: int64(0).nullable(),
    sha256: Sha256Schema.nullable().meta({
      description:
        'SHA-256 of the downloadable file (dumps, and snapshots whose engine offers snapshotDownload)',
    }),
    pinned: z.boolean(),
    expiresAt: TimestampSchema.nullable().meta({ description: 'When retention deletes it; null when kept' }),
    operationId: IdTextSchema,
    addonName: text(63)
      .nullable()
      .default(null)
      .meta({ description: 'Name of the addon the backup came from (it outlives the addon)' }),
    addonDeleted: z.boolean().default(false).meta({ description: 'The addon it came from has been deleted' }),
    addonDeletedAt: TimestampSchema.nullable()
      .default(null)
      .meta({ description: 'When its addon was deleted; its grace period started then' }),
    error: z.object({ code: ErrorCodeSchema, message: MessageSchema }).nullable(),
    createdAt: TimestampSchema,
    startedAt: TimestampSchema.nullable(),
    completedAt: TimestampSchema.nullable(),
  })
  .meta({ id: 'Backup' });
export type Backup = z.infer<typeof BackupSchema>;

export const BackupPageSchema = pageOf(BackupSchema, 'BackupPage');

export const FinalBackupTypeSchema = BackupTypeSchema.meta({
  description:
    'Take a backup of this type first (a dump is zstd-compressed); the addon is deleted only once it has completed. If it fails, the delete fails and the addon stays running.',
});
export const DeleteAddonQuerySchema = z.object({
  finalBackup: FinalBackupTypeSchema.optional(),
  unlinkGroups: z.enum(['true', 'false']).optional().meta({
    description:
      'An addon linked into secret groups is deleted only with `true`: its links are removed from every group first (and the groups re-published). Without it, such a delete answers 409 naming the groups',
  }),
});
export type DeleteAddonQuery = z.infer<typeof DeleteAddonQuerySchema>;
export const BackupWithOperationSchema = z
  .object({ backup: BackupSchema, operation: OperationSchema })
  .meta({ id: 'BackupWithOperation' });

export const DownloadLinkSchema = z
  .object({
    url: z.url().max(8192).meta({ description: 'Presigned GET URL' }),
    expiresAt: TimestampSchema,
    sizeBytes: int64(0),
    sha256: Sha256Schema,
  })
  .meta({ id: 'DownloadLink' });

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
  minutes: z.array(minute).min(1).max(60).meta({ description: 'Minutes past each hour' }),
  retentionDays: int32(1, 7),
});
const DailyTiming = z.strictObject({
  interval: z.literal('daily'),
  hours: z.array(hour).min(1).max(24),
  minutes: z.array(minute).min(1).max(60),
  retentionDays: int32(1, 60),
});
const WeeklyTiming = z.strictObject({
  interval: z.literal('weekly'),
  days: z.array(WeekdaySchema).min(1).max(7),
  hours: z.array(hour).min(1).max(24),
  minutes: z.array(minute).min(1).max(60),
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
  type: BackupTypeSchema.default('dump'),
  compression: CompressionSchema.default('zstd'),
  enabled: z.boolean().default(true),
};

/**
 * One strict object per interval, each with the kind fields. Not an intersection of the timing
 * union with a strict object of the kind fields: zod merges the two sides' unknown keys, but JSON
 * Schema cannot (`allOf` of `additionalProperties: false` parts), so the document forbade `type`
 * in every timing variant and no client could send a body the API accepts (issue 12).
 */
export const CreateScheduleRequestSchema = z
  .discriminatedUnion('interval', [
    HourlyTiming.extend(ScheduleKindFields).meta({ id: 'CreateHourlyBackupScheduleRequest' }),
    DailyTiming.extend(ScheduleKindFields).meta({ id: 'CreateDailyBackupScheduleRequest' }),
    WeeklyTiming.extend(ScheduleKindFields).meta({ id: 'CreateWeeklyBackupScheduleRequest' }),
  ])
  .meta({ id: 'CreateBackupScheduleRequest' });
export type CreateScheduleRequest = z.infer<typeof CreateScheduleRequestSchema>;

export const ScheduleSchema = z
  .object({
    id: IdTextSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    interval: z.enum(['hourly', 'daily', 'weekly']),
    days: z.array(WeekdaySchema).max(7).nullable(),
    hours: z.array(hour).max(24).nullable(),
    minutes: z.array(minute).max(60),
    retentionDays: int32(1, 120),
    type: BackupTypeSchema,
    compression: CompressionSchema,
    enabled: z.boolean(),
    lastRun: z
      .object({
        at: TimestampSchema,
        outcome: z.enum(['started', 'skipped', 'failed-to-start']),
        backupId: IdTextSchema.nullable(),
        reason: MessageSchema.nullable(),
      })
      .nullable()
      .meta({ description: 'The last time the schedule fired and what came of it' }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .meta({ id: 'BackupSchedule' });
export type Schedule = z.infer<typeof ScheduleSchema>;

export const SchedulePathSchema = z.object({
  projectId: ProjectIdSchema,
  addonId: AddonIdSchema,
  scheduleId: ScheduleIdSchema,
});

export const UpdateScheduleRequestSchema = z
  .strictObject({
    interval: z.enum(['hourly', 'daily', 'weekly']).optional(),
    days: z.array(WeekdaySchema).min(1).max(7).optional(),
    hours: z.array(hour).min(1).max(24).optional(),
    minutes: z.array(minute).min(1).max(60).optional(),
    retentionDays: int32(1, 120).optional(),
    type: BackupTypeSchema.optional(),
    compression: CompressionSchema.optional(),
    enabled: z.boolean().optional(),
  })
  .meta({ id: 'UpdateBackupScheduleRequest', description: 'Any subset; the result is validated as a whole' });
export const ScheduleListSchema = z
  .object({
    items: z.array(ScheduleSchema).max(MAX_SCHEDULES_LISTED),
  })
  .meta({ id: 'BackupScheduleList' });
