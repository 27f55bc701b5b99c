import * as z from 'zod';
import { EngineSchema } from './catalog.ts';
import { AddonIdSchema, NameSchema, ProjectIdSchema, pageOf, TimestampSchema } from './common.ts';
import { OperationSchema } from './operation.ts';

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
    storageGiB: z.number().int().min(1).max(65536).optional(),
    replicas: z.number().int().min(0).max(15).default(0),
    tls: z.boolean().optional().meta({
      description:
        "Require TLS on every connection; when omitted, the addon type's defaultTls on this deployment (on wherever TLS is available)",
    }),
    publicAccess: z.boolean().default(false),
  })
  .meta({ id: 'CreateAddonRequest' });
export type CreateAddonRequest = z.infer<typeof CreateAddonRequestSchema>;

export const EndpointSchema = z.object({ host: z.string(), port: z.number().int() }).meta({ id: 'Endpoint' });

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
    id: z.string(),
    projectId: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    engine: EngineSchema,
    version: z.string(),
    plan: z.string(),
    storageGiB: z.number().int(),
    replicas: z.number().int(),
    tls: z.boolean(),
    publicAccess: z.boolean(),
    status: AddonStatusSchema,
    currentOperationId: z
      .string()
      .nullable()
      .meta({ description: 'The mutating operation in flight, if any' }),
    endpoint: EndpointSchema.nullable(),
    network: AddonNetworkSchema.nullable().default(null).meta({
      description: 'How workloads reach the addon; null on the local target and until it is available',
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
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    username: z.string(),
    password: z.string(),
    uri: z.string(),
    tls: z.boolean(),
  })
  .meta({ id: 'Credentials' });
export type Credentials = z.infer<typeof CredentialsSchema>;

export const AddonPathSchema = z.object({ projectId: ProjectIdSchema, addonId: AddonIdSchema });
