import * as z from 'zod';
import { IdTextSchema, int32, PortSchema, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';
import { AddonIdSchema, NameSchema, ProjectIdSchema, pageOf, TimestampSchema } from './common.ts';
import { OperationSchema } from './operation.ts';
import { RestorableWindowSchema } from './pitr.ts';

export const AddonStatusSchema = z.enum([
  'creating',
  'running',
  'updating',
  'backing-up',
  'restoring',
  'upgrading',
  'deleting',
  'failed',
]);
export type AddonStatus = z.infer<typeof AddonStatusSchema>;

export const CreateAddonRequestSchema = z
  .strictObject({
    name: NameSchema.meta({ description: 'Unique in the project; DNS-safe' }),
    description: z.string().max(500).optional(),
    engine: EngineSchema,
    version: z
      .string()
      .max(16)
      .optional()
      .meta({ description: 'Major version; the engine default when omitted' }),
    plan: z
      .string()
      .max(32)
      .optional()
      .meta({ description: 'Plan id from /v1/addon-types; the default when omitted' }),
    storageGiB: int32(1, 65536).optional(),
    replicas: int32(0, 15).default(0),
    tls: z.boolean().optional().meta({
      description:
        "Require TLS on every connection; when omitted, the addon type's defaultTls on this deployment (on wherever TLS is available)",
    }),
    publicAccess: z.boolean().default(false),
  })
  .meta({ id: 'CreateAddonRequest' });
export type CreateAddonRequest = z.infer<typeof CreateAddonRequestSchema>;

/** A DNS name or an IP address. */
const HostSchema = text(253);

export const EndpointSchema = z.object({ host: HostSchema, port: PortSchema }).meta({ id: 'Endpoint' });

export const AddonNetworkSchema = z
  .object({
    clientSecurityGroupId: z.string().max(64).meta({
      description:
        "The project's client security group (AWS): attach it to a workload in the platform's VPC to let it reach every addon of this project, and only those",
    }),
  })
  .meta({ id: 'AddonNetwork' });
export type AddonNetwork = z.infer<typeof AddonNetworkSchema>;

export const AddonSchema = z
  .object({
    id: IdTextSchema,
    projectId: text(63),
    name: text(40),
    description: text(500).nullable(),
    engine: EngineSchema,
    version: text(16),
    plan: text(32),
    storageGiB: int32(1, 65536),
    replicas: int32(0, 15),
    tls: z.boolean(),
    publicAccess: z.boolean(),
    status: AddonStatusSchema,
    currentOperationId: IdTextSchema.nullable().meta({
      description: 'The mutating operation in flight, if any',
    }),
    endpoint: EndpointSchema.nullable(),
    network: AddonNetworkSchema.nullable().default(null).meta({
      description: 'How workloads reach the addon; null on the local target and until it is available',
    }),
    restorableWindow: RestorableWindowSchema.nullable().optional().meta({
      description:
        'The span a point-in-time restore can land in; null when the engine has no point-in-time recovery on this deployment (capability `pitr`) or no window yet (a new addon). Only in the response of getting one addon: it is asked of the provider each time, so lists leave it out to stay fast',
    }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .meta({ id: 'Addon' });
export type Addon = z.infer<typeof AddonSchema>;

export const AddonPageSchema = pageOf(AddonSchema, 'AddonPage');

export const AddonWithOperationSchema = z
  .object({ addon: AddonSchema, operation: OperationSchema })
  .meta({ id: 'AddonWithOperation' });

export const CredentialsSchema = z
  .object({
    engine: EngineSchema,
    host: HostSchema,
    port: PortSchema,
    database: text(63),
    username: text(63),
    password: text(256),
    uri: text(2048),
    tls: z.boolean(),
  })
  .meta({ id: 'Credentials' });
export type Credentials = z.infer<typeof CredentialsSchema>;

export const AddonPathSchema = z.object({ projectId: ProjectIdSchema, addonId: AddonIdSchema });
