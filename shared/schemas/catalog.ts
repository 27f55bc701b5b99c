import * as z from 'zod';
import { int32, text } from './bounds.ts';

export const EngineSchema = z.enum(['postgresql', 'mysql', 'redis', 'mongodb']);
export type Engine = z.infer<typeof EngineSchema>;
/** Every engine, in catalog order. */
export const ENGINE_NAMES: readonly Engine[] = EngineSchema.options;

export const TargetSchema = z.enum(['aws', 'local']);
export type Target = z.infer<typeof TargetSchema>;

export const CapabilitiesSchema = z
  .object({
    provision: z.boolean().meta({ description: 'Addons of this engine can be created on this deployment' }),
    dumpBackup: z.boolean(),
    snapshotBackup: z.boolean(),
    snapshotDownload: z.boolean().meta({
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
    networkingUpdate: z.boolean().meta({
      description:
        'TLS and public exposure can be changed on a running addon (`PATCH .../addons/{addonId}` with `networking`), as far as `tls` and `publicAccess` allow',
    }),
    scaling: z.boolean().meta({
      description:
        'The plan can be changed and the storage grown on a running addon (`PATCH .../addons/{addonId}` with `plan` or `storageGiB`); each change is one operation, the addon keeps serving',
    }),
    multiAz: z.boolean().meta({
      description:
        'A standby in another Availability Zone can be turned on or off (`PATCH .../addons/{addonId}` with `multiAz`)',
    }),
    credentialRotation: z.boolean().meta({
      description:
        'The connection details can be rotated (`POST .../credentials/rotate`): new credentials work at once, the old ones until the rotation is finished',
    }),
    upgrade: z.boolean().meta({
      description:
        "The addon's engine version can be upgraded in place (`POST .../upgrade`) to one of its version's `upgradeTargets`, after a kept backup",
    }),
  })
  .meta({ id: 'Capabilities' });
export type Capabilities = z.infer<typeof CapabilitiesSchema>;
export type Capability = keyof Capabilities;

export const PlanSchema = z
  .object({
    id: text(32),
    vcpu: z.number().min(0).max(1024),
    memoryMiB: int32(0, 16 * 1024 * 1024),
    instanceClass: text(64).meta({ description: 'The AWS instance or node class behind the plan' }),
    pitrRetentionDays: int32(1, 35).optional().meta({
      description:
        "How many days back point-in-time recovery reaches on this plan, where the engine offers `pitr` (on AWS: the RDS automated backups' BackupRetentionPeriod)",
    }),
  })
  .meta({ id: 'Plan' });
export type Plan = z.infer<typeof PlanSchema>;

export const EngineVersionSchema = z
  .object({
    version: text(16).meta({ description: 'Major version' }),
    upgradeTargets: z.array(text(16)).max(32).meta({
      description:
        'Versions this one can be upgraded to, in order: the next major only (no skips, no downgrades); empty where the engine cannot be upgraded here (`capabilities.upgrade`)',
    }),
    deprecated: z
      .boolean()
      .meta({ description: 'New addons should not use this version; existing ones should upgrade' }),
    endOfLife: z.iso.date().max(10).optional().meta({
      description: 'Where known: the day support for this version ends (e.g. RDS end of standard support)',
    }),
  })
  .meta({ id: 'EngineVersion' });

export const AddonTypeSchema = z
  .object({
    engine: EngineSchema,
    displayName: text(64),
    service: text(256).meta({ description: 'What runs the addon on this deployment' }),
    versions: z.array(EngineVersionSchema).max(32),
    defaultVersion: text(16),
    plans: z.array(PlanSchema).max(64),
    defaultPlan: text(32),
    defaultTls: z
      .boolean()
      .meta({ description: 'Whether an addon created without `tls` requires TLS on this deployment' }),
    storageGiB: z.object({ min: int32(0, 65536), max: int32(0, 65536), default: int32(0, 65536) }),
    maxReplicas: int32(0, 15),
    capabilities: CapabilitiesSchema,
    notes: z.array(text(1024)).max(32).meta({ description: 'Why a capability is off, where it is' }),
  })
  .meta({ id: 'AddonType' });
export type AddonType = z.infer<typeof AddonTypeSchema>;

export const AddonTypeListSchema = z
  .object({ items: z.array(AddonTypeSchema).max(32), target: TargetSchema })
  .meta({
    id: 'AddonTypeList',
  });
