import * as z from 'zod';
import { BackupHealthSchema } from './backup-health.ts';
import { IdTextSchema, int32, PortSchema, text } from './bounds.ts';
import { EngineSchema } from './catalog.ts';
import {
  AddonIdSchema,
  BackupIdSchema,
  NameSchema,
  ProjectIdSchema,
  pageOf,
  TimestampSchema,
} from './common.ts';
import { CreateImportRequestSchema, ImportUploadSchema, LiveImportCreatedSchema } from './import.ts';
import { CidrSchema, MAX_ALLOW_RULES, PublicEndpointSchema } from './networking.ts';
import { OperationSchema } from './operation.ts';
import { RestorableWindowSchema } from './pitr.ts';
import { ReplicaEndpointSchema } from './replicas.ts';
import { StorageUsageSchema } from './scaling.ts';

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

/**
 * Where a fork's data comes from: exactly one of `backupId`, `latest` or `pointInTime` (checked by
 * the service, which names the field it refuses), all of the same addon of this project.
 */
export const ForkSourceRequestSchema = z
  .strictObject({
    addonId: AddonIdSchema.meta({
      description:
        'The addon to fork: one of this project, running or deleted within its backup grace period',
    }),
    backupId: BackupIdSchema.optional().meta({
      description: 'A completed dump or snapshot backup of that addon',
    }),
    latest: z.literal(true).optional().meta({ description: "The addon's newest completed backup" }),
    pointInTime: TimestampSchema.optional().meta({
      description: "A time inside the addon's restorable window (engines whose capabilities include pitr)",
    }),
  })
  .meta({ id: 'ForkSourceRequest' });
export type ForkSourceRequest = z.infer<typeof ForkSourceRequestSchema>;

/**
 * A new addon filled by an import: `live` streams a running database into it as the last step of
 * its create operation (a failure deletes the new addon); `upload` creates the import with the
 * addon and answers its upload URL, to be started once the addon is running.
 */
export const ImportSourceRequestSchema = z
  .strictObject({
    import: CreateImportRequestSchema.meta({
      description:
        'As for `POST .../imports`: `{"kind":"live","connectionString":...}` or `{"kind":"upload","sizeBytes":...}`',
    }),
  })
  .meta({ id: 'ImportSourceRequest' });
export type ImportSourceRequest = z.infer<typeof ImportSourceRequestSchema>;

export const isImportSourceRequest = (
  source: ForkSourceRequest | ImportSourceRequest,
): source is ImportSourceRequest => 'import' in source;

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
    publicAccess: z.boolean().default(false).meta({
      description:
        'Only false at create: a public addon needs an allow list, so create it private and PATCH `networking` with `public` and `allow`',
    }),
    source: z.union([ForkSourceRequestSchema, ImportSourceRequestSchema]).optional().meta({
      description:
        "Where the new addon's data comes from. A fork (`addonId` with `backupId`, `latest` or `pointInTime`): the source's data at a backup or a point in time (version, plan and storage default to the source's). An import (`import`): a live database streamed in by the create operation, or a file uploaded after the create",
    }),
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

/** Where a fork's data came from, as the addon records it. */
export const AddonSourceSchema = z
  .object({
    addonId: IdTextSchema,
    addonName: text(63),
    backupId: IdTextSchema.nullable().meta({ description: 'The backup the data came from' }),
    backupType: z.enum(['dump', 'snapshot']).nullable(),
    pointInTime: TimestampSchema.nullable().meta({ description: 'The point in time the data came from' }),
    database: text(63).meta({
      description: "The database the fork's connection details name: the source's, which holds the data",
    }),
  })
  .meta({ id: 'AddonSource' });
export type AddonSource = z.infer<typeof AddonSourceSchema>;

/** Where an imported addon's data came from: the import created with it. */
export const AddonImportSourceSchema = z
  .object({
    importId: IdTextSchema.meta({
      description: 'The import created with the addon (`GET .../imports/{id}`)',
    }),
    kind: z.enum(['live', 'upload']),
    database: text(63).meta({ description: "The addon's database, which the import fills" }),
  })
  .meta({ id: 'AddonImportSource' });
export type AddonImportSource = z.infer<typeof AddonImportSourceSchema>;

/** The fork origin of an addon, if it is a fork (an imported addon has an import origin instead). */
export const forkOriginOf = (addon: {
  source?: AddonSource | AddonImportSource | null;
}): AddonSource | undefined => (addon.source && 'addonId' in addon.source ? addon.source : undefined);

/** The import an addon was created with, if any. */
export const importOriginOf = (addon: {
  source?: AddonSource | AddonImportSource | null;
}): AddonImportSource | undefined => (addon.source && 'importId' in addon.source ? addon.source : undefined);

/** An open credential rotation: which login is still let in besides the published one, and until when. */
export const CredentialRotationSchema = z
  .object({
    previousUsername: text(63).meta({
      description:
        'The user of the previous credentials (the same user as now when the engine keeps two passwords)',
    }),
    rotatedAt: TimestampSchema,
    deadline: TimestampSchema.meta({
      description: 'When the previous credentials are retired unless finished before',
    }),
  })
  .meta({ id: 'CredentialRotation' });
