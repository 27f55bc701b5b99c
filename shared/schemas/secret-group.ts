import * as z from 'zod';
import { int32, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';
import {
  AddonIdSchema,
  ExternalServiceIdSchema,
  NameSchema,
  ProjectIdSchema,
  pageOf,
  SecretGroupIdSchema,
  TimestampSchema,
} from './common.ts';

/**
 * The keys a link can publish: the fields of the connection details every engine publishes
 * (`Credentials`), for an addon and for an external service alike.
 */
export const CONNECTION_KEYS = [
  'uri',
  'host',
  'port',
  'database',
  'username',
  'password',
  'tls',
  'replicaUri',
] as const;
export const ConnectionKeySchema = z.enum(CONNECTION_KEYS).meta({
  description:
    "A field of the source's connection details: `uri` (the engine's connection URL), `host`, `port`, `database`, `username`, `password`, `tls` (`true`/`false`), `replicaUri` (the first read replica's URI, the primary's while there is none: e.g. DATABASE_REPLICA_URL)",
});
export type ConnectionKey = z.infer<typeof ConnectionKeySchema>;

/** Environment-variable names: what workloads turn a group's keys into. */
export const AliasSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'must be an environment-variable name: letters, digits and underscores, not starting with a digit',
  )
  .meta({ description: 'The name the value is published under, e.g. DATABASE_URL' });

export const SecretGroupKeySchema = z
  .strictObject({ key: ConnectionKeySchema, alias: AliasSchema })
  .meta({ id: 'SecretGroupKey' });

export const MAX_LINKS = 20;
export const MAX_KEYS_PER_LINK = 20;
export const MAX_VARIABLES = 100;

export const SecretGroupLinkSchema = z
  .strictObject({
    addonId: AddonIdSchema.optional().meta({ description: 'An addon of the same project' }),
    externalServiceId: ExternalServiceIdSchema.optional().meta({
      description: 'An external service registered in the same project',
    }),
    keys: z.array(SecretGroupKeySchema).min(1).max(MAX_KEYS_PER_LINK),
  })
  .superRefine((link, context) => {
    if ((link.addonId === undefined) === (link.externalServiceId === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['addonId'],
        message: 'a link names exactly one source: addonId or externalServiceId',
      });
    }
  })
  .meta({ id: 'SecretGroupLink' });
export type SecretGroupLink = z.infer<typeof SecretGroupLinkSchema>;

const VariablesSchema = z
  .record(AliasSchema, text(4096))
  .refine((variables) => Object.keys(variables).length <= MAX_VARIABLES, {
    message: `at most ${MAX_VARIABLES} variables`,
  })
  .meta({ description: 'Plain variables published as they are, e.g. {"NODE_ENV": "production"}' });

export const CreateSecretGroupRequestSchema = z
  .strictObject({
    name: NameSchema,
    description: text(500).optional(),
    links: z.array(SecretGroupLinkSchema).max(MAX_LINKS).default([]),
    variables: VariablesSchema.default({}),
  })
  .meta({ id: 'CreateSecretGroupRequest' });
export type CreateSecretGroupRequest = z.infer<typeof CreateSecretGroupRequestSchema>;

export const UpdateSecretGroupRequestSchema = z
  .strictObject({
    name: NameSchema.optional(),
    description: text(500).nullable().optional(),
    links: z.array(SecretGroupLinkSchema).max(MAX_LINKS).optional().meta({
      description: 'Replaces every link of the group',
    }),
    variables: VariablesSchema.optional().meta({ description: 'Replaces every plain variable' }),
  })
  .meta({ id: 'UpdateSecretGroupRequest' });
export type UpdateSecretGroupRequest = z.infer<typeof UpdateSecretGroupRequestSchema>;

export const SecretGroupSchema = z
  .object({
    id: SecretGroupIdSchema,
    projectId: ProjectIdSchema,
    name: text(40),
    description: text(500).nullable(),
    links: z.array(SecretGroupLinkSchema).max(MAX_LINKS),
    variables: z.record(z.string().max(128), text(4096)),
    documentLocation: text(1024).meta({
      description:
        'Where a workload reads the document: the Secrets Manager secret name on AWS, the file path locally',
    }),
    documentVersion: int32(0, 2_147_483_647).meta({
      description: 'Counts the publications of the document; 0 until the first',
    }),
    publishedAt: TimestampSchema.nullable(),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .meta({ id: 'SecretGroup' });
export type SecretGroup = z.infer<typeof SecretGroupSchema>;

export const SecretGroupPageSchema = pageOf(SecretGroupSchema, 'SecretGroupPage');

export const SecretGroupDocumentSchema = z
  .object({
    groupId: SecretGroupIdSchema,
    documentVersion: int32(0, 2_147_483_647),
    publishedAt: TimestampSchema.nullable(),
    values: z.record(z.string().max(128), text(4096)).meta({
      description: 'The published document: every alias and plain variable with its value',
    }),
  })
  .meta({ id: 'SecretGroupDocument' });
export type SecretGroupDocument = z.infer<typeof SecretGroupDocumentSchema>;

export const SecretGroupPathSchema = z.object({ projectId: ProjectIdSchema, groupId: SecretGroupIdSchema });

export const CreateExternalServiceRequestSchema = z
  .strictObject({
    name: NameSchema,
    description: text(500).optional(),
    connectionString: z.string().min(1).max(2048).meta({
      description:
        'scheme://user:password@host:port/database (postgresql, mysql, redis, rediss, mongodb). Stored in the secret store only, never shown again',
    }),
  })
  .meta({ id: 'CreateExternalServiceRequest' });
export type CreateExternalServiceRequest = z.infer<typeof CreateExternalServiceRequestSchema>;

export const ExternalServiceSchema = z
  .object({
    id: ExternalServiceIdSchema,
    projectId: ProjectIdSchema,
    name: text(40),
    description: text(500).nullable(),
    engine: EngineSchema,
    host: text(253),
    port: int32(1, 65535),
    database: text(63),
    username: text(63),
    tls: z.boolean(),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .meta({ id: 'ExternalService' });
export type ExternalService = z.infer<typeof ExternalServiceSchema>;

export const ExternalServicePageSchema = pageOf(ExternalServiceSchema, 'ExternalServicePage');
export const ExternalServicePathSchema = z.object({
  projectId: ProjectIdSchema,
  externalServiceId: ExternalServiceIdSchema,
});
