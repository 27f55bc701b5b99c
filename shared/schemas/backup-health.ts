import * as z from 'zod';
import { ErrorCodeSchema, IdTextSchema, MessageSchema } from './bounds.ts';
import { TimestampSchema } from './common.ts';
import { BackupHealthProblemSchema } from './event.ts';
import { RestorableWindowSchema } from './pitr.ts';

export const BackupHealthStateSchema = z.enum(['healthy', 'degraded']);
export type BackupHealthState = z.infer<typeof BackupHealthStateSchema>;

export const BackupHealthSchema = z
  .object({
    state: BackupHealthStateSchema.meta({
      description:
        '`degraded` while a built-in rule fires: the latest scheduled backup failed, or no backup succeeded within 1.5 times the shortest schedule interval',
    }),
    problems: z.array(BackupHealthProblemSchema).max(8),
    lastSuccessfulBackup: z
      .object({ id: IdTextSchema, completedAt: TimestampSchema })
      .nullable()
      .meta({ description: 'The newest completed backup (any source) among the newest 50 backups' }),
    lastFailedScheduledBackup: z
      .object({
        id: IdTextSchema.nullable().meta({
          description: 'Null when the firing failed before a backup existed',
        }),
        at: TimestampSchema,
        error: z.object({ code: ErrorCodeSchema, message: MessageSchema }).nullable(),
      })
      .nullable(),
    nextScheduledRun: TimestampSchema.nullable().meta({
      description: 'When the next enabled schedule fires',
    }),
    pointInTimeWindow: RestorableWindowSchema.nullable().meta({
      description: "Where point-in-time recovery exists: the same as the addon's `restorableWindow`",
    }),
  })
  .meta({ id: 'BackupHealth' });
export type BackupHealth = z.infer<typeof BackupHealthSchema>;
