import * as z from 'zod/mini';
import { ErrorCodeSchema, IdTextSchema, int32, MessageSchema, text } from './bounds.ts';
import { TimestampSchema } from './common.ts';
import { BackupExportSchema } from './export.ts';
import { meta } from './meta.ts';
import { NetworkingChangeSchema } from './networking.ts';
import { ScalingChangeSchema } from './scaling.ts';

export const OperationStatusSchema = z.enum(['pending', 'in-progress', 'completed', 'failed', 'aborted']);
export type OperationStatus = z.infer<typeof OperationStatusSchema>;
export const TERMINAL_STATUSES: readonly OperationStatus[] = ['completed', 'failed', 'aborted'];

export const OperationTypeSchema = z.enum([
  'create',
  'update',
  'delete',
  'backup',
  'restore',
  'export',
  'rotate-credentials',
  'update-networking',
  'scale',
  'upgrade',
  'update-replicas',
]);
export type OperationType = z.infer<typeof OperationTypeSchema>;

export const OperationSchema = meta(
  z.object({
    id: IdTextSchema,
    type: OperationTypeSchema,
    status: OperationStatusSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    backupId: meta(z._default(z.nullable(IdTextSchema), null), {
      description: 'The backup this operation takes or restores, for backup and restore operations',
    }),
    importId: meta(z.optional(IdTextSchema), {
      description: 'Present on a restore that loads an uploaded file: the import it belongs to',
    }),
    pointInTime: meta(z.optional(TimestampSchema), {
      description: 'Present on a point-in-time restore: the second the addon is restored to',
    }),
    export: meta(z.optional(BackupExportSchema), {
      description: 'Present on an export: the target bucket and key, and once completed the verified SHA-256',
    }),
    scaling: meta(z.optional(ScalingChangeSchema), {
      description: 'Present on a scale operation: the change asked, and what the addon had before',
    }),
    networking: meta(z.optional(NetworkingChangeSchema), {
      description:
        'Present on a networking change carried by a workflow (`update-networking` on AWS): the settings asked, and what the addon had before',
    }),
    upgrade: meta(z.optional(z.object({ fromVersion: text(16), toVersion: text(16) })), {
      description:
        'Present on an upgrade: the version the addon ran and the one it is upgraded to; `backupId` is the backup taken first and kept as the way back',
    }),
    rotation: meta(z.optional(z.enum(['rotate', 'retire'])), {
      description:
        'Present on a credential rotation carried by a workflow (`rotate-credentials` where the engine takes the change up asynchronously, Redis on AWS): `rotate` lets the new password in and publishes it once the engine accepts it, `retire` retires the previous one',
    }),
    replicas: meta(z.optional(int32(0, 15)), {
      description: 'Present on a replicas change (`update-replicas`): the number of read replicas asked for',
    }),
    progress: z.object({
      step: meta(text(128), { description: 'The workflow step the operation is in' }),
      percent: int32(0, 100),
    }),
    error: meta(z.nullable(z.object({ code: ErrorCodeSchema, message: MessageSchema })), {
      description: 'Why the operation failed; null unless it failed',
    }),
    message: meta(z.optional(MessageSchema), {
      description:
        'What the user must know about the outcome beyond its status, e.g. that a restore moved the addon to a new endpoint and its connection details changed',
    }),
    createdAt: TimestampSchema,
    startedAt: z.nullable(TimestampSchema),
    completedAt: z.nullable(TimestampSchema),
  }),
  { id: 'Operation' },
);
export type Operation = z.infer<typeof OperationSchema>;
