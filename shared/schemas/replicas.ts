import * as z from 'zod/mini';
import { int32, text } from './bounds.ts';
import { meta } from './meta.ts';

/** How many read replicas an addon may have at most on any engine (DocumentDB: 15 readers). */
export const MAX_REPLICAS = 15;

/** `PATCH .../addons/{addonId}` with `replicas`: the number of read replicas wanted, 0 to remove them all. */
export const ReplicaCountSchema = meta(int32(0, MAX_REPLICAS), {
  description:
    "The number of read replicas the addon should have (0 removes them), at most the addon type's `maxReplicas` (capability `replicas`). One `update-replicas` operation; the primary keeps serving",
});

/** One read replica's own connection details, beside the primary's. */
export const ReplicaEndpointSchema = meta(
  z.object({
    host: text(253),
    port: meta(z.number().check(z.int(), z.minimum(0), z.maximum(65535)), { format: 'int32' }),
    uri: meta(text(2048), { description: 'The read-only connection URI of this replica' }),
  }),
  { id: 'ReplicaEndpoint' },
);
export type ReplicaEndpoint = z.infer<typeof ReplicaEndpointSchema>;
