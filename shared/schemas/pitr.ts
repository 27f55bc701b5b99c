import * as z from 'zod/mini';
import { TimestampSchema } from './common.ts';
import { meta } from './meta.ts';

/**
 * The span a point-in-time restore (or fork) can land in, to the second. Computed from the
 * provider (RDS automated backups, the local WAL archive) when one addon is read, never stored:
 * it moves forward every few minutes on its own.
 */
export const RestorableWindowSchema = meta(
  z.object({
    earliestRestorableTime: meta(TimestampSchema, {
      description: 'The earliest second the addon can be restored to (RFC 3339, UTC)',
    }),
    latestRestorableTime: meta(TimestampSchema, {
      description:
        'The latest second the addon can be restored to right now (RFC 3339, UTC); it follows the present by a few minutes',
    }),
  }),
  { id: 'RestorableWindow' },
);
export type RestorableWindowBody = z.infer<typeof RestorableWindowSchema>;

export const PointInTimeRestoreRequestSchema = meta(
  z.strictObject({
    pointInTime: meta(z.iso.datetime({ offset: false, precision: 0 }).check(z.maxLength(40)), {
      description:
        "The second to restore to, RFC 3339 in UTC without fractions (e.g. `2026-11-30T12:34:56Z`); it must lie inside the addon's `restorableWindow`",
      example: '2026-11-30T12:34:56Z',
    }),
  }),
  { id: 'PointInTimeRestoreRequest' },
);
export type PointInTimeRestoreRequest = z.infer<typeof PointInTimeRestoreRequestSchema>;
