import { AddonPathSchema } from '../../schemas/addon.ts';
import { UpgradeAcceptedSchema, UpgradeRequestSchema } from '../../schemas/upgrade.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/**
 * Engine version upgrades of an addon in place. Served by the backups function: the upgrade-addon
 * workflow takes a backup first (kept, pinned, as the way back), as the backup workflow does.
 */
export const upgradesRoutes = {
  upgradeAddon: defineRoute({
    operationId: 'upgradeAddon',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/upgrade',
    summary:
      "Upgrade the addon's engine to one of its `upgradeTargets`: a backup first (pinned, the way back; the operation's `backupId`), then the upgrade; on failure the addon stays on its old version, running",
    tags: ['addons'],
    fn: 'backups',
    auth: true,
    idempotent: true,
    params: AddonPathSchema,
    body: UpgradeRequestSchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: UpgradeAcceptedSchema },
      ...errors,
      409: problem('Another operation is in flight on this addon, or the addon is not running'),
      422: problem(
        "The version is not one of the addon's upgrade targets (a downgrade, a skipped major, the same version; the message lists the allowed ones), or the engine cannot be upgraded here (capability `upgrade`); `errors` names `body.version`",
      ),
    },
  }),
} as const;
