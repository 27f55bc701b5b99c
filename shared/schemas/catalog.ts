import * as z from 'zod';

export const EngineSchema = z.enum(['postgresql', 'mysql', 'redis', 'mongodb']);
export type Engine = z.infer<typeof EngineSchema>;

export const TargetSchema = z.enum(['aws', 'local']);
export type Target = z.infer<typeof TargetSchema>;

export const CapabilitiesSchema = z
  .object({
    provision: z.boolean().meta({ description: 'Addons of this engine can be created on this deployment' }),
    dumpBackup: z.boolean(),
    snapshotBackup: z.boolean(),
    pitr: z.boolean(),
    replicas: z.boolean(),
    tls: z.boolean(),
    publicAccess: z.boolean(),
    fork: z.boolean(),
    importDump: z.boolean(),
    importLive: z.boolean(),
  })
  .meta({ id: 'Capabilities' });
export type Capabilities = z.infer<typeof CapabilitiesSchema>;
export type Capability = keyof Capabilities;

export const PlanSchema = z
  .object({
    id: z.string(),
    vcpu: z.number(),
    memoryMiB: z.number().int(),
    instanceClass: z.string().meta({ description: 'The AWS instance or node class behind the plan' }),
  })
  .meta({ id: 'Plan' });
export type Plan = z.infer<typeof PlanSchema>;

export const EngineVersionSchema = z
  .object({
    version: z.string().meta({ description: 'Major version' }),
    upgradeTargets: z
      .array(z.string())
      .meta({ description: 'Versions this one can be upgraded to, in order' }),
  })
  .meta({ id: 'EngineVersion' });

export const AddonTypeSchema = z
  .object({
    engine: EngineSchema,
    displayName: z.string(),
    service: z.string().meta({ description: 'What runs the addon on this deployment' }),
    versions: z.array(EngineVersionSchema),
    defaultVersion: z.string(),
    plans: z.array(PlanSchema),
    defaultPlan: z.string(),
    defaultTls: z
      .boolean()
      .meta({ description: 'Whether an addon created without `tls` requires TLS on this deployment' }),
    storageGiB: z.object({ min: z.number().int(), max: z.number().int(), default: z.number().int() }),
    maxReplicas: z.number().int(),
    capabilities: CapabilitiesSchema,
    notes: z.array(z.string()).meta({ description: 'Why a capability is off, where it is' }),
  })
  .meta({ id: 'AddonType' });
export type AddonType = z.infer<typeof AddonTypeSchema>;

export const AddonTypeListSchema = z.object({ items: z.array(AddonTypeSchema), target: TargetSchema }).meta({
  id: 'AddonTypeList',
});
