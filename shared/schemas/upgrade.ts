import * as z from 'zod';
import { AddonSchema } from './addon.ts';
import { BackupSchema } from './backup.ts';
import { text } from './bounds.ts';
import { OperationSchema } from './operation.ts';

export const UpgradeRequestSchema = z
  .strictObject({
    version: text(16).meta({
      description:
        "The version to upgrade to: one of the addon's `upgradeTargets` (the catalog's; the next major only, never a downgrade)",
      example: '16',
    }),
  })
  .meta({ id: 'UpgradeRequest' });
export type UpgradeRequest = z.infer<typeof UpgradeRequestSchema>;

export const UpgradeAcceptedSchema = z
  .object({
    addon: AddonSchema,
    operation: OperationSchema,
    backup: BackupSchema.meta({
      description:
        'The backup the upgrade takes first (a snapshot where the engine has them, else a dump), pinned: the way back',
    }),
  })
  .meta({ id: 'UpgradeAccepted' });
