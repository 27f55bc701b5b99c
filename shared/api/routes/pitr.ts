import { AddonPathSchema, AddonWithOperationSchema } from '../../schemas/addon.ts';
import { PointInTimeRestoreRequestSchema } from '../../schemas/pitr.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/**
 * Point-in-time recovery of an addon in place. The window it can land in is the addon's
 * `restorableWindow` (GET of one addon); a fork to a point in time is a create with `source`.
 * Served by the backups function: it starts the restore-addon workflow, as backup restores do.
 */
export const pitrRoutes = {
  restoreAddonToPointInTime: defineRoute({
    operationId: 'restoreAddonToPointInTime',
    method: 'post',
    path: '/v1/projects/{projectId}/addons/{addonId}/restore',
    summary:
      'Restore the addon in place to a second inside its restorable window (its data becomes what it was then); the operation records `pointInTime`',
    tags: ['backups'],
    fn: 'backups',
    auth: true,
    idempotent: true,
    params: AddonPathSchema,
    body: PointInTimeRestoreRequestSchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: AddonWithOperationSchema },
      ...errors,
      409: problem('Another operation is in flight on this addon, or the addon is not running'),
      422: problem(
        'The time is outside the restorable window (the message names it), the addon has no window yet, or the engine has no point-in-time recovery here (`pitr`); `errors` names `body.pointInTime`',
      ),
    },
  }),
} as const;
