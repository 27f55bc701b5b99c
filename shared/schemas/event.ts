import * as z from 'zod/mini';
import { EventAlertSchema } from './alert.ts';
import { ErrorCodeSchema, IdTextSchema, int64, MessageSchema, text } from './bounds.ts';
import { AddonIdSchema, PaginationQuerySchema, pageOf, TimestampSchema } from './common.ts';
import { meta } from './meta.ts';
import { OperationStatusSchema, OperationTypeSchema } from './operation.ts';

/**
 * What happened, as the events feed and EventBridge (`detail-type`) name it. An operation's life
 * is `operation.created` then one of the three terminal ones; backup health and alert rules
 * change state.
 */
export const EventTypeSchema = z.enum([
  'operation.created',
  'operation.completed',
  'operation.failed',
  'operation.aborted',
  'backup-health.degraded',
  'backup-health.recovered',
  'alert.firing',
  'alert.resolved',
  'storage.full',
  'storage.writable',
]);
export type EventType = z.infer<typeof EventTypeSchema>;

/** The EventBridge `source` of every event the platform puts on its bus. */
export const EVENT_SOURCE = 'addons.platform';

export const EventOperationSchema = meta(
  z.object({
    id: IdTextSchema,
    type: OperationTypeSchema,
    status: OperationStatusSchema,
    backupId: z.nullable(IdTextSchema),
    error: z.nullable(z.object({ code: ErrorCodeSchema, message: MessageSchema })),
    createdAt: TimestampSchema,
    completedAt: z.nullable(TimestampSchema),
  }),
  {
    id: 'EventOperation',
    description: 'The operation as it was when the event happened (GET the operation for more)',
  },
);
export type EventOperation = z.infer<typeof EventOperationSchema>;

export const BackupHealthProblemSchema = meta(
  z.object({
    code: z.enum(['ScheduledBackupFailed', 'BackupOverdue', 'PointInTimeWindowShort']),
    message: MessageSchema,
  }),
  { id: 'BackupHealthProblem' },
);
export type BackupHealthProblem = z.infer<typeof BackupHealthProblemSchema>;

export const EventBackupHealthSchema = meta(
  z.object({
    state: z.enum(['healthy', 'degraded']),
    problems: z.array(BackupHealthProblemSchema).check(z.maxLength(8)),
  }),
  { id: 'EventBackupHealth', description: 'The backup health the addon changed to' },
);

export const EventStorageSchema = meta(
  z.object({
    usedBytes: int64(0),
    allocatedBytes: int64(0),
    readOnly: z.boolean(),
  }),
  {
    id: 'EventStorage',
    description: 'The storage when the addon turned read-only (full) or writable again (local target)',
  },
);

export const EventSchema = meta(
  z.object({
    id: meta(text(160), {
      description:
        'Stable: the same happening always has the same id (`{operationId}.{status}` for operations), so a consumer can drop duplicates',
    }),
    type: EventTypeSchema,
    projectId: text(63),
    addonId: IdTextSchema,
    occurredAt: TimestampSchema,
    operation: meta(z.nullable(EventOperationSchema), { description: 'Set on `operation.*` events' }),
    backupHealth: meta(z.nullable(EventBackupHealthSchema), {
      description: 'Set on `backup-health.*` events',
    }),
    alert: meta(z.optional(z.nullable(EventAlertSchema)), { description: 'Set on `alert.*` events' }),
    storage: meta(z.optional(z.nullable(EventStorageSchema)), { description: 'Set on `storage.*` events' }),
  }),
  { id: 'Event' },
);
export type PlatformEvent = z.infer<typeof EventSchema>;

export const EventPageSchema = pageOf(EventSchema, 'EventPage');

export const EventsQuerySchema = z.extend(PaginationQuerySchema, {
  addonId: meta(z.optional(AddonIdSchema), { description: "Only this addon's events" }),
  type: meta(z.optional(EventTypeSchema), { description: 'Only events of this type' }),
  since: meta(z.optional(TimestampSchema), {
    description: 'Only events that occurred at or after this time (RFC 3339); start a feed here',
  }),
  order: meta(z.optional(z.enum(['oldest', 'newest'])), {
    description:
      '`oldest` first (the default: a feed to follow) or `newest` first (what happened last, then older pages)',
  }),
});
export type EventsQuery = z.infer<typeof EventsQuerySchema>;

/** Days an event stays in the feed (DynamoDB TTL on AWS, the local tick's sweep locally). */
export const EVENT_RETENTION_DAYS = 30;
