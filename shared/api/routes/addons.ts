import {
  AddonPageSchema,
  AddonPathSchema,
  AddonSchema,
  AddonWithOperationSchema,
  CreateAddonRequestSchema,
} from '../../schemas/addon.ts';
import { DeleteAddonQuerySchema } from '../../schemas/backup.ts';
import { PaginationQuerySchema, ProjectPathSchema } from '../../schemas/common.ts';
import { UpdateAddonRequestSchema } from '../../schemas/networking.ts';
import { defineRoute } from '../route.ts';
import { errors, problem } from './common.ts';

/** Addons: create, list, get, change, delete (the addons function). */
export const addonsRoutes = {
  createAddon: defineRoute({
    operationId: 'createAddon',
    method: 'post',
    path: '/v1/projects/{projectId}/addons',
    summary: 'Create an addon; returns the addon and its create operation',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    idempotent: true,
    params: ProjectPathSchema,
    body: CreateAddonRequestSchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: AddonWithOperationSchema },
      ...errors,
      409: problem('An addon with this name exists, or an idempotent request with this key is in flight'),
      422: problem(
        "The engine, version, plan or option is not available here, the fork or import source is refused (`source...`), or the project's addon quota is used up (`quota`, `limit`)",
      ),
    },
  }),
  listAddons: defineRoute({
    operationId: 'listAddons',
    method: 'get',
    path: '/v1/projects/{projectId}/addons',
    summary: 'List addons, oldest first',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: ProjectPathSchema,
    query: PaginationQuerySchema,
    responses: { 200: { description: 'A page of addons', schema: AddonPageSchema }, ...errors },
  }),
  getAddon: defineRoute({
    operationId: 'getAddon',
    method: 'get',
    path: '/v1/projects/{projectId}/addons/{addonId}',
    summary: 'Get an addon',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: AddonPathSchema,
    responses: { 200: { description: 'The addon', schema: AddonSchema }, ...errors },
  }),
  updateAddon: defineRoute({
    operationId: 'updateAddon',
    method: 'patch',
    path: '/v1/projects/{projectId}/addons/{addonId}',
    summary:
      'Change a running addon, one kind of change per request: `networking` (TLS on or off; public from allowed CIDRs, or private), answered with the operation completed where the engine applies it in seconds (local) or an `update-networking` operation to poll where it takes minutes (RDS on AWS); or `plan`, `storageGiB` (growth only) or `multiAz`, each a `scale` operation to poll while the addon keeps serving',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: AddonPathSchema,
    body: UpdateAddonRequestSchema,
    responses: {
      202: {
        description:
          'Applied (networking, local) or begun (networking on AWS, scaling): the addon and its operation',
        schema: AddonWithOperationSchema,
      },
      ...errors,
      409: problem('Another operation is in flight on this addon, or the addon is not running'),
      422: problem(
        'The engine cannot make this change on this deployment (capabilities `networkingUpdate`, `tls`, `publicAccess`, `scaling`, `multiAz`), public without TLS or without an allowed CIDR, an unknown plan, or less storage than allocated; `errors` names the field',
      ),
    },
  }),
  deleteAddon: defineRoute({
    operationId: 'deleteAddon',
    method: 'delete',
    path: '/v1/projects/{projectId}/addons/{addonId}',
    summary: 'Delete an addon, its instance, data, connection details and backup schedules',
    tags: ['addons'],
    fn: 'addons',
    auth: true,
    params: AddonPathSchema,
    query: DeleteAddonQuerySchema,
    responses: {
      202: { description: 'Accepted: poll the operation', schema: AddonWithOperationSchema },
      ...errors,
      409: problem(
        'Another operation is in flight on this addon, a final backup was asked of an addon that is not running, or the addon is linked into secret groups (named in the detail) and `unlinkGroups=true` was not asked',
      ),
      422: problem('This engine cannot take this kind of final backup here'),
    },
  }),
} as const;
