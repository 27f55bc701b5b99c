import * as z from 'zod/mini';
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
import { meta } from './meta.ts';
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
export const ForkSourceRequestSchema = meta(
  z.strictObject({
    addonId: meta(AddonIdSchema, {
      description:
        'The addon to fork: one of this project, running or deleted within its backup grace period',
    }),
    backupId: meta(z.optional(BackupIdSchema), {
      description: 'A completed dump or snapshot backup of that addon',
    }),
    latest: meta(z.optional(z.literal(true)), { description: "The addon's newest completed backup" }),
    pointInTime: meta(z.optional(TimestampSchema), {
      description: "A time inside the addon's restorable window (engines whose capabilities include pitr)",
    }),
  }),
  { id: 'ForkSourceRequest' },
);
export type ForkSourceRequest = z.infer<typeof ForkSourceRequestSchema>;

/**
 * A new addon filled by an import: `live` streams a running database into it as the last step of
 * its create operation (a failure deletes the new addon); `upload` creates the import with the
 * addon and answers its upload URL, to be started once the addon is running.
 */
export const ImportSourceRequestSchema = meta(
  z.strictObject({
    import: meta(CreateImportRequestSchema, {
      description:
        'As for `POST .../imports`: `{"kind":"live","connectionString":...}` or `{"kind":"upload","sizeBytes":...}`',
    }),
  }),
  { id: 'ImportSourceRequest' },
);
export type ImportSourceRequest = z.infer<typeof ImportSourceRequestSchema>;

export const isImportSourceRequest = (
  source: ForkSourceRequest | ImportSourceRequest,
): source is ImportSourceRequest => 'import' in source;

export const CreateAddonRequestSchema = meta(
  z.strictObject({
    name: meta(NameSchema, { description: 'Unique in the project; DNS-safe' }),
    description: z.optional(z.string().check(z.maxLength(500))),
    engine: EngineSchema,
    version: meta(z.optional(z.string().check(z.maxLength(16))), {
      description: 'Major version; the engine default when omitted',
    }),
    plan: meta(z.optional(z.string().check(z.maxLength(32))), {
      description: 'Plan id from /v1/addon-types; the default when omitted',
    }),
    storageGiB: z.optional(int32(1, 65536)),
    replicas: z._default(int32(0, 15), 0),
    tls: meta(z.optional(z.boolean()), {
      description:
        "Require TLS on every connection; when omitted, the addon type's defaultTls on this deployment (on wherever TLS is available)",
    }),
    publicAccess: meta(z._default(z.boolean(), false), {
      description:
        'Only false at create: a public addon needs an allow list, so create it private and PATCH `networking` with `public` and `allow`',
    }),
    source: meta(z.optional(z.union([ForkSourceRequestSchema, ImportSourceRequestSchema])), {
      description:
        "Where the new addon's data comes from. A fork (`addonId` with `backupId`, `latest` or `pointInTime`): the source's data at a backup or a point in time (version, plan and storage default to the source's). An import (`import`): a live database streamed in by the create operation, or a file uploaded after the create",
    }),
  }),
  { id: 'CreateAddonRequest' },
);
export type CreateAddonRequest = z.infer<typeof CreateAddonRequestSchema>;

/** A DNS name or an IP address. */
const HostSchema = text(253);

export const EndpointSchema = meta(z.object({ host: HostSchema, port: PortSchema }), { id: 'Endpoint' });

export const AddonNetworkSchema = meta(
  z.object({
    clientSecurityGroupId: meta(z.string().check(z.maxLength(64)), {
      description:
        "The project's client security group (AWS): attach it to a workload in the platform's VPC to let it reach every addon of this project, and only those",
    }),
  }),
  { id: 'AddonNetwork' },
);
export type AddonNetwork = z.infer<typeof AddonNetworkSchema>;

/** Where a fork's data came from, as the addon records it. */
export const AddonSourceSchema = meta(
  z.object({
    addonId: IdTextSchema,
    addonName: text(63),
    backupId: meta(z.nullable(IdTextSchema), { description: 'The backup the data came from' }),
    backupType: z.nullable(z.enum(['dump', 'snapshot'])),
    pointInTime: meta(z.nullable(TimestampSchema), { description: 'The point in time the data came from' }),
    database: meta(text(63), {
      description: "The database the fork's connection details name: the source's, which holds the data",
    }),
  }),
  { id: 'AddonSource' },
);
export type AddonSource = z.infer<typeof AddonSourceSchema>;

/** Where an imported addon's data came from: the import created with it. */
export const AddonImportSourceSchema = meta(
  z.object({
    importId: meta(IdTextSchema, {
      description: 'The import created with the addon (`GET .../imports/{id}`)',
    }),
    kind: z.enum(['live', 'upload']),
    database: meta(text(63), { description: "The addon's database, which the import fills" }),
  }),
  { id: 'AddonImportSource' },
);
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
export const CredentialRotationSchema = meta(
  z.object({
    previousUsername: meta(text(63), {
      description:
        'The user of the previous credentials (the same user as now when the engine keeps two passwords)',
    }),
    rotatedAt: TimestampSchema,
    deadline: meta(TimestampSchema, {
      description: 'When the previous credentials are retired unless finished before',
    }),
  }),
  { id: 'CredentialRotation' },
);
export type CredentialRotation = z.infer<typeof CredentialRotationSchema>;

/** Default and bounds of how long the previous credentials keep working after a rotation. */
export const ROTATION_DEADLINE_SECONDS = { default: 86_400, min: 1, max: 30 * 86_400 } as const;

