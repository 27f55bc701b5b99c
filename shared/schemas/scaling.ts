import * as z from 'zod/mini';
import { int32, int64, text } from './bounds.ts';
import { TimestampSchema } from './common.ts';
import { meta } from './meta.ts';

/**
 * The scaling fields of `PATCH .../addons/{addonId}`, siblings of `networking`: one of them per
 * request, each its own `scale` operation (a workflow; the addon keeps serving). The service
 * checks them against the engine's catalog and names the field it refuses.
 */
export const ScalingFields = {
  plan: meta(z.optional(text(32)), {
    description:
      "A plan id of the engine's catalog (`GET /v1/addon-types`): the new instance class or node type",
  }),
  storageGiB: meta(z.optional(int32(1, 65536)), {
    description:
      "The new allocated storage in GiB: growth only, within the catalog's `storageGiB` bounds (capability `scaling`)",
  }),
  multiAz: meta(z.optional(z.boolean()), {
    description: 'A standby in another Availability Zone on or off (capability `multiAz`, AWS only)',
  }),
};

/** The request fields that each make one kind of change, in the order the service looks at them. */
export type ScalingField = keyof typeof ScalingFields;
export const SCALING_FIELDS: readonly ScalingField[] = ['plan', 'storageGiB', 'multiAz'];

/** What a `scale` operation changes, and what the addon had before (kept if it fails). */
export const ScalingChangeSchema = meta(
  z.object({
    plan: z.optional(text(32)),
    storageGiB: z.optional(int32(1, 65536)),
    multiAz: z.optional(z.boolean()),
    previous: z.object({ plan: text(32), storageGiB: int32(1, 65536), multiAz: z.boolean() }),
  }),
  { id: 'ScalingChange' },
);
export type ScalingChange = z.infer<typeof ScalingChangeSchema>;

/** The addon's storage: what is allocated and, where the platform can measure it, what is used. */
export const StorageUsageSchema = meta(
  z.object({
    allocatedGiB: int32(1, 65536),
    usedBytes: meta(z.nullable(int64(0)), {
      description: 'Bytes the data takes (AWS: from CloudWatch); null when not measured, never a made-up 0',
    }),
    usedBytesAt: meta(z.optional(z.nullable(TimestampSchema)), {
      description: 'When `usedBytes` was measured',
    }),
    usedBytesNote: meta(z.optional(text(300)), { description: 'Why `usedBytes` is null' }),
    readOnly: meta(z.nullable(z.boolean()), {
      description:
        'True while the addon refuses writes because its storage is full (usedBytes reached allocatedGiB); writable again once storage grows or the data takes under 95 % of it. Null where the platform does not enforce the size (AWS, where RDS has its own storage-full state; engines without a storage size)',
    }),
  }),
  { id: 'StorageUsage' },
);
export type StorageUsage = z.infer<typeof StorageUsageSchema>;
