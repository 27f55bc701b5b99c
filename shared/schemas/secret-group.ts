import * as z from 'zod/mini';
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
import { meta } from './meta.ts';

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
export const ConnectionKeySchema = meta(z.enum(CONNECTION_KEYS), {
  description:
    "A field of the source's connection details: `uri` (the engine's connection URL), `host`, `port`, `database`, `username`, `password`, `tls` (`true`/`false`), `replicaUri` (the first read replica's URI, the primary's while there is none: e.g. DATABASE_REPLICA_URL)",
});
export type ConnectionKey = z.infer<typeof ConnectionKeySchema>;

/** Environment-variable names: what workloads turn a group's keys into. */
export const AliasSchema = meta(
  z
    .string()
    .check(
      z.minLength(1, 'must not be empty'),
      z.maxLength(128, 'must be at most 128 characters'),
      z.regex(
        /^[A-Za-z_][A-Za-z0-9_]*$/,
        'must be an environment-variable name: letters, digits and underscores, not starting with a digit',
      ),
    ),
  { description: 'The name the value is published under, e.g. DATABASE_URL' },
);

export const SecretGroupKeySchema = meta(z.strictObject({ key: ConnectionKeySchema, alias: AliasSchema }), {
  id: 'SecretGroupKey',
});

export const MAX_LINKS = 20;
export const MAX_KEYS_PER_LINK = 20;
export const MAX_VARIABLES = 100;

export const SecretGroupLinkSchema = meta(
  z
    .strictObject({
      addonId: meta(z.optional(AddonIdSchema), { description: 'An addon of the same project' }),
      externalServiceId: meta(z.optional(ExternalServiceIdSchema), {
        description: 'An external service registered in the same project',
      }),
      keys: z.array(SecretGroupKeySchema).check(z.minLength(1), z.maxLength(MAX_KEYS_PER_LINK)),
    })
    .check(
      z.superRefine((link, context) => {
        if ((link.addonId === undefined) === (link.externalServiceId === undefined)) {
          context.addIssue({
            code: 'custom',
            path: ['addonId'],
            message: 'a link names exactly one source: addonId or externalServiceId',
          });
        }
      }),
    ),
  { id: 'SecretGroupLink' },
);
export type SecretGroupLink = z.infer<typeof SecretGroupLinkSchema>;

const VariablesSchema = meta(
  z.record(AliasSchema, text(4096)).check(
    z.refine((variables) => Object.keys(variables).length <= MAX_VARIABLES, {
      message: `at most ${MAX_VARIABLES} variables`,
    }),
  ),
  { description: 'Plain variables published as they are, e.g. {"NODE_ENV": "production"}' },
);

export const CreateSecretGroupRequestSchema = meta(
  z.strictObject({
    name: NameSchema,
    description: z.optional(text(500)),
    links: z._default(z.array(SecretGroupLinkSchema).check(z.maxLength(MAX_LINKS)), []),
    variables: z._default(VariablesSchema, {}),
  }),
  { id: 'CreateSecretGroupRequest' },
);
export type CreateSecretGroupRequest = z.infer<typeof CreateSecretGroupRequestSchema>;

export const UpdateSecretGroupRequestSchema = meta(
  z.strictObject({
    name: z.optional(NameSchema),
    description: z.optional(z.nullable(text(500))),
    links: meta(z.optional(z.array(SecretGroupLinkSchema).check(z.maxLength(MAX_LINKS))), {
      description: 'Replaces every link of the group',
    }),
    variables: meta(z.optional(VariablesSchema), { description: 'Replaces every plain variable' }),
  }),
  { id: 'UpdateSecretGroupRequest' },
);
export type UpdateSecretGroupRequest = z.infer<typeof UpdateSecretGroupRequestSchema>;

export const SecretGroupSchema = meta(
  z.object({
    id: SecretGroupIdSchema,
    projectId: ProjectIdSchema,
    name: text(40),
    description: z.nullable(text(500)),
    links: z.array(SecretGroupLinkSchema).check(z.maxLength(MAX_LINKS)),
    variables: z.record(z.string().check(z.maxLength(128)), text(4096)),
    documentLocation: meta(text(1024), {
      description:
        'Where a workload reads the document: the Secrets Manager secret name on AWS, the file path locally',
    }),
    documentVersion: meta(int32(0, 2_147_483_647), {
      description: 'Counts the publications of the document; 0 until the first',
    }),
    publishedAt: z.nullable(TimestampSchema),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  }),
  { id: 'SecretGroup' },
);
export type SecretGroup = z.infer<typeof SecretGroupSchema>;

export const SecretGroupPageSchema = pageOf(SecretGroupSchema, 'SecretGroupPage');

export const SecretGroupDocumentSchema = meta(
  z.object({
    groupId: SecretGroupIdSchema,
    documentVersion: int32(0, 2_147_483_647),
    publishedAt: z.nullable(TimestampSchema),
    values: meta(z.record(z.string().check(z.maxLength(128)), text(4096)), {
      description: 'The published document: every alias and plain variable with its value',
    }),
  }),
  { id: 'SecretGroupDocument' },
);
export type SecretGroupDocument = z.infer<typeof SecretGroupDocumentSchema>;

export const SecretGroupPathSchema = z.object({ projectId: ProjectIdSchema, groupId: SecretGroupIdSchema });

export const CreateExternalServiceRequestSchema = meta(
  z.strictObject({
    name: NameSchema,
    description: z.optional(text(500)),
    connectionString: meta(z.string().check(z.minLength(1), z.maxLength(2048)), {
      description:
        'scheme://user:password@host:port/database (postgresql, mysql, redis, rediss, mongodb). Stored in the secret store only, never shown again',
    }),
  }),
  { id: 'CreateExternalServiceRequest' },
);
export type CreateExternalServiceRequest = z.infer<typeof CreateExternalServiceRequestSchema>;

export const ExternalServiceSchema = meta(
  z.object({
    id: ExternalServiceIdSchema,
    projectId: ProjectIdSchema,
    name: text(40),
    description: z.nullable(text(500)),
    engine: EngineSchema,
    host: text(253),
    port: int32(1, 65535),
    database: text(63),
    username: text(63),
    tls: z.boolean(),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  }),
  { id: 'ExternalService' },
);
export type ExternalService = z.infer<typeof ExternalServiceSchema>;

export const ExternalServicePageSchema = pageOf(ExternalServiceSchema, 'ExternalServicePage');
export const ExternalServicePathSchema = z.object({
  projectId: ProjectIdSchema,
  externalServiceId: ExternalServiceIdSchema,
});
