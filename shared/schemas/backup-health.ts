import * as z from 'zod/mini';
import { ErrorCodeSchema, IdTextSchema, MessageSchema } from './bounds.ts';
import { TimestampSchema } from './common.ts';
import { BackupHealthProblemSchema } from './event.ts';
import { meta } from './meta.ts';
import { RestorableWindowSchema } from './pitr.ts';

export const BackupHealthStateSchema = z.enum(['healthy', 'degraded']);
export type BackupHealthState = z.infer<typeof BackupHealthStateSchema>;

export const BackupHealthSchema = meta(
  z.object({
    state: meta(BackupHealthStateSchema, {
      description:
        '`degraded` while a built-in rule fires: the latest scheduled backup failed, or no backup succeeded within 1.5 times the shortest schedule interval',
    }),
    problems: z.array(BackupHealthProblemSchema).check(z.maxLength(8)),
    lastSuccessfulBackup: meta(z.nullable(z.object({ id: IdTextSchema, completedAt: TimestampSchema })), {
      description: 'The newest completed backup (any source) among the newest 50 backups',
    }),
    lastFailedScheduledBackup: z.nullable(
      z.object({
        id: meta(z.nullable(IdTextSchema), {
          description: 'Null when the firing failed before a backup existed',
        }),
        at: TimestampSchema,
        error: z.nullable(z.object({ code: ErrorCodeSchema, message: MessageSchema })),
      }),
    ),
    nextScheduledRun: meta(z.nullable(TimestampSchema), {
      description: 'When the next enabled schedule fires',
    }),
    pointInTimeWindow: meta(z.nullable(RestorableWindowSchema), {
      description: "Where point-in-time recovery exists: the same as the addon's `restorableWindow`",
    }),
  }),
  { id: 'BackupHealth' },
);
export type BackupHealth = z.infer<typeof BackupHealthSchema>;