export const RotateCredentialsRequestSchema = meta(
  z.strictObject({
    retireAfterSeconds: meta(
      z._default(
        int32(ROTATION_DEADLINE_SECONDS.min, ROTATION_DEADLINE_SECONDS.max),
        ROTATION_DEADLINE_SECONDS.default,
      ),
      {
        description:
          'How long the previous credentials keep working unless the rotation is finished before (default 24 h)',
      },
    ),
  }),
  { id: 'RotateCredentialsRequest' },
);

export const AddonSchema = meta(
  z.object({
    id: IdTextSchema,
    projectId: text(63),
    name: text(40),
    description: z.nullable(text(500)),
    engine: EngineSchema,
    version: text(16),
    plan: text(32),
    storageGiB: int32(1, 65536),
    replicas: int32(0, 15),
    tls: z.boolean(),
    publicAccess: z.boolean(),
    allowedCidrs: meta(z._default(z.array(CidrSchema).check(z.maxLength(MAX_ALLOW_RULES)), []), {
      description:
        'The source addresses a public addon accepts connections from (`PATCH` with `networking.allow`); kept, not enforced, while private',
    }),
    multiAz: meta(z._default(z.boolean(), false), {
      description: 'A standby in another Availability Zone (capability `multiAz`; `PATCH` with `multiAz`)',
    }),
    storage: meta(z.optional(z.nullable(StorageUsageSchema)), {
      description:
        'The allocated storage and the bytes the data takes. Only in the response of getting one addon: it is measured each time',
    }),
    status: AddonStatusSchema,
    currentOperationId: meta(z.nullable(IdTextSchema), {
      description: 'The mutating operation in flight, if any',
    }),
    endpoint: z.nullable(EndpointSchema),
    network: meta(z._default(z.nullable(AddonNetworkSchema), null), {
      description: 'How workloads reach the addon; null on the local target and until it is available',
    }),
    upgradeAvailable: meta(z.optional(z.boolean()), {
      description:
        "Whether the addon's version can be upgraded here (`POST .../upgrade`): the catalog lists upgrade targets for it",
    }),
    upgradeTargets: meta(z.optional(z.array(text(16)).check(z.maxLength(32))), {
      description:
        "The versions `POST .../upgrade` accepts for this addon, in order (the catalog's `upgradeTargets`)",
    }),
    restorableWindow: meta(z.optional(z.nullable(RestorableWindowSchema)), {
      description:
        'The span a point-in-time restore can land in; null when the engine has no point-in-time recovery on this deployment (capability `pitr`) or no window yet (a new addon). Only in the response of getting one addon: it is asked of the provider each time, so lists leave it out to stay fast',
    }),
    backupHealth: meta(z.optional(z.nullable(BackupHealthSchema)), {
      description:
        'The backups at a glance, for an addon with an enabled backup schedule (null without one). Only in the response of getting one addon',
    }),
    source: meta(z._default(z.nullable(z.union([AddonSourceSchema, AddonImportSourceSchema])), null), {
      description:
        'Set on a fork (the addon, backup or point in time its data came from) and on an addon created from an import (the import)',
    }),
    credentialRotation: meta(z.optional(z.nullable(CredentialRotationSchema)), {
      description:
        'Set while a credential rotation is open: the previous credentials still work until it is finished (`POST .../credentials/rotate/finish`) or its deadline passes',
    }),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  }),
  { id: 'Addon' },
);
export type Addon = z.infer<typeof AddonSchema>;

export const AddonPageSchema = pageOf(AddonSchema, 'AddonPage');

export const AddonWithOperationSchema = meta(
  z.object({
    addon: AddonSchema,
    operation: OperationSchema,
    import: meta(z.optional(z.union([ImportUploadSchema, LiveImportCreatedSchema])), {
      description:
        'Only when the addon is created with `source.import`: the import (and, for an upload, where to PUT the file; start it once the addon is running)',
    }),
  }),
  { id: 'AddonWithOperation' },
);

export const CredentialsSchema = meta(
  z.object({
    engine: EngineSchema,
    host: HostSchema,
    port: PortSchema,
    database: text(63),
    username: text(63),
    password: text(256),
    uri: text(2048),
    tls: z.boolean(),
    public: meta(z.optional(PublicEndpointSchema), {
      description:
        'Only while the addon is public: where clients outside the private network connect (from the allowed addresses only), with TLS',
    }),
    replicas: meta(z.optional(z.array(ReplicaEndpointSchema).check(z.maxLength(15))), {
      description:
        "Only while the addon has read replicas: each one's read-only endpoint and URI (same user and password; writes are refused there)",
    }),
    caCertificate: meta(z.optional(text(16384)), {
      description:
        "PEM of the CA that signs the addon's TLS certificate, where the platform runs its own CA (the local target): give it to clients to verify the server (`sslrootcert`, `ssl-ca`)",
    }),
  }),
  { id: 'Credentials' },
);
export type Credentials = z.infer<typeof CredentialsSchema>;

export const CredentialRotationResponseSchema = meta(
  z.object({ addon: AddonSchema, operation: OperationSchema, credentials: CredentialsSchema }),
  { id: 'CredentialRotationResponse' },
);

export const CredentialRotationStartedSchema = meta(
  z.object({ addon: AddonSchema, operation: OperationSchema }),
  { id: 'CredentialRotationStarted' },
);

export const AddonPathSchema = z.object({ projectId: ProjectIdSchema, addonId: AddonIdSchema });