export type CredentialRotation = z.infer<typeof CredentialRotationSchema>;

/** Default and bounds of how long the previous credentials keep working after a rotation. */
export const ROTATION_DEADLINE_SECONDS = { default: 86_400, min: 1, max: 30 * 86_400 } as const;

export const RotateCredentialsRequestSchema = z
  .strictObject({
    retireAfterSeconds: int32(ROTATION_DEADLINE_SECONDS.min, ROTATION_DEADLINE_SECONDS.max)
      .default(ROTATION_DEADLINE_SECONDS.default)
      .meta({
        description:
          'How long the previous credentials keep working unless the rotation is finished before (default 24 h)',
      }),
  })
  .meta({ id: 'RotateCredentialsRequest' });

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
    allowedCidrs: z.array(CidrSchema).max(MAX_ALLOW_RULES).default([]).meta({
      description:
        'The source addresses a public addon accepts connections from (`PATCH` with `networking.allow`); kept, not enforced, while private',
    }),
    multiAz: z.boolean().default(false).meta({
      description: 'A standby in another Availability Zone (capability `multiAz`; `PATCH` with `multiAz`)',
    }),
    storage: StorageUsageSchema.nullable().optional().meta({
      description:
        'The allocated storage and the bytes the data takes. Only in the response of getting one addon: it is measured each time',
    }),
    status: AddonStatusSchema,
    currentOperationId: IdTextSchema.nullable().meta({
      description: 'The mutating operation in flight, if any',
    }),
    endpoint: EndpointSchema.nullable(),
    network: AddonNetworkSchema.nullable().default(null).meta({
      description: 'How workloads reach the addon; null on the local target and until it is available',
    }),
    upgradeAvailable: z.boolean().optional().meta({
      description:
        "Whether the addon's version can be upgraded here (`POST .../upgrade`): the catalog lists upgrade targets for it",
    }),
    upgradeTargets: z.array(text(16)).max(32).optional().meta({
      description:
        "The versions `POST .../upgrade` accepts for this addon, in order (the catalog's `upgradeTargets`)",
    }),
    restorableWindow: RestorableWindowSchema.nullable().optional().meta({
      description:
        'The span a point-in-time restore can land in; null when the engine has no point-in-time recovery on this deployment (capability `pitr`) or no window yet (a new addon). Only in the response of getting one addon: it is asked of the provider each time, so lists leave it out to stay fast',
    }),
    backupHealth: BackupHealthSchema.nullable().optional().meta({
      description:
        'The backups at a glance, for an addon with an enabled backup schedule (null without one). Only in the response of getting one addon',
    }),
    source: z.union([AddonSourceSchema, AddonImportSourceSchema]).nullable().default(null).meta({
      description:
        'Set on a fork (the addon, backup or point in time its data came from) and on an addon created from an import (the import)',
    }),
    credentialRotation: CredentialRotationSchema.nullable().optional().meta({
      description:
        'Set while a credential rotation is open: the previous credentials still work until it is finished (`POST .../credentials/rotate/finish`) or its deadline passes',
    }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  })
  .meta({ id: 'Addon' });
export type Addon = z.infer<typeof AddonSchema>;

export const AddonPageSchema = pageOf(AddonSchema, 'AddonPage');

export const AddonWithOperationSchema = z
  .object({
    addon: AddonSchema,
    operation: OperationSchema,
    import: z.union([ImportUploadSchema, LiveImportCreatedSchema]).optional().meta({
      description:
        'Only when the addon is created with `source.import`: the import (and, for an upload, where to PUT the file; start it once the addon is running)',
    }),
  })
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
    public: PublicEndpointSchema.optional().meta({
      description:
        'Only while the addon is public: where clients outside the private network connect (from the allowed addresses only), with TLS',
    }),
    replicas: z.array(ReplicaEndpointSchema).max(15).optional().meta({
      description:
        "Only while the addon has read replicas: each one's read-only endpoint and URI (same user and password; writes are refused there)",
    }),
    caCertificate: text(16384).optional().meta({
      description:
        "PEM of the CA that signs the addon's TLS certificate, where the platform runs its own CA (the local target): give it to clients to verify the server (`sslrootcert`, `ssl-ca`)",
    }),
  })
  .meta({ id: 'Credentials' });
export type Credentials = z.infer<typeof CredentialsSchema>;

export const CredentialRotationResponseSchema = z
  .object({ addon: AddonSchema, operation: OperationSchema, credentials: CredentialsSchema })
  .meta({ id: 'CredentialRotationResponse' });

export const CredentialRotationStartedSchema = z
  .object({ addon: AddonSchema, operation: OperationSchema })
  .meta({ id: 'CredentialRotationStarted' });

export const AddonPathSchema = z.object({ projectId: ProjectIdSchema, addonId: AddonIdSchema });
