import * as z from 'zod/mini';
import { int32, text } from './bounds.ts';
import { meta } from './meta.ts';

export const EngineSchema = z.enum(['postgresql', 'mysql', 'redis', 'mongodb']);
export type Engine = z.infer<typeof EngineSchema>;
/** Every engine, in catalog order. */
export const ENGINE_NAMES: readonly Engine[] = EngineSchema.options;

export const TargetSchema = z.enum(['aws', 'local']);
export type Target = z.infer<typeof TargetSchema>;

export const CapabilitiesSchema = meta(
  z.object({
    provision: meta(z.boolean(), { description: 'Addons of this engine can be created on this deployment' }),
    dumpBackup: z.boolean(),
    snapshotBackup: z.boolean(),
    snapshotDownload: meta(z.boolean(), {
      description:
        'A completed snapshot backup can be downloaded (a file the engine loads elsewhere, e.g. a Redis RDB); otherwise snapshots are storage-level copies',
    }),
    pitr: z.boolean(),
    replicas: z.boolean(),
    tls: z.boolean(),
    publicAccess: z.boolean(),
    fork: z.boolean(),
    importDump: z.boolean(),
    importLive: z.boolean(),
    networkingUpdate: meta(z.boolean(), {
      description:
        'TLS and public exposure can be changed on a running addon (`PATCH .../addons/{addonId}` with `networking`), as far as `tls` and `publicAccess` allow',
    }),
    scaling: meta(z.boolean(), {
      description:
        'The plan can be changed and the storage grown on a running addon (`PATCH .../addons/{addonId}` with `plan` or `storageGiB`); each change is one operation, the addon keeps serving',
    }),
    multiAz: meta(z.boolean(), {
      description:
        'A standby in another Availability Zone can be turned on or off (`PATCH .../addons/{addonId}` with `multiAz`)',
    }),
    credentialRotation: meta(z.boolean(), {
      description:
        'The connection details can be rotated (`POST .../credentials/rotate`): new credentials work at once, the old ones until the rotation is finished',
    }),
    upgrade: meta(z.boolean(), {
      description:
        "The addon's engine version can be upgraded in place (`POST .../upgrade`) to one of its version's `upgradeTargets`, after a kept backup",
    }),
  }),
  { id: 'Capabilities' },
);
export type Capabilities = z.infer<typeof CapabilitiesSchema>;
export type Capability = keyof Capabilities;

export const PlanSchema = meta(
  z.object({
    id: text(32),
    vcpu: z.number().check(z.minimum(0), z.maximum(1024)),
    memoryMiB: int32(0, 16 * 1024 * 1024),
    instanceClass: meta(text(64), { description: 'The AWS instance or node class behind the plan' }),
    pitrRetentionDays: meta(z.optional(int32(1, 35)), {
      description:
        "How many days back point-in-time recovery reaches on this plan, where the engine offers `pitr` (on AWS: the RDS automated backups' BackupRetentionPeriod)",
    }),
  }),
  { id: 'Plan' },
);
export type Plan = z.infer<typeof PlanSchema>;

export const EngineVersionSchema = meta(
  z.object({
    version: meta(text(16), { description: 'Major version' }),
    upgradeTargets: meta(z.array(text(16)).check(z.maxLength(32)), {
      description:
        'Versions this one can be upgraded to, in order: the next major only (no skips, no downgrades); empty where the engine cannot be upgraded here (`capabilities.upgrade`)',
    }),
    deprecated: meta(z.boolean(), {
      description: 'New addons should not use this version; existing ones should upgrade',
    }),
    endOfLife: meta(z.optional(z.iso.date().check(z.maxLength(10))), {
      description: 'Where known: the day support for this version ends (e.g. RDS end of standard support)',
    }),
  }),
  { id: 'EngineVersion' },
);

export const AddonTypeSchema = meta(
  z.object({
    engine: EngineSchema,
    displayName: text(64),
    service: meta(text(256), { description: 'What runs the addon on this deployment' }),
    versions: z.array(EngineVersionSchema).check(z.maxLength(32)),
    defaultVersion: text(16),
    plans: z.array(PlanSchema).check(z.maxLength(64)),
    defaultPlan: text(32),
    defaultTls: meta(z.boolean(), {
      description: 'Whether an addon created without `tls` requires TLS on this deployment',
    }),
    storageGiB: z.object({ min: int32(0, 65536), max: int32(0, 65536), default: int32(0, 65536) }),
    maxReplicas: int32(0, 15),
    capabilities: CapabilitiesSchema,
    notes: meta(z.array(text(1024)).check(z.maxLength(32)), {
      description: 'Why a capability is off, where it is',
    }),
  }),
  { id: 'AddonType' },
);
export type AddonType = z.infer<typeof AddonTypeSchema>;

export const AddonTypeListSchema = meta(
  z.object({ items: z.array(AddonTypeSchema).check(z.maxLength(32)), target: TargetSchema }),
  {
    id: 'AddonTypeList',
  },
);
