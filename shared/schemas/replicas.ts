import * as z from 'zod';
import { int32, text } from './bounds.ts';

/** How many read replicas an addon may have at most on any engine (DocumentDB: 15 readers). */
export const MAX_REPLICAS = 15;

/** `PATCH .../addons/{addonId}` with `replicas`: the number of read replicas wanted, 0 to remove them all. */
export const ReplicaCountSchema = int32(0, MAX_REPLICAS).meta({
  description:
    "The number of read replicas the addon should have (0 removes them), at most the addon type's `maxReplicas` (capability `replicas`). One `update-replicas` operation; the primary keeps serving",
});

/** One read replica's own connection details, beside the primary's. */
export const ReplicaEndpointSchema = z
  .object({
    host: text(253),
    port: z.number().int().min(0).max(65535).meta({ format: 'int32' }),
    uri: text(2048).meta({ description: 'The read-only connection URI of this replica' }),
  })
  .meta({ id: 'ReplicaEndpoint' });
export type ReplicaEndpoint = z.infer<typeof ReplicaEndpointSchema>;
