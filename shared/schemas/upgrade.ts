import * as z from 'zod/mini';
import { AddonSchema } from './addon.ts';
import { BackupSchema } from './backup.ts';
import { text } from './bounds.ts';
import { meta } from './meta.ts';
import { OperationSchema } from './operation.ts';

export const UpgradeRequestSchema = meta(
  z.strictObject({
    version: meta(text(16), {
      description:
        "The version to upgrade to: one of the addon's `upgradeTargets` (the catalog's; the next major only, never a downgrade)",
      example: '16',
    }),
  }),
  { id: 'UpgradeRequest' },
);
export type UpgradeRequest = z.infer<typeof UpgradeRequestSchema>;

export const UpgradeAcceptedSchema = meta(
  z.object({
    addon: AddonSchema,
    operation: OperationSchema,
    backup: meta(BackupSchema, {
      description:
        'The backup the upgrade takes first (a snapshot where the engine has them, else a dump), pinned: the way back',
    }),
  }),
  { id: 'UpgradeAccepted' },
);
